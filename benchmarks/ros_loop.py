"""End-to-end latency and achieved rate of the cbf_safety loop over real rclpy and Fast DDS.

A driver process publishes, for every robot, odometry at ``--rate`` Hz, the nominal command at
half that rate and the neighbour list (robots on a grid 0.8 m apart, so the filter has
neighbours to handle) at a fifth of it. This process hosts one ``cbf_safety`` node per robot in
one executor (as ``fleet_host`` does) and measures, inside the nodes:

* latency: steady-clock time from an odometry message's receipt to the ``cmd_vel`` publish it
  led to (``trigger: odometry`` ticks on each odometry message; ``trigger: timer`` ticks at
  ``--rate`` and its latency includes waiting for the next tick);
* achieved control rate: ``cmd_vel`` publishes per robot per second.

Target: 50 Hz per robot with 8 robots and p99 latency < 10 ms. Each setting runs with the
executor the executables ship with (``auto``: the EventsExecutor where rclpy has it, see
:mod:`fleetpilot.ros.executors`) and with the plain SingleThreadedExecutor as the same-run
baseline; the second table gives their ratios::

    python benchmarks/ros_loop.py                      # 1, 8, 32 robots, odometry trigger
    python benchmarks/ros_loop.py --robots 8 --trigger timer --seconds 5

Writes ``ros_loop.json`` and ``ros_loop.md`` into ``--out`` (default ``out/bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRID_SPACING = 0.8  # [m]; with a 2 m sensing radius each robot has up to 12 neighbours
WARMUP = 3.0  # [s] of traffic before measuring (discovery, first ticks)


def grid_positions(count: int) -> np.ndarray:
    side = int(np.ceil(np.sqrt(count)))
    return np.array(
        [[GRID_SPACING * (i % side), GRID_SPACING * (i // side)] for i in range(count)]
    )


def run_driver(count: int, rate: float) -> None:
    """The driver process: publishes every robot's inputs until terminated."""
    import rclpy
    from fleetpilot.msg import AgentStateArray
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.executors import ExternalShutdownException

    from fleetpilot.agent_states import AgentStates
    from fleetpilot.ros.convert import (
        arrays_to_odometry,
        command_to_twist,
        states_to_agent_state_array,
    )
    from fleetpilot.ros.qos import COMMAND_QOS

    rclpy.init()
    node = rclpy.create_node("ros_loop_driver")
    robots = [f"robot_{i}" for i in range(count)]
    positions = grid_positions(count)
    odometry = [node.create_publisher(Odometry, f"/{r}/odom", COMMAND_QOS) for r in robots]
    nominal = [node.create_publisher(Twist, f"/{r}/cmd_vel_nominal", COMMAND_QOS) for r in robots]
    neighbours = [
        node.create_publisher(AgentStateArray, f"/{r}/neighbors", COMMAND_QOS) for r in robots
    ]
    command = command_to_twist(np.array([0.3, 0.0]))
    neighbour_messages = []
    for index in range(count):
        near = np.flatnonzero(np.linalg.norm(positions - positions[index], axis=1) <= 2.0)
        near = near[near != index]
        states = AgentStates(
            tuple(robots[i] for i in near),
            positions[near],
            np.zeros(len(near)),
            np.zeros((len(near), 2)),
            np.full(len(near), 0.2),
            np.zeros(len(near)),
        )
        neighbour_messages.append(states_to_agent_state_array(states, "map", 0.0))
    odometry_messages = [
        arrays_to_odometry(np.array([*p, 0.0]), np.zeros(2), 0.0, "map", "base_link", 0.0)
        for p in positions
    ]
    tick = [0]

    def publish() -> None:
        # Prebuilt messages, only the stamp renewed: the driver must not be the bottleneck.
        stamp = node.get_clock().now().to_msg()
        for publisher, message in zip(odometry, odometry_messages, strict=True):
            message.header.stamp = stamp
            publisher.publish(message)
        if tick[0] % 2 == 0:
            for publisher in nominal:
                publisher.publish(command)
        if tick[0] % 5 == 0:
            for publisher, message in zip(neighbours, neighbour_messages, strict=True):
                publisher.publish(message)
        tick[0] += 1

    node.create_timer(1.0 / rate, publish)
    print("driving", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def measure(count: int, rate: float, trigger: str, seconds: float, executor_kind: str) -> dict:
    """Hosts ``count`` cbf_safety nodes against a driver process; returns the measured row."""
    import rclpy
    from rclpy.parameter import Parameter

    from fleetpilot.ros.cbf_safety_node import CbfSafetyNode
    from fleetpilot.ros.executors import executor_name, make_executor
    from fleetpilot.ros.lifecycle import autostart

    driver = subprocess.Popen(
        [sys.executable, __file__, "--driver", str(count), "--rate", str(rate)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = make_executor(executor_kind, context)
    used = executor_name(executor)
    nodes = [
        CbfSafetyNode(
            namespace=f"/robot_{i}",
            context=context,
            parameter_overrides=[
                Parameter("trigger", value=trigger),
                Parameter("control_rate_hz", value=float(rate)),
            ],
        )
        for i in range(count)
    ]
    try:
        for node in nodes:
            autostart(node)
            executor.add_node(node)
        end = time.monotonic() + WARMUP
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        for node in nodes:
            node.loop_latencies.clear()
            node.publish_times.clear()
            node.odometry_count = 0
            node.stop_causes.clear()
        started = time.monotonic()
        cpu_started = time.process_time()
        while time.monotonic() - started < seconds:
            executor.spin_once(timeout_sec=0.01)
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        latencies = np.concatenate([np.asarray(n.loop_latencies) for n in nodes]) * 1e3
        rates = np.array([len(n.publish_times) / elapsed for n in nodes])
        odometry_rates = np.array([n.odometry_count / elapsed for n in nodes])
        stop_causes = {}
        for node in nodes:
            for cause, ticks in node.stop_causes.items():
                stop_causes[cause] = stop_causes.get(cause, 0) + ticks
        stopped = sum(
            1 for n in nodes if n.loop is not None and n.loop.input_problem(time.monotonic())
        )
    finally:
        for node in nodes:
            node.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)
        driver.terminate()
        driver.wait(timeout=10)
    quantile = (lambda q: float(np.quantile(latencies, q))) if len(latencies) else (lambda q: None)
    return {
        "robots": count,
        "trigger": trigger,
        "executor": executor_kind,
        "executor_used": used,
        "target_rate_hz": rate,
        "seconds": round(elapsed, 2),
        "rate_hz_mean": float(rates.mean()),
        "rate_hz_min": float(rates.min()),
        "odometry_rate_hz_mean": float(odometry_rates.mean()),
        "latency_ms_p50": quantile(0.5),
        "latency_ms_p90": quantile(0.9),
        "latency_ms_p99": quantile(0.99),
        "latency_ms_max": float(latencies.max()) if len(latencies) else None,
        "samples": int(len(latencies)),
        "host_cpu_fraction": cpu / elapsed,
        "robots_stopped_at_end": stopped,
        "stopped_ticks_by_cause": stop_causes,
        # Other processes on the machine compete for the same cores; record how busy it was.
        "load_average_1min": os.getloadavg()[0],
    }


def table(rows: list[dict]) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.2f}"

    header = (
        "| robots | executor | trigger | rate/robot mean (min) [Hz] | odom in [Hz] "
        "| latency p50 / p90 / p99 / max [ms] | host CPU | load avg |"
    )
    lines = [header, "|---:|---|---|---:|---:|---:|---:|---:|"]
    keys = ("latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "latency_ms_max")
    for r in rows:
        latency = " / ".join(ms(r[k]) for k in keys)
        executor = (
            r["executor"]
            if r["executor"] == r["executor_used"]
            else (f"{r['executor']} ({r['executor_used']})")
        )
        rate = f"{r['rate_hz_mean']:.1f} ({r['rate_hz_min']:.1f})"
        cpu = f"{100 * r['host_cpu_fraction']:.0f}%"
        lines.append(
            f"| {r['robots']} | {executor} | {r['trigger']} | {rate} "
            f"| {r['odometry_rate_hz_mean']:.1f} | {latency} | {cpu} "
            f"| {r['load_average_1min']:.1f} |"
        )
    return "\n".join(lines)


def ratio_table(rows: list[dict], baseline: str = "single") -> str:
    """Each non-baseline executor's row over the baseline row of the same robots and trigger:
    rate (higher is better), p99 latency and host CPU per tick (lower is better)."""

    def per_tick_cpu(row):
        return row["host_cpu_fraction"] / max(row["rate_hz_mean"] * row["robots"], 1e-9)

    base = {(r["robots"], r["trigger"]): r for r in rows if r["executor"] == baseline}
    lines = [
        "| robots | trigger | executor | rate ratio | p99 latency ratio | CPU per tick ratio |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        b = base.get((r["robots"], r["trigger"]))
        if r["executor"] == baseline or b is None:
            continue
        p99 = (
            f"{r['latency_ms_p99'] / b['latency_ms_p99']:.2f}"
            if r["latency_ms_p99"] and b["latency_ms_p99"]
            else "-"
        )
        lines.append(
            f"| {r['robots']} | {r['trigger']} | {r['executor']} ({r['executor_used']}) "
            f"| {r['rate_hz_mean'] / b['rate_hz_mean']:.2f} | {p99} "
            f"| {per_tick_cpu(r) / per_tick_cpu(b):.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robots", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rate", type=float, default=50.0, help="odometry/control rate [Hz]")
    parser.add_argument(
        "--trigger", choices=("odometry", "timer"), nargs="+", default=["odometry"]
    )
    parser.add_argument(
        "--executor",
        choices=("auto", "single", "events"),
        nargs="+",
        default=["auto", "single"],
        help="auto: what the executables use (events where rclpy has it); single: baseline",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per setting")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    parser.add_argument("--driver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if args.driver is not None:
        run_driver(args.driver, args.rate)
        return 0
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))  # driver inherits it
    rows = []
    # Executors alternate within each setting, so the load of the shared machine hits both alike.
    for trigger in args.trigger:
        for count in args.robots:
            for executor_kind in args.executor:
                row = measure(count, args.rate, trigger, args.seconds, executor_kind)
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "ros_loop",
        "date": date.today().isoformat(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
        "rows": rows,
    }
    (args.out / "ros_loop.json").write_text(json.dumps(result, indent=2) + "\n")
    tables = table(rows) + "\n\n" + ratio_table(rows) + "\n"
    (args.out / "ros_loop.md").write_text(tables)
    print(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
