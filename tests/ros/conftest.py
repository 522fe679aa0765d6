"""Fixtures for tests that use real rclpy (Fast DDS on loopback)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (scripts/install.sh)")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402


@pytest.fixture
def ros_context() -> Iterator[rclpy.Context]:
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture
def executor(ros_context) -> Iterator[SingleThreadedExecutor]:
    executor = SingleThreadedExecutor(context=ros_context)
    yield executor
    executor.shutdown()


def spin_until(executor, condition: Callable[[], bool], timeout: float) -> bool:
    """Spins ``executor`` until ``condition()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.05)
    return condition()


STOP_GRACE = 15.0  # [s] for every process to exit on SIGINT (torch teardown: ~1.5 s CPU each)


def cpu_seconds(process: subprocess.Popen) -> float | None:
    """User + system CPU time the (still running) process used so far [s]; None if unknown."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_log(process: subprocess.Popen, lines: int = 30) -> str:
    """The last ``lines`` lines the process wrote (stdout and stderr)."""
    text = Path(process.log_path).read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def stop_processes(processes: list[subprocess.Popen], grace: float = STOP_GRACE) -> None:
    """SIGINT to all at once (a clean ROS shutdown), one shared grace period, then SIGKILL."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def python_process(tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts Python scripts as separate processes and always stops them. Output goes to a log
    file per process (``process.log_path``; a pipe nobody reads would block a chatty process),
    read back with :func:`process_log`."""
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        log_path = tmp_path / f"process_{len(processes)}_{Path(args[0]).name}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=dict(os.environ),
            )
        process.log_path = log_path
        processes.append(process)
        return process

    yield start
    stop_processes(processes)
