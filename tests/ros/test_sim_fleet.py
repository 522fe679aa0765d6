"""End to end over real rclpy and Fast DDS: the PyBullet ``sim`` node and, per robot, one
``cbf_safety`` and one ``goal_follower`` node, started the way the launch files start them
(``--ros-args --params-file config/sim_fleet.yaml``). The circle swap runs every node as its
own process (13 for six robots); the restart test hosts the robots it does not kill in one
``fleet_host`` process (same nodes, same namespaces). Every robot reaches its goal without a
contact; killing and restarting one robot's safety node leaves every robot safe."""

import time

import numpy as np
import pytest
import yaml

from fleetpilot.ros.sim_node import load_instance
from fleetpilot.safety import SafetyMode
from tests.ros.conftest import cpu_seconds, process_log, spin_until
from tests.ros.fleet_watch import ROOT, SIM_PARAMS, FleetWatch, node_arguments

pytestmark = pytest.mark.ros

BODY_DIAMETER = 0.4  # two body radii of 0.2 m: closer than this is a contact
# Until every robot's safety node reports: 13 Python processes start at once on 2 cores
# (~30-40 s measured); generous so a busy machine does not fail the test, bounded so a hang does.
STARTUP_TIMEOUT = 150.0
ARRIVAL_TIMEOUT = 90.0  # [s] after startup; the swap takes ~25 s of sim time


def start_fleet(
    python_process, scenario: str, num_agents: int, standalone=(), params_file=SIM_PARAMS
):
    """The sim, the robots in ``standalone`` as separate cbf_safety and goal_follower
    processes, and every other robot's two nodes hosted in one ``fleet_host`` process."""
    instance = load_instance(scenario, num_agents, -1)
    robots = [f"robot_{i}" for i in range(instance.num_agents)]
    overrides = (f"scenario:={scenario}", f"num_agents:={num_agents}")
    processes = {
        "sim": python_process(*node_arguments("sim", None, *overrides, params_file=params_file))
    }
    hosted = [robot for robot in robots if robot not in standalone]
    if hosted:
        names = ", ".join(f'"{robot}"' for robot in hosted)
        processes["fleet_host"] = python_process(
            *node_arguments("fleet_host", None, f"robots:=[{names}]", params_file=params_file)
        )
    for robot in standalone:
        for executable in ("cbf_safety", "goal_follower"):
            processes[f"{robot}/{executable}"] = python_process(
                *node_arguments(executable, robot, params_file=params_file)
            )
    return instance, robots, processes


def describe(watch: FleetWatch, processes) -> str:
    """What went wrong: the sim's diagnostics, each robot's last status, and the logs of the
    processes that exited or belong to a robot that is not reporting."""
    modes = {r: (s[1].mode, s[1].reason) for r, s in watch.last_status.items()}
    silent = [robot for robot in watch.robots if not watch.reporting(robot)]
    lines = [f"diagnostics {watch.diagnostics}", f"statuses {modes}", f"not reporting {silent}"]
    for name, process in processes.items():
        exited = process.poll() is not None
        if exited or name.split("/")[0] in silent or name in ("sim", "fleet_host"):
            state = f"exited {process.returncode}" if exited else "running"
            lines.append(f"--- {name} ({state}), last lines:\n{process_log(process, 15)}")
    return "\n".join(lines)


def unless_one_exits(condition, processes):
    """``condition``, or True as soon as a node process died: a crash then fails at once, with
    its log, instead of after the whole timeout."""
    return lambda: condition() or any(p.poll() is not None for p in processes.values())


def wait_for(executor, condition, processes, timeout: float, watch: FleetWatch) -> None:
    """Spins until ``condition()``; fails naming it, with the fleet's state and process logs,
    after ``timeout`` seconds or as soon as a process exits."""
    started = time.monotonic()
    spin_until(executor, unless_one_exits(condition, processes), timeout)
    waited = time.monotonic() - started
    assert condition(), (
        f"{condition.__name__} not met after {waited:.0f} s (limit {timeout:.0f} s)\n"
        + describe(watch, processes)
    )


def cpu_by_kind(processes) -> dict[str, float]:
    """CPU seconds used so far, summed per executable (sim, cbf_safety, ...)."""
    totals: dict[str, float] = {}
    for name, process in processes.items():
        used = cpu_seconds(process)
        if used is not None:
            kind = name.split("/")[-1]
            totals[kind] = round(totals.get(kind, 0.0) + used, 1)
    return totals


