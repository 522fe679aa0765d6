"""End to end over real rclpy and Fast DDS: the PyBullet ``sim`` node and, per robot, one
``cbf_safety`` and one ``goal_follower`` node, started the way the launch files start them
(``--ros-args --params-file config/sim_fleet.yaml``); robots not run as separate processes
share one ``fleet_host`` process (same nodes, same namespaces). Every robot reaches its goal
without a contact; killing and restarting one robot's safety node leaves every robot safe."""

import os
import time

import numpy as np
import pytest

from fleetpilot.ros.sim_node import load_instance
from fleetpilot.safety import SafetyMode
from tests.ros.conftest import spin_until
from tests.ros.fleet_watch import FleetWatch, node_arguments

pytestmark = pytest.mark.ros

BODY_DIAMETER = 0.4  # two body radii of 0.2 m: closer than this is a contact
# FLEETPILOT_SEPARATE_PROCESSES=1 runs every robot's nodes as their own processes (13 for six
# robots); startup then takes minutes on 2 cores, so CI hosts them in one fleet_host.
SEPARATE_PROCESSES = os.environ.get("FLEETPILOT_SEPARATE_PROCESSES") == "1"
STARTUP_TIMEOUT = 180.0 if SEPARATE_PROCESSES else 90.0  # torch imports are slow on 2 cores


def start_fleet(python_process, scenario: str, num_agents: int, standalone=()):
    """The sim, the robots in ``standalone`` as separate cbf_safety and goal_follower
    processes, and every other robot's two nodes hosted in one ``fleet_host`` process (13
    Python processes importing torch are too heavy for a 2-core CI machine)."""
    instance = load_instance(scenario, num_agents, -1)
    robots = [f"robot_{i}" for i in range(instance.num_agents)]
    overrides = (f"scenario:={scenario}", f"num_agents:={num_agents}")
    processes = {"sim": python_process(*node_arguments("sim", None, *overrides))}
    hosted = [robot for robot in robots if robot not in standalone]
    if hosted:
        names = ", ".join(f'"{robot}"' for robot in hosted)
        processes["fleet_host"] = python_process(
            *node_arguments("fleet_host", None, f"robots:=[{names}]")
        )
    for robot in standalone:
        for executable in ("cbf_safety", "goal_follower"):
            processes[f"{robot}/{executable}"] = python_process(*node_arguments(executable, robot))
    return instance, robots, processes


def describe(watch: FleetWatch, processes) -> str:
    dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
    modes = {r: (s[1].mode, s[1].reason) for r, s in watch.last_status.items()}
    return f"diagnostics {watch.diagnostics}; statuses {modes}; exited {dead}"


@pytest.fixture
def watch_node(ros_context, executor):
    import rclpy

    node = rclpy.create_node("fleet_watch", context=ros_context)
    executor.add_node(node)
    yield node
    node.destroy_node()


def test_six_robot_circle_swap_reaches_every_goal_without_contact(
    watch_node, executor, python_process
):
    standalone = tuple(f"robot_{i}" for i in range(6)) if SEPARATE_PROCESSES else ()
    instance, robots, processes = start_fleet(python_process, "circle_swap_8", 6, standalone)
    watch = FleetWatch(watch_node, robots)
    assert spin_until(executor, watch.all_reporting, STARTUP_TIMEOUT), describe(watch, processes)
    started, clock_at_start = time.monotonic(), watch.clock

    def everyone_arrived() -> bool:
        return all(watch.arrived(instance.goals, instance.goal_tolerance))

    assert spin_until(executor, everyone_arrived, timeout=60.0), describe(watch, processes)
    elapsed = time.monotonic() - started
    spin_until(executor, lambda: False, timeout=1.2)  # one more diagnostics message
    print(
        f"{len(processes)} processes; 6 robots arrived {elapsed:.1f} s after start; "
        f"min distance {watch.min_distance:.3f} m; safety ticks by mode {watch.mode_counts}"
    )
    assert watch.min_distance > BODY_DIAMETER, watch.min_distance
    assert watch.contacts() == 0, watch.diagnostics
    assert int(watch.diagnostics["arrived"]) == len(robots)
    assert watch.clock - clock_at_start > 0.5 * elapsed, "/clock did not follow the sim"


def test_killing_and_restarting_one_safety_node_keeps_the_fleet_safe(
    watch_node, executor, python_process
):
    instance, robots, processes = start_fleet(
        python_process, "circle_swap_8", 4, standalone=("robot_0",)
    )
    watch = FleetWatch(watch_node, robots)
    assert spin_until(executor, watch.all_reporting, STARTUP_TIMEOUT), describe(watch, processes)
    spin_until(executor, lambda: False, timeout=2.0)  # robots under way

    victim = processes["robot_0/cbf_safety"]
    victim.kill()
    victim.wait(timeout=5)
    frozen_at = dict(watch.latest_positions)
    spin_until(executor, lambda: False, timeout=3.0)
    # Without its safety node the robot gets no commands: the sim stops it (command timeout),
    # while the others keep going around it.
    drift = np.linalg.norm(watch.latest_positions["robot_0"] - frozen_at["robot_0"])
    assert drift < 0.5, f"robot_0 kept driving {drift:.2f} m without its safety node"
    others_moved = [
        np.linalg.norm(watch.latest_positions[r] - frozen_at[r]) > 0.05 for r in robots[1:]
    ]
    assert any(others_moved), describe(watch, processes)

    processes["robot_0/cbf_safety"] = python_process(*node_arguments("cbf_safety", "robot_0"))

    def restarted_and_moving() -> bool:
        status = watch.last_status.get("robot_0")
        return status is not None and status[1].mode != SafetyMode.STOPPED

    assert spin_until(executor, restarted_and_moving, STARTUP_TIMEOUT), describe(watch, processes)
    assert spin_until(
        executor, lambda: all(watch.arrived(instance.goals, instance.goal_tolerance)), 60.0
    ), describe(watch, processes)
    spin_until(executor, lambda: False, timeout=1.2)
    print(f"min distance {watch.min_distance:.3f} m; safety ticks by mode {watch.mode_counts}")
    assert watch.min_distance > BODY_DIAMETER, watch.min_distance
    assert watch.contacts() == 0, watch.diagnostics
