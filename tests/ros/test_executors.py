"""The executor every executable spins: the EventsExecutor where rclpy has it, the
SingleThreadedExecutor otherwise or when forced; executables start and stop cleanly on both."""

import signal
import subprocess
import sys
import time

import pytest
from rclpy.executors import SingleThreadedExecutor

from fleetpilot.ros.executors import (
    EXECUTOR_ENVIRONMENT_VARIABLE,
    default_executor_kind,
    events_executor_class,
    executor_name,
    make_executor,
)
from tests.ros.conftest import process_log
from tests.ros.fleet_watch import NODES

pytestmark = pytest.mark.ros

# What "auto" must pick with the rclpy installed here (Jazzy wheels: events; Humble: single).
AUTO = "single" if events_executor_class() is None else "events"


@pytest.mark.parametrize("kind, expected", [("auto", AUTO), ("single", "single")])
def test_auto_picks_the_events_executor_where_rclpy_has_it(ros_context, kind, expected):
    executor = make_executor(kind, ros_context)
    try:
        assert executor_name(executor) == expected
        assert isinstance(executor, SingleThreadedExecutor) == (expected == "single")
    finally:
        executor.shutdown()


def test_unknown_executor_kinds_name_the_value(monkeypatch):
    with pytest.raises(ValueError, match="executor: expected one of auto, events, single"):
        make_executor("multi")
    monkeypatch.setenv(EXECUTOR_ENVIRONMENT_VARIABLE, "fast")
    with pytest.raises(ValueError, match=f"{EXECUTOR_ENVIRONMENT_VARIABLE}: .*'fast'"):
        default_executor_kind()
    monkeypatch.setenv(EXECUTOR_ENVIRONMENT_VARIABLE, "single")
    assert default_executor_kind() == "single"


def run_until_spinning(python_process, arguments: list[str], timeout: float = 60.0) -> str:
    """Starts ``nodes/goal_follower`` (the lightest executable), waits for its "spinning on"
    log line, interrupts it like ``ros2 launch`` does, and returns the executor it named."""
    process = python_process(str(NODES / "goal_follower"), "--ros-args", *arguments)
    deadline = time.monotonic() + timeout
    while "spinning on the" not in (log := process_log(process)):
        assert process.poll() is None, f"exited with {process.returncode}:\n{log}"
        assert time.monotonic() < deadline, f"no 'spinning on the' line in {timeout} s:\n{log}"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0, process_log(process)
    return log.split("spinning on the ")[1].split()[0]


@pytest.mark.parametrize(
    "override, expected", [([], AUTO), (["-p", "executor:=single"], "single")]
)
def test_executables_spin_on_the_chosen_executor_and_stop_on_sigint(
    python_process, override, expected
):
    assert run_until_spinning(python_process, ["-p", "autostart:=true", *override]) == expected


def test_an_executor_this_rclpy_lacks_is_refused_by_name():
    if AUTO == "events":  # Jazzy: 'events' exists, so ask for an unknown kind instead
        arguments = ["-p", "executor:=fastest"]
        message = "executor: expected one of auto, events, single, got 'fastest'"
    else:
        arguments = ["-p", "executor:=events"]
        message = "executor: 'events' needs rclpy.experimental.EventsExecutor"
    result = subprocess.run(
        [sys.executable, str(NODES / "goal_follower"), "--ros-args", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stdout + result.stderr