@pytest.fixture
def watch_node(ros_context, executor):
    import rclpy

    node = rclpy.create_node("fleet_watch", context=ros_context)
    executor.add_node(node)
    yield node
    node.destroy_node()


def test_six_robot_circle_swap_with_a_process_per_node_reaches_every_goal_without_contact(
    watch_node, executor, python_process
):
    launched = time.monotonic()
    standalone = tuple(f"robot_{i}" for i in range(6))
    instance, robots, processes = start_fleet(python_process, "circle_swap_8", 6, standalone)
    assert len(processes) == 13
    watch = FleetWatch(watch_node, robots)
    wait_for(executor, watch.all_reporting, processes, STARTUP_TIMEOUT, watch)
    started, clock_at_start = time.monotonic(), watch.clock
    startup_cpu = cpu_by_kind(processes)

    def everyone_arrived() -> bool:
        return all(watch.arrived(instance.goals, instance.goal_tolerance))

    wait_for(executor, everyone_arrived, processes, ARRIVAL_TIMEOUT, watch)
    elapsed = time.monotonic() - started
    spin_until(executor, lambda: False, timeout=1.2)  # one more diagnostics message
    print(
        f"{len(processes)} processes up in {started - launched:.1f} s "
        f"(CPU s by executable {startup_cpu}); 6 robots arrived {elapsed:.1f} s later "
        f"(CPU s by then {cpu_by_kind(processes)}); min distance {watch.min_distance:.3f} m; "
        f"safety ticks by mode {watch.mode_counts}"
    )
    assert watch.min_distance > BODY_DIAMETER, watch.min_distance
    assert watch.contacts() == 0, watch.diagnostics
    assert int(watch.diagnostics["arrived"]) == len(robots)
    assert watch.clock - clock_at_start > 0.5 * elapsed, "/clock did not follow the sim"
    exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
    assert not exited, describe(watch, processes)


def test_killing_and_restarting_one_safety_node_keeps_the_fleet_safe(
    watch_node, executor, python_process
):
    instance, robots, processes = start_fleet(
        python_process, "circle_swap_8", 4, standalone=("robot_0",)
    )
    watch = FleetWatch(watch_node, robots)
    wait_for(executor, watch.all_reporting, processes, STARTUP_TIMEOUT, watch)
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

    def everyone_arrived() -> bool:
        return all(watch.arrived(instance.goals, instance.goal_tolerance))

    wait_for(executor, restarted_and_moving, processes, STARTUP_TIMEOUT, watch)
    wait_for(executor, everyone_arrived, processes, ARRIVAL_TIMEOUT, watch)
    spin_until(executor, lambda: False, timeout=1.2)
    print(f"min distance {watch.min_distance:.3f} m; safety ticks by mode {watch.mode_counts}")
    assert watch.min_distance > BODY_DIAMETER, watch.min_distance
    assert watch.contacts() == 0, watch.diagnostics


def test_learned_tuner_steers_the_goal_followers_through_a_circle_swap(
    watch_node, executor, python_process, tmp_path
):
    """The learned tuner's gain and sideways bias reach the nominal command over ``cbf_params``
    (``nominal_from_tuner``), with the followers' own sideways bias at 0: without that wiring
    the same fleet stands still in the middle (0 of 6 arrived after 100 s when measured)."""
    params = yaml.safe_load(SIM_PARAMS.read_text())
    params["/**/cbf_safety"]["ros__parameters"]["tuner"] = str(ROOT / "policies" / "cbf_tuner_gnn")
    follower = params["/**/goal_follower"]["ros__parameters"]
    follower.update(tangential=0.0, nominal_from_tuner=True)
    params_file = tmp_path / "sim_fleet_learned.yaml"
    params_file.write_text(yaml.safe_dump(params))
    instance, robots, processes = start_fleet(
        python_process, "circle_swap_8", 6, params_file=params_file
    )
    watch = FleetWatch(watch_node, robots)
    wait_for(executor, watch.all_reporting, processes, STARTUP_TIMEOUT, watch)

    def everyone_arrived() -> bool:
        return all(watch.arrived(instance.goals, instance.goal_tolerance))

    wait_for(executor, everyone_arrived, processes, ARRIVAL_TIMEOUT, watch)
    assert watch.min_distance > BODY_DIAMETER, watch.min_distance
    assert watch.contacts() == 0, watch.diagnostics
