"""``warehouse_tasks`` lifecycle node: who carries what in a warehouse, over ROS 2.

The ROS form of :class:`~fleetpilot.warehouse.dispatch.TaskDispatcher` (the in-process loop is
:class:`~fleetpilot.warehouse.run.WarehouseRun`). It samples the same warehouse scenario file
and seed as the ``sim`` node, so both agree on the robots' homes and the task stream, and sits
between the generic fleet nodes:

* subscribes ``/fleet/robot_states`` (the sim's, or ``fleet_state``'s; time = its stamps) and
  completes legs: a robot within the scenario's goal tolerance of its station picks up or
  delivers;
* publishes, for the ``task_allocator``, the open tasks on ``/fleet/tasks`` and only the idle
  robots' states on ``/fleet/idle_robot_states`` (remap the allocator's
  ``/fleet/robot_states`` there), so every allocation round is over idle robots and open
  tasks, as in the in-process loop;
* subscribes ``/fleet/assignments`` and commits each with ``TaskDispatcher.assign`` (assignments
  for busy robots or taken tasks, which a round computed before the last update may hold, are
  skipped; unknown robots or tasks are skipped with a warning);
* publishes, for the ``mapf_planner``, each robot's current leg as a visit task on
  ``/fleet/legs`` (its pick station, drop station, or home when idle) with a matching
  assignment on ``/fleet/leg_assignments`` (remap the planner's ``/fleet/tasks`` and
  ``/fleet/assignments`` there), so the planner needs no warehouse knowledge;
* publishes its progress once a simulated second on ``/fleet/warehouse_metrics``
  (``std_msgs/String``, a JSON object: released, delivered, on-time, value earned, ...).

Publishes only while active and only for robots whose state is fresher than ``stale_timeout``
(steady clock).
"""

from __future__ import annotations

import json
import time

import numpy as np
from std_msgs.msg import Header, String

from fleetpilot.agent_states import AgentStates
from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.msg import AgentStateArray, Assignment, AssignmentArray, Task, TaskArray
from fleetpilot.ros.convert import (
    agent_state_array_to_states,
    seconds_to_time,
    states_to_agent_state_array,
    time_to_seconds,
)
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_int, declare_value
from fleetpilot.ros.periodic_node import PeriodicLifecycleNode
from fleetpilot.ros.qos import COMMAND_QOS
from fleetpilot.warehouse.dispatch import Leg, TaskDispatcher

LEG_SUFFIX = "/leg"
"""A robot's leg task id is ``<robot>/leg``: unique per robot, never a warehouse task id."""


def task_to_message(task: FleetTask) -> Task:
    """FleetTask -> Task (the inverse of ``task_allocator_node.tasks_from_message``)."""
    message = Task(
        id=task.id,
        pickup_x=float(task.pickup[0]),
        pickup_y=float(task.pickup[1]),
        value=float(task.value),
        min_robots=int(task.min_robots),
        release=seconds_to_time(task.release),
    )
    if task.dropoff is not None:
        message.has_dropoff = True
        message.dropoff_x, message.dropoff_y = (float(v) for v in task.dropoff)
    if task.deadline is not None:
        message.deadline = seconds_to_time(task.deadline)
    return message


def task_array(tasks: list[FleetTask], frame_id: str, now: float) -> TaskArray:
    return TaskArray(
        header=Header(frame_id=frame_id, stamp=seconds_to_time(now)),
        tasks=[task_to_message(task) for task in tasks],
    )


def leg_messages(
    dispatcher: TaskDispatcher, robots: list[str], frame_id: str, now: float
) -> tuple[TaskArray, AssignmentArray]:
    """Each of ``robots``' current target (station, or home when idle) as a visit task
    ``<robot>/leg`` assigned to it: what the MAPF planner steers the robot toward."""
    goals = dispatcher.goals()
    header = Header(frame_id=frame_id, stamp=seconds_to_time(now))
    tasks, assignments = TaskArray(header=header), AssignmentArray(header=header)
    for robot in robots:
        x, y = goals[dispatcher.robot_ids.index(robot)]
        leg = robot + LEG_SUFFIX
        tasks.tasks.append(Task(id=leg, pickup_x=float(x), pickup_y=float(y), min_robots=1))
        assignments.assignments.append(Assignment(task_id=leg, robot_ids=[robot]))
    return tasks, assignments


