"""Fleet tasks as the allocator node sees them, and one allocation round over live robots.

ROS-free: ``fleetpilot.ros.task_allocator_node`` converts ``TaskArray``/``AgentStateArray``
messages into these and back. The cost of robot r for task t is its travel time at
``speed`` to the pickup plus the pickup -> drop-off leg; tasks not yet released, past their
deadline, or needing a coalition (``min_robots`` > 1, which the static allocators cannot form)
are forbidden (inf) for every robot and reported as skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleetpilot.agent_states import as_float_array
from fleetpilot.allocation.registry import StaticAllocator


@dataclass(frozen=True)
class FleetTask:
    """One task.

    Attributes:
        id: unique, non-empty.
        pickup: (2,) pickup position [m], world frame.
        dropoff: (2,) drop-off position [m], or None for visit-only tasks.
        value: reward [1], >= 0.
        min_robots: coalition size, >= 1.
        release: earliest start [s]; deadline: completion deadline [s], or None.
    """

    id: str
    pickup: np.ndarray
    dropoff: np.ndarray | None = None
    value: float = 1.0
    min_robots: int = 1
    release: float = 0.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id: expected a non-empty task id")
        prefix = f"task {self.id!r}: "
        object.__setattr__(self, "pickup", as_float_array(prefix + "pickup", self.pickup, (2,)))
        if self.dropoff is not None:
            dropoff = as_float_array(prefix + "dropoff", self.dropoff, (2,))
            object.__setattr__(self, "dropoff", dropoff)
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"{prefix}value: expected a finite number >= 0, got {self.value!r}")
        if self.min_robots < 1:
            raise ValueError(f"{prefix}min_robots: expected >= 1, got {self.min_robots!r}")
        if not math.isfinite(self.release):
            raise ValueError(f"{prefix}release: expected a finite time, got {self.release!r}")
        if self.deadline is not None and not math.isfinite(self.deadline):
            raise ValueError(f"{prefix}deadline: expected a finite time, got {self.deadline!r}")

    @property
    def leg_length(self) -> float:
        """Pickup -> drop-off distance [m] (0 for visit-only tasks)."""
        return 0.0 if self.dropoff is None else float(np.linalg.norm(self.dropoff - self.pickup))


@dataclass(frozen=True)
class TaskAssignment:
    """One robot serving one task, with the allocator's cost estimate [s]."""

    task_id: str
    robot_ids: tuple[str, ...]
    expected_cost: float


def travel_cost(positions: np.ndarray, tasks: list[FleetTask], speed: float, now: float):
    """(R, T) travel time [s] of every robot for every task; inf where forbidden."""
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed: expected a positive finite number, got {speed!r}")
    positions = as_float_array("positions", positions, (None, 2))
    if not tasks:
        return np.zeros((len(positions), 0))
    pickups = np.array([task.pickup for task in tasks])
    legs = np.array([task.leg_length for task in tasks])
    cost = (np.linalg.norm(positions[:, None] - pickups[None], axis=-1) + legs) / speed
    for column, task in enumerate(tasks):
        if task.release > now or task.min_robots > 1:
            cost[:, column] = np.inf
        elif task.deadline is not None:
            cost[now + cost[:, column] > task.deadline, column] = np.inf
    return cost


def allocate(
    allocator: StaticAllocator,
    robot_ids: list[str],
    positions: np.ndarray,
    tasks: list[FleetTask],
    speed: float,
    now: float,
) -> tuple[list[TaskAssignment], list[str]]:
    """One allocation round: assignments, and the ids of tasks nobody can serve now."""
    ids = [task.id for task in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"tasks: expected unique task ids, got {ids}")
    cost = travel_cost(positions, tasks, speed, now)
    if not tasks or not robot_ids:
        return [], ids
    choice = allocator.assign(cost)
    assignments = [
        TaskAssignment(tasks[t].id, (robot_ids[r],), float(cost[r, t]))
        for r, t in enumerate(choice)
        if t >= 0 and np.isfinite(cost[r, t])
    ]
    unservable = [
        task.id for column, task in enumerate(tasks) if not np.isfinite(cost[:, column]).any()
    ]
    return assignments, unservable
