"""``task_allocator`` lifecycle node: tasks and live robot states in, assignments out.

Subscribes ``/fleet/tasks`` (``TaskArray``: the open tasks, republished whenever they change)
and ``/fleet/robot_states`` (``AgentStateArray``, e.g. from ``fleet_state``); at ``rate_hz`` it
runs one round of the configured static allocator (``optimal``, ``greedy``, ``auction`` or the
learned ``two-stage``, see ``fleetpilot.allocation.registry``) over the live robots and publishes
``/fleet/assignments``. A robot is live while its latest state (per robot, steady clock) is
younger than ``stale_timeout``; one that goes stale or stops appearing in the arrays drops out
(logged), its tasks go to the remaining robots in the next round, and it is used again once a
fresh state of it arrives. With no live robot left an empty AssignmentArray is published.
Coalition tasks (``min_robots`` > 1) get ``min_robots`` or more robots whose capabilities
(``robot_capabilities``) together cover the task's requirements, by greedy coalition formation
before the static allocator serves the single-robot tasks (``fleetpilot.allocation.fleet_tasks``).
Every task is validated on arrival; an invalid one is dropped with a warning naming the task and
field, the rest are still served. Publishes only while active.
"""

from __future__ import annotations

import math
import time

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from fleetpilot.allocation.fleet_tasks import FleetTask, RobotRoster, allocate
from fleetpilot.allocation.registry import ALLOCATORS, make_allocator
from fleetpilot.msg import AgentStateArray, Assignment, AssignmentArray, TaskArray
from fleetpilot.ros.convert import agent_state_array_to_states, seconds_to_time, time_to_seconds
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_value
from fleetpilot.ros.periodic_node import PeriodicLifecycleNode


def parse_capabilities(entries: list[str]) -> dict[str, np.ndarray]:
    """``["robot_0=1,0,1", ...]`` -> robot id -> capability levels (>= 0, finite)."""
    capabilities = {}
    for index, entry in enumerate(entries):
        name, sep, levels = entry.partition("=")
        field = f"robot_capabilities[{index}]"
        if not sep or not name.strip():
            raise ValueError(f"{field}: expected 'robot_id=level,level,...', got {entry!r}")
        try:
            values = [float(level) for level in levels.split(",")] if levels.strip() else []
        except ValueError as error:
            raise ValueError(f"{field}: expected numeric levels, got {entry!r}") from error
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"{field}: expected finite levels >= 0, got {entry!r}")
        if name.strip() in capabilities:
            raise ValueError(f"{field}: robot {name.strip()!r} listed twice")
        capabilities[name.strip()] = np.array(values)
    return capabilities


def capability_matrix(table: dict[str, np.ndarray], robot_ids: list[str]) -> np.ndarray:
    """(R, C) capability levels of the given robots; robots not in the table have none."""
    width = max((len(levels) for levels in table.values()), default=0)
    matrix = np.zeros((len(robot_ids), width))
    for row, robot_id in enumerate(robot_ids):
        levels = table.get(robot_id, ())
        matrix[row, : len(levels)] = levels
    return matrix


def tasks_from_message(msg: TaskArray) -> tuple[list[FleetTask], list[str]]:
    """Valid tasks of a TaskArray, and one reason per rejected task."""
    tasks, rejected = [], []
    for index, task in enumerate(msg.tasks):
        deadline = time_to_seconds(task.deadline)
        try:
            tasks.append(
                FleetTask(
                    id=task.id,
                    pickup=(task.pickup_x, task.pickup_y),
                    dropoff=(task.dropoff_x, task.dropoff_y) if task.has_dropoff else None,
                    value=task.value,
                    min_robots=task.min_robots,
                    release=time_to_seconds(task.release),
                    deadline=deadline if deadline > 0 else None,
                    requirements=list(task.requirements),
                )
            )
        except ValueError as error:
            rejected.append(f"tasks[{index}]: {error}")
    return tasks, rejected


