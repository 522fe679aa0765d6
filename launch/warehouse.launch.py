"""Simulated warehouse: the PyBullet ``sim`` of a warehouse scenario, ``warehouse_tasks`` (its
task stream, legs and deliveries), ``task_allocator``, ``mapf_planner`` and, for every robot,
``cbf_safety`` and ``goal_follower`` in the namespace ``/robot_<i>``.

    ros2 launch fleetpilot warehouse.launch.py scenario:=warehouse_16 num_robots:=6
    ros2 launch fleetpilot warehouse.launch.py hosted:=true   # per-robot nodes in one process

Parameters come from ``config/warehouse.yaml``; this file sets what must agree between nodes
(the scenario file, seed and fleet size of ``sim`` and ``warehouse_tasks``, the planner's map)
and writes the scenario's shelves and walls into a parameter file of ``cbf_safety``
``obstacles`` and ``arena`` (:mod:`fleetpilot.ros.warehouse_obstacles`). Topics:

* ``warehouse_tasks`` publishes the open tasks on ``/fleet/tasks`` and the idle robots on
  ``/fleet/idle_robot_states``: the allocator's robot states are remapped there, so it only
  ever gives open tasks to idle robots; ``warehouse_tasks`` commits its ``/fleet/assignments``;
* the planner's tasks and assignments are remapped to ``/fleet/legs`` and
  ``/fleet/leg_assignments`` (each robot's station, or home when idle);
* each robot's ``goal_pose`` is remapped to ``goal``, the planner's waypoint, which its
  ``goal_follower`` drives to and its ``cbf_safety`` makes safe (the sim's ``goal_pose`` is
  the navigation scenarios' and goes unused here).
"""

import tempfile
from pathlib import Path

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "fleetpilot"
PARAMS_FILE = "warehouse.yaml"
ROBOT_REMAPS = [("goal_pose", "goal")]


def _obstacles_file(layout) -> str:
    """A parameter file giving every robot's cbf_safety the shelves and the walls."""
    from fleetpilot.ros.warehouse_obstacles import safety_parameters

    blocks = {"/**/cbf_safety": {"ros__parameters": safety_parameters(layout)}}
    with tempfile.NamedTemporaryFile(
        "w", prefix="warehouse_obstacles_", suffix=".yml", delete=False
    ) as file:
        yaml.safe_dump(blocks, file)
    return file.name


def _warehouse(context):
    from fleetpilot.ros.sim_node import resolve_scenario
    from fleetpilot.sim.scenario_world import robot_names
    from fleetpilot.warehouse.scenario import load_warehouse

    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params = argument("params_file")
    scenario = str(resolve_scenario(argument("scenario")))
    num_robots, seed = int(argument("num_robots")), int(argument("seed"))
    warehouse = load_warehouse(scenario)
    instance = warehouse.sample(
        seed=None if seed < 0 else seed, num_robots=None if num_robots == 0 else num_robots
    )
    robots = list(robot_names(instance.num_robots))
    obstacles = _obstacles_file(warehouse.layout)
    use_sim_time = argument("use_sim_time").lower() == "true"
    actions = [
        Node(
            package=PACKAGE,
            executable="sim",
            name="sim",
            output="screen",
            parameters=[
                params,
                {"scenario": scenario, "num_agents": num_robots, "seed": seed, "autostart": True},
            ],
        ),
        Node(
            package=PACKAGE,
            executable="warehouse_tasks",
            name="warehouse_tasks",
            output="screen",
            parameters=[
                params,
                {"scenario": scenario, "num_robots": num_robots, "seed": seed, "autostart": True},
            ],
        ),
        Node(
            package=PACKAGE,
            executable="task_allocator",
            name="task_allocator",
            output="screen",
            parameters=[params, {"autostart": True}],
            remappings=[("/fleet/robot_states", "/fleet/idle_robot_states")],
        ),
        Node(
            package=PACKAGE,
            executable="mapf_planner",
            name="mapf_planner",
            output="screen",
            parameters=[params, {"map_file": scenario, "autostart": True}],
            remappings=[
                ("/fleet/tasks", "/fleet/legs"),
                ("/fleet/assignments", "/fleet/leg_assignments"),
            ],
        ),
    ]
    if argument("hosted").lower() == "true":
        actions.append(
            Node(
                package=PACKAGE,
                executable="fleet_host",
                name="fleet_host",
                output="screen",
                parameters=[
                    params,
                    obstacles,
                    {"robots": robots, "autostart": True, "use_sim_time": use_sim_time},
                ],
                remappings=ROBOT_REMAPS,
            )
        )
        return actions
    for robot in robots:
        actions.append(
            Node(
                package=PACKAGE,
                executable="cbf_safety",
                name="cbf_safety",
                namespace=robot,
                output="screen",
                parameters=[
                    params,
                    obstacles,
                    {"robot_id": robot, "autostart": True, "use_sim_time": use_sim_time},
                ],
                remappings=ROBOT_REMAPS,
            )
        )
        actions.append(
            Node(
                package=PACKAGE,
                executable="goal_follower",
                name="goal_follower",
                namespace=robot,
                output="screen",
                parameters=[params, {"autostart": True, "use_sim_time": use_sim_time}],
                remappings=ROBOT_REMAPS,
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    config = Path(get_package_share_directory(PACKAGE)) / "config"
    return LaunchDescription(
        [
            DeclareLaunchArgument("scenario", default_value="warehouse_16"),
            DeclareLaunchArgument("num_robots", default_value="0"),  # 0: the scenario's
            DeclareLaunchArgument("seed", default_value="-1"),  # -1: the scenario's
            DeclareLaunchArgument("params_file", default_value=str(config / PARAMS_FILE)),
            DeclareLaunchArgument("hosted", default_value="false"),
            # Safety watchdogs use the steady clock either way; this moves timers and stamps of
            # the per-robot nodes (the allocator and planner always run on simulated time).
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            OpaqueFunction(function=_warehouse),
        ]
    )
