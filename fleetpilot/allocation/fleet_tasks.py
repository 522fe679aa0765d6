"""Fleet tasks as the allocator node sees them, and one allocation round over live robots.

ROS-free: ``fleetpilot.ros.task_allocator_node`` converts ``TaskArray``/``AgentStateArray``
messages into these and back. The cost of robot r for task t is its travel time at
``speed`` to the pickup plus the pickup -> drop-off leg; tasks not yet released or past their
deadline are forbidden (inf) for every robot and reported as unservable.

Coalition tasks (``min_robots`` > 1) are served first, by greedy coalition formation (highest
value first; cheapest useful robots added until the coalition has ``min_robots`` members and
its summed capabilities cover the task's ``requirements``); the static allocator then assigns
the remaining robots to the single-robot tasks. A robot is never assigned twice, never to a task
it lacks every required capability of (coalition member) or cannot cover alone (single task).

``RobotRoster`` decides which robots take part in a round: a robot is live while its latest
state is younger than the stale timeout; one that stops being reported (stale, or absent from
the arrays that arrive) drops out, so its tasks go to the remaining robots in the next round,
and it is usable again as soon as a fresh state of it arrives.
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
        requirements: (C,) capability levels the serving robot (or the coalition, summed) must
            cover, >= 0; empty = any robot.
    """

    id: str
    pickup: np.ndarray
    dropoff: np.ndarray | None = None
    value: float = 1.0
    min_robots: int = 1
    release: float = 0.0
    deadline: float | None = None
    requirements: np.ndarray = ()

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
        requirements = as_float_array(prefix + "requirements", self.requirements, (None,))
        if (requirements < 0).any():
            raise ValueError(f"{prefix}requirements: expected levels >= 0, got {requirements}")
        object.__setattr__(self, "requirements", requirements)

    @property
    def leg_length(self) -> float:
        """Pickup -> drop-off distance [m] (0 for visit-only tasks)."""
        return 0.0 if self.dropoff is None else float(np.linalg.norm(self.dropoff - self.pickup))


class RobotRoster:
    """Latest position and receive time of every robot seen; which are live now.

    Times are on one monotonic clock chosen by the caller (the node uses the steady clock), so
    the same sequence of ``update``/``live`` calls always gives the same answer.

    Args:
        stale_timeout: a robot whose latest state is older than this drops out [s], > 0.
    """

    def __init__(self, stale_timeout: float) -> None:
        if not math.isfinite(stale_timeout) or stale_timeout <= 0:
            raise ValueError(
                f"stale_timeout: expected a positive finite number, got {stale_timeout!r}"
            )
        self.stale_timeout = float(stale_timeout)
        self._latest: dict[str, tuple[float, np.ndarray]] = {}
        self._live: tuple[str, ...] = ()

    def update(self, robot_ids, positions: np.ndarray, now: float) -> None:
        """Records states received at ``now``.

        Args:
            robot_ids: (N,) unique robot names.
            positions: (N, 2) float64 positions [m], world frame.
            now: receive time [s].
        """
        robot_ids = [str(robot_id) for robot_id in robot_ids]
        positions = as_float_array("positions", positions, (len(robot_ids), 2))
        if len(set(robot_ids)) != len(robot_ids) or not all(robot_ids):
            raise ValueError(f"robot_ids: expected unique non-empty ids, got {robot_ids}")
        for robot_id, position in zip(robot_ids, positions, strict=True):
            self._latest[robot_id] = (float(now), position.copy())

    def live(self, now: float) -> tuple[list[str], np.ndarray, list[str], list[str]]:
        """The robots usable at ``now``, sorted by id, and the changes since the last call.

        Returns:
            ids: live robot ids; positions: (L, 2) their latest positions [m];
            dropped: ids live at the previous call and not now; returned: the reverse.
        """
        ids = sorted(
            robot_id
            for robot_id, (seen, _) in self._latest.items()
            if now - seen <= self.stale_timeout
        )
        positions = np.array([self._latest[r][1] for r in ids]).reshape(len(ids), 2)
        dropped = [r for r in self._live if r not in ids]
        returned = [r for r in ids if r not in self._live]
        self._live = tuple(ids)
        return ids, positions, dropped, returned

    @property
    def seen(self) -> bool:
        """Whether any robot state was ever recorded."""
        return bool(self._latest)


