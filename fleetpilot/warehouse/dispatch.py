"""Who carries what: each robot's task and leg, allocation rounds, pickups and deliveries.

A robot is idle (driving back to its parking cell, or parked there), on its way to a task's pick
station, or carrying it to the drop station. Every allocation round the allocator sees the idle
robots and the open tasks (released, unassigned, still deliverable before their deadline at
the fleet's speed); a robot that reaches its station completes that leg: on a grid floor, by
entering the station's cell (the planner's notion of arrival: a second robot can share the
cell, and waiting for the exact centre then deadlocks the two), otherwise within the goal
tolerance of it.
A task is worth its value only if delivered by its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from fleetpilot.allocation.fleet_tasks import FleetTask, allocate
from fleetpilot.allocation.registry import StaticAllocator
from fleetpilot.mapf.waypoints import GridFrame


class Leg(IntEnum):
    """What a robot is doing."""

    IDLE = 0
    TO_PICKUP = 1
    TO_DROPOFF = 2


@dataclass(frozen=True)
class Delivery:
    """One delivered task.

    Attributes:
        task_id, robot: which task, by which robot index.
        release, pickup_time, delivery_time: [s] simulated.
        value: the task's value; earned only when ``on_time``.
        on_time: delivered by the deadline.
    """

    task_id: str
    robot: int
    release: float
    pickup_time: float
    delivery_time: float
    value: float
    on_time: bool


class TaskDispatcher:
    """Task state of a fleet.

    Args:
        allocator: a static allocator (``fleetpilot.allocation.registry.make_allocator``).
        robot_ids: N names.
        homes: (N, 2) parking positions [m].
        tasks: the whole task stream (released over time).
        speed: the fleet's nominal speed for the allocator's travel-time costs [m/s].
        tolerance: a robot this close to its station has reached it [m].
        frame: the floor's grid; a robot inside its station's cell has reached it.
    """

    def __init__(
        self,
        allocator: StaticAllocator,
        robot_ids: list[str],
        homes: np.ndarray,
        tasks: list[FleetTask],
        speed: float,
        tolerance: float,
        frame: GridFrame | None = None,
    ) -> None:
        self.allocator, self.robot_ids = allocator, list(robot_ids)
        self.homes = np.asarray(homes, dtype=float)
        self.tasks = {task.id: task for task in tasks}
        self._pending = sorted(tasks, key=lambda task: task.release)
        self.speed, self.tolerance, self.frame = speed, tolerance, frame
        count = len(self.robot_ids)
        self.leg = np.full(count, Leg.IDLE, dtype=np.int64)
        self.task: list[str | None] = [None] * count
        self._pickup_time = np.zeros(count)
        self.deliveries: list[Delivery] = []
        self.assigned: set[str] = set()

    def open_tasks(self, now: float) -> list[FleetTask]:
        """Released, unassigned tasks whose deadline has not passed."""
        return [
            task
            for task in self._pending
            if task.release <= now
            and task.id not in self.assigned
            and (task.deadline is None or task.deadline > now)
        ]

    def released(self, now: float) -> int:
        """Tasks released so far."""
        return sum(task.release <= now for task in self._pending)

    def goals(self) -> np.ndarray:
        """(N, 2) where each robot is heading [m]: its station, or home when idle."""
        goals = self.homes.copy()
        # Python ints: comparing numpy scalars with the enum costs microseconds per robot.
        for robot, (task_id, leg) in enumerate(zip(self.task, self.leg.tolist(), strict=True)):
            if task_id is None:
                continue
            task = self.tasks[task_id]
            goals[robot] = task.pickup if leg == Leg.TO_PICKUP else task.dropoff
        return goals

    def update(self, now: float, positions: np.ndarray) -> list[Delivery]:
        """Completes the legs whose station a robot has reached; returns new deliveries."""
        goals = self.goals()
        reached = np.linalg.norm(positions - goals, axis=1) <= self.tolerance
        if self.frame is not None:
            same_cell = self.frame.to_cells(positions) == self.frame.to_cells(goals)
            reached |= same_cell.all(axis=1)
        delivered = []
        for robot in np.flatnonzero(reached & (self.leg != Leg.IDLE)):
            task = self.tasks[self.task[robot]]
            if self.leg[robot] == Leg.TO_PICKUP:
                self._pickup_time[robot] = now
                self.leg[robot] = Leg.TO_DROPOFF if task.dropoff is not None else Leg.IDLE
                if task.dropoff is not None:
                    continue
            delivered.append(
                Delivery(
                    task_id=task.id,
                    robot=int(robot),
                    release=task.release,
                    pickup_time=float(self._pickup_time[robot]),
                    delivery_time=now,
                    value=task.value,
                    on_time=task.deadline is None or now <= task.deadline,
                )
            )
            self.leg[robot], self.task[robot] = Leg.IDLE, None
        self.deliveries.extend(delivered)
        return delivered

    def allocate(self, now: float, positions: np.ndarray) -> int:
        """One allocation round over the idle robots; returns how many tasks were assigned."""
        idle = np.flatnonzero(self.leg == Leg.IDLE)
        tasks = self.open_tasks(now)
        if not len(idle) or not tasks:
            return 0
        ids = [self.robot_ids[robot] for robot in idle]
        assignments, _ = allocate(self.allocator, ids, positions[idle], tasks, self.speed, now)
        return sum(self.assign(a.task_id, a.robot_ids[0], now) for a in assignments)

    def assign(self, task_id: str, robot_id: str, now: float) -> bool:
        """Commits an idle robot to an open task (from this dispatcher's allocation round or
        an outside allocator's decision); returns False, changing nothing, when the robot is
        unknown or busy or the task is unknown, taken, unreleased or expired."""
        if robot_id not in self.robot_ids or task_id not in self.tasks:
            return False
        robot = self.robot_ids.index(robot_id)
        if self.leg[robot] != Leg.IDLE or task_id not in {t.id for t in self.open_tasks(now)}:
            return False
        self.task[robot], self.leg[robot] = task_id, Leg.TO_PICKUP
        self.assigned.add(task_id)
        return True
