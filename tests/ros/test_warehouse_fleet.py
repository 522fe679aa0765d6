"""The warehouse pipeline end to end over real rclpy and Fast DDS, started the way
``launch/warehouse.launch.py`` starts it (``--ros-args --params-file config/warehouse.yaml``, the
shelves and walls as the safety nodes' obstacles, the same remappings): the PyBullet ``sim``,
``warehouse_tasks``, ``task_allocator``, ``mapf_planner`` and, for six robots, ``cbf_safety`` +
``goal_follower``.
Every node is its own process, as the launch file starts them (16 on a 2-core machine). Tasks
get delivered, and nothing touches anything."""

import json
import time
from pathlib import Path

import pytest
import yaml
from std_msgs.msg import String

from fleetpilot.ros.sim_node import resolve_scenario
from fleetpilot.ros.warehouse_obstacles import safety_parameters
from fleetpilot.warehouse.scenario import load_warehouse
from tests.ros.conftest import cpu_seconds, process_log, spin_until
from tests.ros.fleet_watch import NODES, ROOT, FleetWatch

pytestmark = pytest.mark.ros

SCENARIO = "warehouse_6"
NUM_ROBOTS = 6
# Sim seconds per wall second. Real time: the safety nodes tick on the wall clock and their
# filter assumes each command holds for one control period; a faster sim stretches that period
# in simulated time and the invariance no longer holds (shelf contacts at 2x were seen).
REAL_TIME_FACTOR = 1.0
SIM_RATE_HZ = 25.0  # odometry and neighbours [Hz]: half the default, to spare the 2 cores
BODY_DIAMETER = 0.4  # two body radii of 0.2 m: closer than this is a contact
STARTUP_TIMEOUT = 150.0  # [s] until every robot's safety node reports (16 processes, 2 cores)
DELIVERY_TIMEOUT = 90.0  # [s] after startup; in-process the sixth comes ~36 s simulated in
DELIVERIES = 6


def warehouse_params(tmp_path: Path) -> Path:
    """config/warehouse.yaml for the test's scenario and speed, with the shelves and walls as
    every cbf_safety's obstacles (what the launch file adds)."""
    blocks = yaml.safe_load((ROOT / "config" / "warehouse.yaml").read_text(encoding="utf-8"))
    path = str(resolve_scenario(SCENARIO))
    blocks["sim"]["ros__parameters"].update(
        scenario=path,
        num_agents=NUM_ROBOTS,
        real_time_factor=REAL_TIME_FACTOR,
        rate_hz=SIM_RATE_HZ,
    )
    blocks["warehouse_tasks"]["ros__parameters"].update(scenario=path, num_robots=NUM_ROBOTS)
    blocks["mapf_planner"]["ros__parameters"]["map_file"] = path
    blocks["/**/cbf_safety"]["ros__parameters"].update(
        safety_parameters(load_warehouse(path).layout)
    )
    params = tmp_path / "warehouse_test.yaml"
    params.write_text(yaml.safe_dump(blocks), encoding="utf-8")
    return params


def arguments(executable: str, params: Path, *extra: str, namespace: str = "") -> list[str]:
    """argv for ``nodes/<executable>`` with the params file, autostart and extra ROS args."""
    renaming = ["-r", f"__ns:=/{namespace}"] if namespace else []
    return [
        str(NODES / executable),
        "--ros-args",
        *renaming,
        "--params-file",
        str(params),
        "-p",
        "autostart:=true",
        *extra,
    ]


