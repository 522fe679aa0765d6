"""Fixtures for tests that use real rclpy (Fast DDS on loopback)."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

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


@pytest.fixture
def python_process() -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts Python scripts as separate processes and always stops them."""
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
