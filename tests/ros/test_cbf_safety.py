"""The cbf_safety node over real rclpy: lifecycle gating, parameter validation, and its
watchdog (stale neighbours brake within the timeout and recover; NaN odometry stops with a
reason) with the node in its own process."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleetpilot.ros.cbf_safety_node import CbfSafetyNode
from fleetpilot.ros.convert import arrays_to_odometry
from fleetpilot.safety import SafetyMode
from tests.ros.conftest import process_log
from tests.ros.robot_driver import RobotDriver

pytestmark = pytest.mark.ros

NODES = Path(__file__).resolve().parents[2] / "nodes"
RATE_HZ = 20.0


def spin_driving(executor, driver: RobotDriver, seconds: float, until=None) -> bool:
    """Publishes the driver's inputs at RATE_HZ while spinning; stops early once ``until()``."""
    deadline = time.monotonic() + seconds
    next_publish = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_publish:
            driver.publish_inputs()
            next_publish = time.monotonic() + 1.0 / RATE_HZ
        executor.spin_once(timeout_sec=0.01)
        if until is not None and until():
            return True
    return until is None or until()


@pytest.fixture
def safety_node(ros_context, executor):
    import rclpy

    node = CbfSafetyNode(
        namespace="/robot_a",
        context=ros_context,
        parameter_overrides=[Parameter("control_rate_hz", value=RATE_HZ)],
    )
    probe = rclpy.create_node("safety_probe", context=ros_context)
    driver = RobotDriver(probe, "/robot_a")
    executor.add_node(node)
    executor.add_node(probe)
    yield node, driver
    node.destroy_node()
    probe.destroy_node()


def test_commands_only_while_active_and_a_stop_on_deactivation(safety_node, executor):
    node, driver = safety_node
    spin_driving(executor, driver, 0.5)
    assert driver.commands == [], "published while unconfigured"

    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    spin_driving(executor, driver, 0.5)
    assert driver.commands == [], "published while inactive"

    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def passes_nominal() -> bool:
        command, status = driver.latest_command(), driver.latest_status()
        return (
            command is not None
            and np.allclose(command, driver.nominal_command)
            and status is not None
            and status.mode == SafetyMode.NOMINAL
        )

    assert spin_driving(executor, driver, 10.0, passes_nominal), driver.commands[-3:]
    status = driver.latest_status()
    assert status.agent_id == "robot_a"  # from the namespace
    assert status.mode == SafetyMode.NOMINAL and status.reason == ""

    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    spin_driving(executor, driver, 0.3)  # let what was in flight arrive
    assert np.allclose(driver.latest_command(), 0.0), "deactivation left the robot moving"
    assert driver.latest_status().reason == "deactivated"
    count = len(driver.commands)
    spin_driving(executor, driver, 0.6)
    assert len(driver.commands) == count, "published after deactivation"

    # Reactivation starts stopped until fresh inputs arrive, then passes the command again.
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert spin_driving(executor, driver, 10.0, passes_nominal)
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS


def test_odometry_trigger_ticks_per_message_and_its_timer_still_stops_stale_inputs(
    safety_node, executor
):
    node, driver = safety_node
    node.set_parameters([Parameter("trigger", value="odometry")])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def moving() -> bool:
        status = driver.latest_status()
        return status is not None and status.mode == SafetyMode.NOMINAL

    assert spin_driving(executor, driver, 10.0, moving)
    count = len(node.loop_latencies)
    spin_driving(executor, driver, 0.5)
    ticks = len(node.loop_latencies) - count
    assert 0.5 * 0.5 * RATE_HZ <= ticks <= 1.5 * 0.5 * RATE_HZ, ticks  # one per odometry
    assert max(node.loop_latencies) < 0.05

    # Odometry stops altogether: no odometry ticks, so the watchdog timer must stop the robot.
    driver.send_odometry = False  # the other inputs keep coming

    def stopped() -> bool:
        status = driver.latest_status()
        return status is not None and status.reason.startswith("odom: stale")

    assert spin_driving(executor, driver, 5.0, stopped)
    assert np.allclose(driver.latest_command(), 0.0)


def test_filters_a_command_towards_a_close_neighbour(safety_node, executor):
    node, driver = safety_node
    driver.nominal_command = np.array([1.0, 0.0])
    driver.neighbour_positions = np.array([[0.8, 0.0]])  # straight ahead, just outside D
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def filtered() -> bool:
        status = driver.latest_status()
        return status is not None and status.mode == SafetyMode.FILTERED

    assert spin_driving(executor, driver, 10.0, filtered)
    assert driver.latest_command()[0] < 1.0
    assert driver.latest_status().num_constraints == 1
    assert driver.latest_status().slack == 0.0  # feasible: nothing relaxed


def test_slack_is_the_relaxation_when_squeezed_and_zero_when_free(safety_node, executor):
    """Neighbours 0.3 m ahead and behind (safety distance 0.5 m): no command keeps both
    barriers from shrinking, so the filter relaxes; slack reports by how much."""
    node, driver = safety_node
    driver.nominal_command = np.array([0.5, 0.5])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def in_mode(mode):
        return lambda: (status := driver.latest_status()) is not None and status.mode == mode

    assert spin_driving(executor, driver, 10.0, in_mode(SafetyMode.NOMINAL))
    assert driver.latest_status().slack == 0.0

    driver.neighbour_positions = np.array([[0.3, 0.0], [-0.3, 0.0]])
    assert spin_driving(executor, driver, 10.0, in_mode(SafetyMode.RELAXED))
    status = driver.latest_status()
    # Filtered points sit 0.1 m ahead of each axle and keep 0.5 + 2 x 0.1 m apart: each pair's
    # barrier is 0.3^2 - 0.7^2, and its half of alpha (1/s) x |h| was relaxed to 0.
    assert status.slack == pytest.approx(0.5 * 1.0 * (0.7**2 - 0.3**2), rel=1e-9)
    assert status.reason.startswith("constraints infeasible")
    np.testing.assert_allclose(driver.latest_command(), [0.0, 0.5], atol=1e-9)  # turns in place