class TaskAllocatorNode(PeriodicLifecycleNode):
    """Lifecycle node assigning open tasks to fresh robots at a fixed rate."""

    def __init__(self, node_name: str = "task_allocator", **kwargs) -> None:
        super().__init__(node_name, "rate_hz", **kwargs)
        declare_value(self, "allocator", "optimal", f"one of {', '.join(sorted(ALLOCATORS))}")
        declare_value(self, "policy_dir", "", "learned allocator directory (two-stage only)")
        declare_float(self, "robot_speed", 0.5, 0.01, 10.0, "travel speed for task costs [m/s]")
        declare_float(self, "rate_hz", 1.0, 0.01, 50.0, "allocation rounds per second [Hz]")
        declare_float(self, "stale_timeout", 2.0, 0.01, 60.0, "robot states older are ignored [s]")
        self.declare_parameter(
            "robot_capabilities",
            Parameter.Type.STRING_ARRAY,
            ParameterDescriptor(
                description="capability levels per robot, 'robot_id=level,level,...'; "
                "unlisted robots have none (serve only tasks without requirements)"
            ),
        )
        self.add_on_set_parameters_callback(self._check_parameters)
        self._allocator = None
        self._publisher = None
        self.forget()

    @staticmethod
    def _check_parameters(parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "allocator" and parameter.value not in ALLOCATORS:
                return SetParametersResult(
                    successful=False,
                    reason=f"allocator: expected one of {sorted(ALLOCATORS)}, "
                    f"got {parameter.value!r}",
                )
            if parameter.name == "robot_capabilities":
                try:
                    parse_capabilities(list(parameter.value or []))
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def configure(self) -> bool:
        name = self.get_parameter("allocator").value
        policy_dir = self.get_parameter("policy_dir").value
        try:
            kwargs = {"policy_dir": policy_dir} if name == "two-stage" and policy_dir else {}
            self._allocator = make_allocator(name, **kwargs)
        except (ValueError, OSError) as error:
            self.get_logger().error(f"allocator: could not build {name!r}: {error}")
            return False
        try:
            parse_capabilities(self._capability_entries())
        except ValueError as error:
            self.get_logger().error(str(error))
            return False
        self._publisher = self.publisher(AssignmentArray, "/fleet/assignments", 10)
        self.subscribe(TaskArray, "/fleet/tasks", self._on_tasks, 10)
        self.subscribe(AgentStateArray, "/fleet/robot_states", self._on_states, 10)
        return True

    def _capability_entries(self) -> list[str]:
        try:
            return list(self.get_parameter("robot_capabilities").value or [])
        except ParameterUninitializedException:  # declared by type only: nobody listed
            return []

    def forget(self) -> None:
        self._tasks: list[FleetTask] = []
        self._roster = RobotRoster(self.get_parameter("stale_timeout").value)

    def _on_tasks(self, msg: TaskArray) -> None:
        tasks, rejected = tasks_from_message(msg)
        for reason in rejected:
            self.get_logger().warning(f"/fleet/tasks: dropped {reason}")
        ids = [task.id for task in tasks]
        if len(set(ids)) != len(ids):
            self.get_logger().warning(f"/fleet/tasks rejected: duplicate task ids in {ids}")
            return
        self._tasks = tasks

    def _on_states(self, msg: AgentStateArray) -> None:
        try:
            states = agent_state_array_to_states(msg)
        except ValueError as error:
            self.get_logger().warning(f"/fleet/robot_states rejected: {error}")
            return
        self._roster.update(states.ids, states.positions, time.monotonic())

    def tick(self) -> None:
        if not self._roster.seen:
            return  # no robot ever reported: nothing to assign yet
        self._roster.stale_timeout = self.get_parameter("stale_timeout").value
        robot_ids, positions, dropped, returned = self._roster.live(time.monotonic())
        for robot_id in dropped:
            self.get_logger().warning(
                f"robot {robot_id!r} dropped out (no state for more than "
                f"{self._roster.stale_timeout:g} s): re-allocating its tasks"
            )
        for robot_id in returned:
            self.get_logger().info(f"robot {robot_id!r} is live: usable for tasks")
        now = self.get_clock().now().nanoseconds * 1e-9
        assignments, _ = allocate(
            self._allocator,
            robot_ids,
            positions,
            self._tasks,
            self.get_parameter("robot_speed").value,
            now,
            capability_matrix(parse_capabilities(self._capability_entries()), robot_ids),
        )
        message = AssignmentArray(header=Header(stamp=seconds_to_time(now)))
        message.assignments = [
            Assignment(
                task_id=a.task_id, robot_ids=list(a.robot_ids), expected_cost=a.expected_cost
            )
            for a in assignments
        ]
        self._publisher.publish(message)


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(TaskAllocatorNode, args)