def idle_states(states: AgentStates, dispatcher: TaskDispatcher, among: list[str]) -> AgentStates:
    """The states of the robots in ``among`` that are idle (known to the dispatcher, no task):
    the only robots an allocation round may give work to."""
    keep = [
        index
        for index, robot in enumerate(states.ids)
        if robot in among
        and robot in dispatcher.robot_ids
        and dispatcher.leg[dispatcher.robot_ids.index(robot)] == Leg.IDLE
    ]
    return AgentStates(
        tuple(states.ids[i] for i in keep),
        states.positions[keep],
        states.headings[keep],
        states.velocities[keep],
        states.radii[keep],
        states.stamps[keep],
    )


def commit_assignments(
    dispatcher: TaskDispatcher, msg: AssignmentArray, now: float
) -> tuple[list[tuple[str, str]], list[str]]:
    """Commits the allocator's assignments to idle robots and open tasks.

    Returns:
        (task id, robot id) committed, and one problem per assignment that names no known
        robot and task (a round on stale inputs, assigning a busy robot or a taken task, is
        not a problem: it is skipped silently).
    """
    committed, problems = [], []
    for index, assignment in enumerate(msg.assignments):
        where = f"assignments[{index}]"
        if len(assignment.robot_ids) != 1:
            problems.append(f"{where}.robot_ids: expected one robot, got {assignment.robot_ids}")
            continue
        robot = assignment.robot_ids[0]
        if robot not in dispatcher.robot_ids:
            problems.append(f"{where}.robot_ids: unknown robot {robot!r}")
        elif assignment.task_id not in dispatcher.tasks:
            problems.append(f"{where}.task_id: unknown task {assignment.task_id!r}")
        elif dispatcher.assign(assignment.task_id, robot, now):
            committed.append((assignment.task_id, robot))
    return committed, problems


def warehouse_metrics(dispatcher: TaskDispatcher, now: float) -> dict:
    """The dispatcher's progress at sim time ``now`` (JSON-ready)."""
    delivered = dispatcher.deliveries
    on_time = [delivery for delivery in delivered if delivery.on_time]
    return {
        "sim_time": round(now, 3),
        "tasks_released": dispatcher.released(now),
        "tasks_open": len(dispatcher.open_tasks(now)),
        "tasks_delivered": len(delivered),
        "tasks_on_time": len(on_time),
        "value_earned": round(float(sum(d.value for d in on_time)), 6),
        "robots_busy": int(np.sum(dispatcher.leg != Leg.IDLE)),
        "delivered": [[d.task_id, dispatcher.robot_ids[d.robot]] for d in delivered],
    }