@dataclass(frozen=True)
class TaskAssignment:
    """One robot serving one task, with the allocator's cost estimate [s]."""

    task_id: str
    robot_ids: tuple[str, ...]
    expected_cost: float


def travel_cost(
    positions: np.ndarray,
    tasks: list[FleetTask],
    speed: float,
    now: float,
    coalitions: bool = False,
):
    """(R, T) travel time [s] of every robot for every task; inf where forbidden.

    Coalition tasks are forbidden unless ``coalitions`` (their robots are chosen separately).
    """
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed: expected a positive finite number, got {speed!r}")
    positions = as_float_array("positions", positions, (None, 2))
    if not tasks:
        return np.zeros((len(positions), 0))
    pickups = np.array([task.pickup for task in tasks])
    legs = np.array([task.leg_length for task in tasks])
    cost = (np.linalg.norm(positions[:, None] - pickups[None], axis=-1) + legs) / speed
    for column, task in enumerate(tasks):
        if task.release > now or (task.min_robots > 1 and not coalitions):
            cost[:, column] = np.inf
        elif task.deadline is not None:
            cost[now + cost[:, column] > task.deadline, column] = np.inf
    return cost


def _levels(capabilities: np.ndarray | None, robots: int, count: int) -> np.ndarray:
    """(R, count) levels of the first ``count`` capabilities; 0 beyond C (None: no levels)."""
    levels = np.zeros((robots, count))
    if capabilities is not None:
        width = min(count, capabilities.shape[1])
        levels[:, :width] = capabilities[:, :width]
    return levels


def capability_masks(capabilities: np.ndarray | None, tasks: list[FleetTask], robots: int):
    """Which robots may serve each task alone, and which may join its coalition.

    Args:
        capabilities: (R, C) capability levels per robot, >= 0, or None (no capabilities);
            capabilities beyond C are 0.
        tasks: T tasks.
        robots: R.

    Returns:
        alone: (R, T) bool, the robot covers every requirement by itself;
        helps: (R, T) bool, the robot has a positive level of some required capability (or the
        task requires nothing).
    """
    if capabilities is None:
        capabilities = np.zeros((robots, 0))
    capabilities = as_float_array("capabilities", capabilities, (robots, None))
    if (capabilities < 0).any():
        raise ValueError(f"capabilities: expected levels >= 0, got {capabilities}")
    alone = np.ones((robots, len(tasks)), dtype=bool)
    helps = np.ones((robots, len(tasks)), dtype=bool)
    for column, task in enumerate(tasks):
        need = task.requirements
        if not (need > 0).any():
            continue
        have = _levels(capabilities, robots, len(need))
        alone[:, column] = (have >= need - 1e-9).all(axis=1)
        helps[:, column] = ((have > 0) & (need > 0)).any(axis=1)
    return alone, helps