def test_odometry_in_another_frame_stops_the_robot(safety_node, executor):
    node, driver = safety_node
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    driver.odometry_override = arrays_to_odometry(
        np.zeros(3), np.zeros(2), 0.0, "odom", "base_link", 1.0
    )

    def stopped_for_frame() -> bool:
        status = driver.latest_status()
        return status is not None and "header.frame_id" in status.reason

    assert spin_driving(executor, driver, 10.0, stopped_for_frame)
    assert driver.latest_status().mode == SafetyMode.STOPPED
    assert "'odom'" in driver.latest_status().reason


LEARNED_TUNER = Path(__file__).resolve().parents[2] / "policies" / "cbf_tuner_gnn"


@pytest.mark.skipif(not (LEARNED_TUNER / "tuner.yaml").is_file(), reason="no shipped tuner")
def test_a_learned_tuner_directory_runs_through_the_same_interface(safety_node, executor):
    from fleetpilot.msg import CbfParams

    from fleetpilot.ros.qos import COMMAND_QOS

    node, driver = safety_node
    params: list[CbfParams] = []
    driver.node.create_subscription(CbfParams, "/robot_a/cbf_params", params.append, COMMAND_QOS)
    node.set_parameters([Parameter("tuner", value=str(LEARNED_TUNER))])
    driver.neighbour_positions = np.array([[1.0, 0.0], [0.0, 1.2], [5.0, 5.0]])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert spin_driving(executor, driver, 10.0, lambda: bool(params))
    status = driver.latest_status()
    assert status.mode != SafetyMode.STOPPED, status.reason
    latest = params[-1]
    assert latest.agent_id == "robot_a" and 0.05 <= latest.alpha <= 10.0
    assert list(latest.neighbor_ids) == ["other_0", "other_1"]  # the far one is out of range
    assert len(latest.neighbor_gains) in (0, 2)  # per-pair shares when the tuner gives them
    assert all(0.5 <= gain <= 1.0 for gain in latest.neighbor_gains)


def test_invalid_parameters_are_rejected_with_a_reason(safety_node):
    node, _ = safety_node
    for name, value in (
        ("control_rate_hz", -5.0),
        ("neighbors_timeout", 0.0),
        ("trigger", "sometimes"),
        ("device", "tpu"),
        ("obstacles", [1.0, 2.0]),
        ("obstacles", [1.0, 2.0, -0.5]),
    ):
        before = node.get_parameter(name).value
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful, (name, value)
        assert node.get_parameter(name).value == before
    assert "trigger" in node.set_parameters([Parameter("trigger", value="x")])[0].reason
    assert node.set_parameters([Parameter("obstacles", value=[1.0, 2.0, 0.5])])[0].successful


def test_an_unknown_tuner_fails_configure(safety_node):
    node, _ = safety_node
    node.set_parameters([Parameter("tuner", value="fixed:alpha=-3")])
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE


def test_stale_neighbours_brake_and_nan_odometry_stops_in_a_separate_process(
    ros_context, executor, python_process
):
    import rclpy

    timeout = 0.3
    process = python_process(
        str(NODES / "cbf_safety"),
        "--ros-args",
        "-r",
        "__ns:=/robot_b",
        "-p",
        "autostart:=true",
        "-p",
        f"control_rate_hz:={RATE_HZ}",
        "-p",
        f"neighbors_timeout:={timeout}",
    )
    probe = rclpy.create_node("fault_probe", context=ros_context)
    driver = RobotDriver(probe, "/robot_b")
    executor.add_node(probe)

    def moving() -> bool:
        status = driver.latest_status()
        return status is not None and status.mode == SafetyMode.NOMINAL

    assert spin_driving(executor, driver, 40.0, moving), (
        "the safety process never passed a command; its log:\n" + process_log(process)
    )
    assert process.pid != os.getpid()

    # Neighbours stop arriving: the robot stops within the timeout (plus one tick and transport).
    driver.send_neighbours = False
    stopped_at = time.monotonic()

    def stopped_for(text: str):
        def check() -> bool:
            status = driver.latest_status()
            command = driver.latest_command()
            return (
                status is not None
                and status.mode == SafetyMode.STOPPED
                and text in status.reason
                and np.allclose(command, 0.0)
            )

        return check

    assert spin_driving(executor, driver, 5.0, stopped_for("neighbors: stale"))
    reaction = driver.statuses[-1][0] - stopped_at
    assert reaction <= timeout + 2.0 / RATE_HZ + 0.1, f"braked after {reaction:.3f} s"

    driver.send_neighbours = True
    assert spin_driving(executor, driver, 5.0, moving), "did not recover with fresh neighbours"

    bad = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base_link", 1.0)
    bad.pose.pose.position.x = float("nan")
    driver.odometry_override = bad
    assert spin_driving(executor, driver, 5.0, stopped_for("odom rejected")), (
        driver.latest_status()
    )
    reason = driver.latest_status().reason
    assert "pose.position.x" in reason and "nan" in reason, reason

    driver.odometry_override = None
    assert spin_driving(executor, driver, 5.0, moving), "did not recover with valid odometry"
    probe.destroy_node()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
