"""``task_allocator`` lifecycle node: tasks and live robot states in, assignments out.

Subscribes ``/fleet/tasks`` (``TaskArray``: the open tasks, republished whenever they change)
and ``/fleet/robot_states`` (``AgentStateArray``, e.g. from ``fleet_state``); at ``rate_hz`` it
runs one round of the configured static allocator (``optimal``, ``greedy``, ``auction`` or the
learned ``two-stage``, see ``fleetpilot.allocation.registry``) over the robots whose states are
fresher than ``stale_timeout`` (steady clock) and publishes ``/fleet/assignments``. Every task is
validated on arrival; an invalid one is dropped with a warning naming the task and field, the
rest are still served. Publishes only while active.
"""

from __future__ import annotations

import time

from rcl_interfaces.msg import SetParametersResult
from std_msgs.msg import Header

from fleetpilot.allocation.fleet_tasks import FleetTask, allocate
from fleetpilot.allocation.registry import ALLOCATORS, make_allocator
from fleetpilot.msg import AgentStateArray, Assignment, AssignmentArray, TaskArray
from fleetpilot.ros.convert import agent_state_array_to_states, seconds_to_time, time_to_seconds
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_value
from fleetpilot.ros.periodic_node import PeriodicLifecycleNode


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
        self._publisher = self.publisher(AssignmentArray, "/fleet/assignments", 10)
        self.subscribe(TaskArray, "/fleet/tasks", self._on_tasks, 10)
        self.subscribe(AgentStateArray, "/fleet/robot_states", self._on_states, 10)
        return True

    def forget(self) -> None:
        self._tasks: list[FleetTask] = []
        self._states = None
        self._states_received = -float("inf")

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
            self._states = agent_state_array_to_states(msg)
        except ValueError as error:
            self.get_logger().warning(f"/fleet/robot_states rejected: {error}")
            return
        self._states_received = time.monotonic()

    def tick(self) -> None:
        fresh = (
            time.monotonic() - self._states_received <= self.get_parameter("stale_timeout").value
        )
        if self._states is None or not fresh:
            return  # no live robots: publishing stale assignments would send robots astray
        now = self.get_clock().now().nanoseconds * 1e-9
        assignments, _ = allocate(
            self._allocator,
            list(self._states.ids),
            self._states.positions,
            self._tasks,
            self.get_parameter("robot_speed").value,
            now,
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
