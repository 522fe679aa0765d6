"""Run the main demo: check the installation, then show each part of the stack that exists.

Today: ``doctor``, then real ROS 2 traffic — the ``fleet_state`` lifecycle node merges two
simulated robots' odometry into ``/fleet/robot_states`` over Fast DDS — then 16 robots swap
places across a circle in the PyBullet world with the tuned CBF filter in every robot's loop,
then 16 robots work a warehouse with every shipped learned component (task allocator ->
Follower MAPF -> go-to-goal -> GNN-tuned CBF -> wheels); both runs are recorded (animation,
plots, ROS 2 bag, metrics) under ``runs/demo/``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
SIM_SCENARIO = REPOSITORY / "sim" / "scenarios" / "circle_swap_16.yaml"
WAREHOUSE_SCENARIO = REPOSITORY / "sim" / "scenarios" / "warehouse_16.yaml"
FALLBACK_TUNER = "fixed:alpha=2,gain=1,tangential=0.5"
"""Fixed parameters that clear the symmetric circle swap in PyBullet (the sideways bias breaks
the symmetry that deadlocks a plain go-to-goal); used when no learned tuner is shipped."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0, help="ROS demo duration [s]")
    parser.add_argument(
        "--record-root",
        type=Path,
        default=Path("runs") / "demo",
        help="folder under which the simulated run's recording is written",
    )
    parser.add_argument("--skip-sim", action="store_true", help="skip the PyBullet runs")
    parser.add_argument(
        "--warehouse-pipeline",
        default="learned",
        help="stack of the warehouse run: learned, classical, or a pipeline YAML file",
    )
    parser.add_argument(
        "--sim-tuner",
        default="auto",
        help="tuner of the PyBullet run: auto (a shipped learned tuner, else "
        f"{FALLBACK_TUNER}), or any spec `fleetpilot sim --tuner` takes",
    )


def best_tuner() -> str:
    """A shipped learned tuner (``policies/*/tuner.yaml``) that loads, else the fixed one."""
    from fleetpilot.envs.tuners import TUNER_MANIFEST, make_tuner

    for manifest in sorted((REPOSITORY / "policies").glob(f"*/{TUNER_MANIFEST}")):
        try:
            make_tuner(str(manifest.parent))
        except (ValueError, OSError, ImportError, RuntimeError) as error:
            print(f"  learned tuner {manifest.parent} did not load ({error}); skipping it")
            continue
        return os.path.relpath(manifest.parent)  # as a user would type it
    return FALLBACK_TUNER


def pybullet_demo(record_root: Path, tuner: str = "auto") -> int:
    """Runs the 16-robot circle swap headless in PyBullet and records it; prints where."""
    import torch

    from fleetpilot.sim import run

    tuner = best_tuner() if tuner == "auto" else tuner
    out = record_root / f"{SIM_SCENARIO.stem}_{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"  scenario {SIM_SCENARIO.name}, tuner {tuner}, recording to {out}")
    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    args = parser.parse_args([str(SIM_SCENARIO), "--tuner", tuner, "--record", str(out)])
    torch.set_num_threads(1)  # one fleet's tensors are tiny; threads only add overhead
    try:
        summary = run.run_scenario(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"  error: {error}")
        return 1
    makespan = summary["makespan"]
    print(
        f"  success {summary['success_rate']:.0%}, collisions {summary['collisions']}, "
        f"makespan {'-' if makespan is None else f'{makespan:.1f} s'}, "
        f"min distance {summary['min_distance']:.2f} m, "
        f"{summary['real_time_factor']:.1f}x real time"
    )
    print(f"  recording in {out}/:")
    for name, path in summary["recording"].items():
        print(f"    {name:<18} {path}")
    return 0


def warehouse_demo(record_root: Path, pipeline: str = "learned") -> int:
    """Runs the 16-robot warehouse headless with the given stack and records it."""
    import torch

    from fleetpilot.sim import run

    out = record_root / f"{WAREHOUSE_SCENARIO.stem}_{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"  scenario {WAREHOUSE_SCENARIO.name}, pipeline {pipeline}, recording to {out}")
    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    args = parser.parse_args(
        [str(WAREHOUSE_SCENARIO), "--pipeline", pipeline, "--record", str(out)]
    )
    torch.set_num_threads(1)
    try:
        summary = run.run_scenario(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"  error: {error}")
        return 1
    stack = summary["pipeline"]
    (episode,) = summary["episodes"]
    print(
        f"  stack: {stack['allocator']} -> {stack['planner']} -> {stack['controller']} -> "
        f"{stack['tuner']} -> unicycle CBF"
    )
    print(
        f"  {episode['tasks_delivered']} of {episode['tasks_released']} tasks delivered in "
        f"{episode['simulated_time']:.0f} s ({episode['deliveries_per_hour']:.0f} per hour), "
        f"value {episode['value_earned']:.1f}, collisions {episode['collisions']}, "
        f"deadlocked at the end {episode['deadlocked_at_end']}, "
        f"{episode['real_time_factor']:.1f}x real time"
    )
    print(f"  recording in {out}/:")
    for name, path in summary["recording"].items():
        print(f"    {name:<18} {path}")
    return 0


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

    print("[1/4] fleetpilot doctor: checking every installed part")
    if doctor.main(argparse.Namespace(json=False)) != 0:
        print("demo stopped: fix the parts reported above (bash scripts/install.sh)")
        return 1
    print("\n[2/4] ROS 2: fleet_state lifecycle node merging two robots' odometry (Fast DDS)")
    status = ros_fleet_state_demo(args.seconds)
    if status == 0 and not args.skip_sim:
        print("\n[3/4] PyBullet: 16 robots swap across a circle, CBF filter in every loop")
        status = pybullet_demo(args.record_root, args.sim_tuner)
    if status == 0 and not args.skip_sim:
        print("\n[4/4] PyBullet warehouse: allocation -> MAPF -> controller -> tuned CBF")
        status = warehouse_demo(args.record_root, args.warehouse_pipeline)
    if status == 0 and not args.skip_sim:
        print("\nopen the animations in a browser; play the bags with `ros2 bag play` or Foxglove")
    print("\ndemo finished" if status == 0 else "\ndemo failed")
    return status
