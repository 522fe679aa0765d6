"""Which rclpy executor fleetpilot's executables spin: one choice for every node process.

``auto`` (the default) takes rclpy's EventsExecutor where this rclpy has it (Jazzy and later,
``rclpy.experimental``) and the SingleThreadedExecutor otherwise (Humble). The events executor
does not rebuild a wait set over every entity for each callback; with 8 robots' safety nodes in
one process it met 50 Hz with p99 < 1 ms where the single-threaded one did not reach 50 Hz
(``docs/results/ros_loop.md``). ``single`` forces the plain executor (to rule the experimental
one out when diagnosing), ``events`` insists on the events executor and fails where it is
missing. The ``executor`` parameter of every executable selects it; its default comes from the
``FLEETPILOT_EXECUTOR`` environment variable when that is set (one switch for a whole launch).
"""

from __future__ import annotations

import os

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import Executor, SingleThreadedExecutor

EXECUTOR_KINDS = ("auto", "events", "single")
EXECUTOR_ENVIRONMENT_VARIABLE = "FLEETPILOT_EXECUTOR"
SPIN_PERIOD = 0.1  # [s] how often the spin loop notices a shutdown


def events_executor_class():
    """rclpy's EventsExecutor, or None where this rclpy has none (Humble)."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return None
    return EventsExecutor


def check_executor_kind(kind) -> str:
    """``kind`` if it names an executor choice; else ValueError naming the value."""
    if kind not in EXECUTOR_KINDS:
        raise ValueError(f"executor: expected one of {', '.join(EXECUTOR_KINDS)}, got {kind!r}")
    return kind


def default_executor_kind() -> str:
    """``FLEETPILOT_EXECUTOR`` when set (checked), else ``auto``."""
    value = os.environ.get(EXECUTOR_ENVIRONMENT_VARIABLE)
    if value is None:
        return "auto"
    try:
        return check_executor_kind(value)
    except ValueError as error:
        raise ValueError(f"{EXECUTOR_ENVIRONMENT_VARIABLE}: {error}") from None


def make_executor(kind: str = "auto", context: rclpy.Context | None = None) -> Executor:
    """The executor ``kind`` (``auto``, ``events`` or ``single``) for ``context``.

    Raises:
        ValueError: naming the value when ``kind`` is unknown, or ``events`` is asked for and
            this rclpy has no EventsExecutor.
    """
    check_executor_kind(kind)
    events = None if kind == "single" else events_executor_class()
    if events is not None:
        return events(context=context)
    if kind == "events":
        raise ValueError(
            "executor: 'events' needs rclpy.experimental.EventsExecutor (Jazzy or later), "
            "which this rclpy lacks; use auto or single"
        )
    return SingleThreadedExecutor(context=context)


def executor_name(executor: Executor) -> str:
    """``events`` or ``single``: which executor ``make_executor`` picked."""
    return "single" if isinstance(executor, SingleThreadedExecutor) else "events"


def declare_executor_parameter(node) -> str:
    """Declares the read-only ``executor`` parameter on ``node``; returns its checked value."""
    descriptor = ParameterDescriptor(
        description=f"rclpy executor: {', '.join(EXECUTOR_KINDS)} (events needs Jazzy+)",
        read_only=True,
    )
    value = node.declare_parameter("executor", default_executor_kind(), descriptor).value
    return check_executor_kind(value)


def spin_until_shutdown(executor: Executor, context: rclpy.Context | None = None) -> None:
    """Spins until the context shuts down (SIGINT/SIGTERM). The EventsExecutor's ``spin()``
    does not return on shutdown (Jazzy), so both executors run this ``spin_once`` loop."""
    context = context or rclpy.get_default_context()
    while context.ok():
        executor.spin_once(timeout_sec=SPIN_PERIOD)