def form_coalitions(
    travel: np.ndarray,
    capabilities: np.ndarray | None,
    tasks: list[FleetTask],
    helps: np.ndarray,
    free: np.ndarray,
) -> dict[int, list[int]]:
    """Greedy coalition formation for the coalition tasks, highest value first.

    Each coalition grows by the cheapest free robot that can reach the task in time and still
    covers part of the remaining requirement (or, once covered, any helping robot) until it has
    ``min_robots`` members and covers the requirements; otherwise the task gets nobody.

    Args:
        travel: (R, T) travel times [s], inf where the robot cannot make it.
        capabilities: (R, C) or None.
        tasks: T tasks.
        helps: (R, T) bool from ``capability_masks``.
        free: (R,) bool, robots not yet used; updated in place.

    Returns:
        Task column -> member robot rows, for the coalitions formed.
    """
    robots = len(free)
    order = sorted(
        (column for column, task in enumerate(tasks) if task.min_robots > 1),
        key=lambda column: (-tasks[column].value, tasks[column].id),
    )
    formed = {}
    for column in order:
        task = tasks[column]
        remaining = task.requirements.copy()
        have = _levels(capabilities, robots, len(remaining))
        candidates = [
            r
            for r in np.argsort(travel[:, column], kind="stable")
            if free[r] and helps[r, column] and np.isfinite(travel[r, column])
        ]
        members = []
        for robot in candidates:
            covered = (remaining <= 1e-9).all()
            if covered and len(members) >= task.min_robots:
                break
            if not covered and not (np.minimum(have[robot], remaining) > 1e-9).any():
                continue  # adds nothing still missing; keep it for later tasks
            members.append(int(robot))
            remaining = np.maximum(remaining - have[robot], 0.0)
        if (remaining <= 1e-9).all() and len(members) >= task.min_robots:
            formed[column] = members
            free[members] = False
    return formed


def allocate(
    allocator: StaticAllocator,
    robot_ids: list[str],
    positions: np.ndarray,
    tasks: list[FleetTask],
    speed: float,
    now: float,
    capabilities: np.ndarray | None = None,
) -> tuple[list[TaskAssignment], list[str]]:
    """One allocation round: assignments, and the ids of tasks nobody can serve now.

    Args:
        allocator: static allocator for the single-robot tasks.
        robot_ids: (R,) robot names; positions: (R, 2) [m], world frame.
        tasks: open tasks (unique ids).
        speed: robot speed [m/s]; now: current time [s].
        capabilities: (R, C) capability levels per robot, or None (robots have none: only
            tasks without positive requirements can be served).

    Returns:
        Assignments (a coalition's ``expected_cost`` is when its last member finishes [s]),
        and the ids of tasks that got nobody although no robot was busy elsewhere for them.
    """
    ids = [task.id for task in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"tasks: expected unique task ids, got {ids}")
    travel = travel_cost(positions, tasks, speed, now, coalitions=True)
    if not tasks or not robot_ids:
        return [], ids
    alone, helps = capability_masks(capabilities, tasks, len(robot_ids))
    free = np.ones(len(robot_ids), dtype=bool)
    formed = form_coalitions(travel, capabilities, tasks, helps, free)
    assignments = [
        TaskAssignment(
            tasks[t].id,
            tuple(robot_ids[r] for r in members),
            float(travel[members, t].max()),
        )
        for t, members in sorted(formed.items())
    ]
    single = np.array([task.min_robots == 1 for task in tasks])
    cost = np.where(alone & single[None] & free[:, None], travel, np.inf)
    choice = allocator.assign(cost)
    assignments += [
        TaskAssignment(tasks[t].id, (robot_ids[r],), float(cost[r, t]))
        for r, t in enumerate(choice)
        if t >= 0 and np.isfinite(cost[r, t])
    ]
    reachable = np.isfinite(travel)
    unservable = []
    for column, task in enumerate(tasks):
        if column in formed:
            continue
        if task.min_robots == 1:
            servable = (reachable[:, column] & alone[:, column]).any()
        else:  # could all reachable helping robots together form it?
            rows = reachable[:, column] & helps[:, column]
            probe = np.ones(len(robot_ids), dtype=bool)
            servable = bool(
                rows.sum() >= task.min_robots
                and form_coalitions(
                    np.where(rows[:, None], travel[:, [column]], np.inf),
                    capabilities,
                    [task],
                    helps[:, [column]],
                    probe,
                )
            )
        if not servable:
            unservable.append(task.id)
    return assignments, unservable