def start_warehouse(python_process, params: Path, robots: list[str]) -> dict:
    processes = {
        "sim": python_process(*arguments("sim", params)),
        "warehouse_tasks": python_process(*arguments("warehouse_tasks", params)),
        # The allocator sees only idle robots; the planner steers toward each robot's leg.
        "task_allocator": python_process(
            *arguments(
                "task_allocator", params, "-r", "/fleet/robot_states:=/fleet/idle_robot_states"
            )
        ),
        "mapf_planner": python_process(
            *arguments(
                "mapf_planner",
                params,
                "-r",
                "/fleet/tasks:=/fleet/legs",
                "-r",
                "/fleet/assignments:=/fleet/leg_assignments",
            )
        ),
    }
    for robot in robots:  # its goal follower and safety node steer to the planner's waypoint
        for executable in ("cbf_safety", "goal_follower"):
            processes[f"{robot}/{executable}"] = python_process(
                *arguments(executable, params, "-r", "goal_pose:=goal", namespace=robot)
            )
    return processes


class MetricsWatch:
    """The latest /fleet/warehouse_metrics."""

    def __init__(self, node) -> None:
        self.latest: dict = {}
        node.create_subscription(String, "/fleet/warehouse_metrics", self._on_metrics, 10)

    def _on_metrics(self, msg: String) -> None:
        self.latest = json.loads(msg.data)

    def delivered(self) -> int:
        return int(self.latest.get("tasks_delivered", 0))


def describe(watch: FleetWatch, metrics: MetricsWatch, processes) -> str:
    lines = [f"diagnostics {watch.diagnostics}", f"metrics {metrics.latest}"]
    lines += [f"positions { {r: p.round(2).tolist() for r, p in watch.latest_positions.items()} }"]
    for name, process in processes.items():
        state = f"exited {process.returncode}" if process.poll() is not None else "running"
        lines.append(f"--- {name} ({state}), last lines:\n{process_log(process, 12)}")
    return "\n".join(lines)


@pytest.fixture
def watch_node(ros_context, executor):
    import rclpy

    node = rclpy.create_node("warehouse_watch", context=ros_context)
    executor.add_node(node)
    yield node
    node.destroy_node()


def test_six_robot_warehouse_delivers_tasks_without_contact(
    watch_node, executor, python_process, tmp_path
):
    launched = time.monotonic()
    robots = [f"robot_{i}" for i in range(NUM_ROBOTS)]
    processes = start_warehouse(python_process, warehouse_params(tmp_path), robots)
    watch, metrics = FleetWatch(watch_node, robots), MetricsWatch(watch_node)

    def wait_for(condition, timeout: float) -> None:
        started = time.monotonic()
        exited = lambda: any(p.poll() is not None for p in processes.values())  # noqa: E731
        spin_until(executor, lambda: condition() or exited(), timeout)
        assert condition(), (
            f"{condition.__name__} not met after {time.monotonic() - started:.0f} s "
            f"(limit {timeout:.0f} s)\n" + describe(watch, metrics, processes)
        )

    def fleet_up() -> bool:
        return watch.all_reporting() and bool(metrics.latest)

    wait_for(fleet_up, STARTUP_TIMEOUT)
    started, sim_at_start = time.monotonic(), float(watch.diagnostics.get("sim_time", 0.0))

    def tasks_delivered() -> bool:
        return metrics.delivered() >= DELIVERIES

    wait_for(tasks_delivered, DELIVERY_TIMEOUT)
    spin_until(executor, lambda: False, timeout=1.0)  # one more diagnostics message
    elapsed = time.monotonic() - started
    simulated = float(watch.diagnostics["sim_time"]) - sim_at_start
    print(
        f"{len(processes)} processes up in {started - launched:.1f} s; {metrics.delivered()} "
        f"delivered {elapsed:.1f} s later ({simulated:.1f} s simulated); metrics "
        f"{metrics.latest}; min distance {watch.min_distance:.3f} m; "
        f"safety ticks by mode {watch.mode_counts}; CPU s by process "
        f"{ {name: cpu_seconds(process) for name, process in processes.items()} }"
    )
    assert watch.contacts() == 0, describe(watch, metrics, processes)
    assert watch.min_distance > BODY_DIAMETER, watch.min_distance
    delivered_by = {robot for _, robot in metrics.latest["delivered"]}
    assert delivered_by <= set(robots), metrics.latest
    exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
    assert not exited, describe(watch, metrics, processes)