class WarehouseTasksNode(PeriodicLifecycleNode):
    """Lifecycle node running a warehouse's task dispatcher on the fleet's topics."""

    def __init__(self, node_name: str = "warehouse_tasks", **kwargs) -> None:
        super().__init__(node_name, "rate_hz", **kwargs)
        declare_value(self, "scenario", "warehouse_16", "warehouse file, or a name in sim/")
        declare_int(self, "num_robots", 0, 0, 1000, "fleet size; 0 keeps the scenario's")
        declare_int(self, "seed", -1, -1, 2**31 - 1, "sampling seed; -1 keeps the scenario's")
        declare_value(self, "frame_id", "map", "world frame of the published tasks and states")
        declare_float(self, "rate_hz", 5.0, 0.1, 50.0, "publish rate of tasks and legs [Hz]")
        declare_float(self, "stale_timeout", 2.0, 0.01, 60.0, "robot states older are ignored [s]")
        self.forget()

    def configure(self) -> bool:
        from fleetpilot.allocation.registry import make_allocator
        from fleetpilot.ros.sim_node import resolve_scenario
        from fleetpilot.sim.scenario_world import robot_names
        from fleetpilot.warehouse.scenario import load_warehouse

        value = self.get_parameter
        name, count, seed = value("scenario").value, value("num_robots").value, value("seed").value
        try:
            instance = load_warehouse(resolve_scenario(name)).sample(
                seed=None if seed < 0 else seed, num_robots=None if count == 0 else count
            )
        except (ValueError, OSError) as error:
            self.get_logger().error(f"scenario: cannot load {name!r}: {error}")
            return False
        robots = list(robot_names(instance.num_robots))  # the sim's names for the same file
        self._dispatcher = TaskDispatcher(
            # Never run: allocation rounds come from the task_allocator node (assign()).
            make_allocator("greedy"),
            robots,
            instance.homes,
            instance.tasks,
            speed=instance.world.robots[0].max_speed,
            tolerance=instance.world.goal_tolerance,
            frame=instance.layout.frame,
        )
        self._positions = np.full((len(robots), 2), np.nan)
        self._received = np.full(len(robots), -np.inf)
        self._outputs = {
            "tasks": self.publisher(TaskArray, "/fleet/tasks", 10),
            "idle": self.publisher(AgentStateArray, "/fleet/idle_robot_states", 10),
            "legs": self.publisher(TaskArray, "/fleet/legs", 10),
            "leg_assignments": self.publisher(AssignmentArray, "/fleet/leg_assignments", 10),
            "metrics": self.publisher(String, "/fleet/warehouse_metrics", 10),
        }
        self.subscribe(AgentStateArray, "/fleet/robot_states", self._on_states, COMMAND_QOS)
        self.subscribe(AssignmentArray, "/fleet/assignments", self._on_assignments, 10)
        self.get_logger().info(
            f"warehouse {instance.scenario.name}: {len(robots)} robots, "
            f"{len(instance.tasks)} tasks over {instance.scenario.horizon:g} s"
        )
        return True

    def forget(self) -> None:
        self._dispatcher: TaskDispatcher | None = None
        self._outputs: dict[str, object] = {}
        self._positions = np.zeros((0, 2))
        self._received = np.zeros(0)
        self._states: AgentStates | None = None
        self._now = 0.0
        self._last_metrics = -np.inf

    def _on_states(self, msg: AgentStateArray) -> None:
        try:
            states = agent_state_array_to_states(msg)
        except ValueError as error:
            self.get_logger().warning(f"/fleet/robot_states rejected: {error}")
            return
        dispatcher = self._dispatcher
        unknown = [robot for robot in states.ids if robot not in dispatcher.robot_ids]
        if unknown:
            self.get_logger().warning(
                f"/fleet/robot_states: ignoring unknown robots {unknown}",
                throttle_duration_sec=5.0,
            )
        stamp = time_to_seconds(msg.header.stamp)
        if stamp < self._now:
            # A restarted sim: deliveries so far stay counted, legs complete on the new time.
            self.get_logger().warning(f"/fleet/robot_states: time went back to {stamp:.3f} s")
        self._now = stamp
        arrived = time.monotonic()
        for index, robot in enumerate(states.ids):
            if robot in dispatcher.robot_ids:
                row = dispatcher.robot_ids.index(robot)
                self._positions[row] = states.positions[index]
                self._received[row] = arrived
        self._states = states
        # Robots never seen are NaN: no leg completes for them.
        for delivery in dispatcher.update(self._now, self._positions):
            self.get_logger().info(
                f"{delivery.task_id} delivered by {dispatcher.robot_ids[delivery.robot]} at "
                f"{delivery.delivery_time:.1f} s ({'on time' if delivery.on_time else 'late'})"
            )

    def _on_assignments(self, msg: AssignmentArray) -> None:
        committed, problems = commit_assignments(self._dispatcher, msg, self._now)
        for problem in problems:
            self.get_logger().warning(f"/fleet/assignments: {problem}", throttle_duration_sec=5.0)
        for task_id, robot in committed:
            self.get_logger().info(f"{task_id} -> {robot} at {self._now:.1f} s")

    def _fresh_robots(self) -> list[str]:
        timeout = self.get_parameter("stale_timeout").value
        fresh = time.monotonic() - self._received <= timeout
        return [robot for robot, ok in zip(self._dispatcher.robot_ids, fresh, strict=True) if ok]

    def tick(self) -> None:
        robots = self._fresh_robots()
        if not robots:
            return  # no live robots: nothing to allocate or steer
        dispatcher, now = self._dispatcher, self._now
        frame = self.get_parameter("frame_id").value
        self._outputs["tasks"].publish(task_array(dispatcher.open_tasks(now), frame, now))
        idle = idle_states(self._states, dispatcher, robots)
        self._outputs["idle"].publish(states_to_agent_state_array(idle, frame, now))
        legs, leg_assignments = leg_messages(dispatcher, robots, frame, now)
        self._outputs["legs"].publish(legs)
        self._outputs["leg_assignments"].publish(leg_assignments)
        if now - self._last_metrics >= 1.0:
            self._last_metrics = now
            metrics = json.dumps(warehouse_metrics(dispatcher, now))
            self._outputs["metrics"].publish(String(data=metrics))


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(WarehouseTasksNode, args)
