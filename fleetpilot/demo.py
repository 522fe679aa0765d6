"""Run the main demo: check the installation, then show each part of the stack that exists.

Today: ``doctor``, then real ROS 2 traffic — the ``fleet_state`` lifecycle node merges two
simulated robots' odometry into ``/fleet/robot_states`` over Fast DDS.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0, help="ROS demo duration [s]")


def ros_fleet_state_demo(seconds: float) -> int:
    """Two odometry publishers -> fleet_state (lifecycle) -> /fleet/robot_states subscriber."""
    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data

    from fleetpilot.msg import AgentStateArray
    from fleetpilot.ros.convert import arrays_to_odometry
    from fleetpilot.ros.fleet_state_node import FleetStateNode
    from fleetpilot.ros.lifecycle import autostart

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    robots = ["robot_0", "robot_1"]
    node = FleetStateNode(context=context, parameter_overrides=[Parameter("robots", value=robots)])
    demo = rclpy.create_node("fleetpilot_demo", context=context)
    latest: list[AgentStateArray] = []
    demo.create_subscription(AgentStateArray, "/fleet/robot_states", latest.append, 10)
    publishers = [
        demo.create_publisher(Odometry, f"/{robot}/odom", qos_profile_sensor_data)
        for robot in robots
    ]
    executor.add_node(node)
    executor.add_node(demo)
    try:
        if not autostart(node):
            return 1
        start = time.monotonic()
        while time.monotonic() - start < seconds or not latest or len(latest[-1].agents) < 2:
            t = time.monotonic() - start
            if t > seconds + 10.0:
                print("  no complete fleet state arrived: is DDS discovery blocked?")
                return 1
            for index, publisher in enumerate(publishers):
                angle = 0.5 * t + math.pi * index  # two robots on a circle of radius 2 m
                pose = np.array([2 * math.cos(angle), 2 * math.sin(angle), angle + math.pi / 2])
                velocity = np.array([-math.sin(angle), math.cos(angle)])
                publisher.publish(
                    arrays_to_odometry(pose, velocity, 0.5, "map", f"{robots[index]}/base", t)
                )
            executor.spin_once(timeout_sec=0.02)
        message = latest[-1]
        print(f"  received {len(latest)} AgentStateArray messages on /fleet/robot_states")
        for agent in message.agents:
            print(
                f"    {agent.id}: x={agent.x:+.2f} m y={agent.y:+.2f} m "
                f"heading={agent.heading:+.2f} rad v=({agent.vx:+.2f}, {agent.vy:+.2f}) m/s"
            )
        return 0
    finally:
        node.destroy_node()
        demo.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)


def main(args: argparse.Namespace) -> int:
    from fleetpilot import doctor

    print("[1/2] fleetpilot doctor: checking every installed part")
    if doctor.main(argparse.Namespace(json=False)) != 0:
        print("demo stopped: fix the parts reported above (bash scripts/install.sh)")
        return 1
    print("\n[2/2] ROS 2: fleet_state lifecycle node merging two robots' odometry (Fast DDS)")
    status = ros_fleet_state_demo(args.seconds)
    print("\ndemo finished" if status == 0 else "\ndemo failed")
    return status
