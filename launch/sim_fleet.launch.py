"""Simulated fleet: the PyBullet ``sim`` node and, for every robot of the scenario, its
``cbf_safety`` and ``goal_follower`` nodes in the namespace ``/robot_<i>``.

    ros2 launch fleetpilot sim_fleet.launch.py scenario:=circle_swap_8 num_agents:=6
    ros2 launch fleetpilot sim_fleet.launch.py hosted:=true   # per-robot nodes in one process

Parameters come from ``config/sim_fleet.yaml`` (a block per node; ``/**/`` blocks apply to
every robot). Nodes configure and activate themselves (``autostart``); robot goals come from
the sim (``/robot_<i>/goal_pose``). With ``hosted:=true`` one ``fleet_host`` process runs every
robot's nodes (same names and topics), which suits small machines and large fleets.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "fleetpilot"
PARAMS_FILE = "sim_fleet.yaml"


def _fleet(context):
    from fleetpilot.ros.sim_node import load_instance
    from fleetpilot.sim.scenario_world import robot_names

    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params = argument("params_file")
    scenario, num_agents, seed = argument("scenario"), int(argument("num_agents")), -1
    robots = list(robot_names(load_instance(scenario, num_agents, seed).num_agents))
    use_sim_time = argument("use_sim_time").lower() == "true"
    actions = [
        Node(
            package=PACKAGE,
            executable="sim",
            name="sim",
            output="screen",
            parameters=[
                params,
                {"scenario": scenario, "num_agents": num_agents, "autostart": True},
            ],
        )
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
                    {"robots": robots, "autostart": True, "use_sim_time": use_sim_time},
                ],
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
                    {"robot_id": robot, "autostart": True, "use_sim_time": use_sim_time},
                ],
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
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    config = Path(get_package_share_directory(PACKAGE)) / "config"
    return LaunchDescription(
        [
            DeclareLaunchArgument("scenario", default_value="circle_swap_8"),
            DeclareLaunchArgument("num_agents", default_value="6"),
            DeclareLaunchArgument("params_file", default_value=str(config / PARAMS_FILE)),
            DeclareLaunchArgument("hosted", default_value="false"),
            # Safety watchdogs use the steady clock either way; this moves timers and stamps.
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            OpaqueFunction(function=_fleet),
        ]
    )
