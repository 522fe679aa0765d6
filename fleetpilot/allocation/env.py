"""Batched, seeded dynamic task-allocation environment (capability matching, pickup-and-delivery).

Robots have capability vectors (levels in [0, 1] per capability, 0 = lacks it), a cost rate per
busy step and a position on a unit-square map. Tasks arrive over time into a queue; the oldest
``n_active`` queued tasks are offered for allocation. A task has a requirement vector (one
robot's level is at most 1, so requirements above 1 need a coalition), a value, a pickup and a
drop-off point and a deadline. Each step the allocator may send free robots to active tasks; a
task whose coalition covers its requirement is done and pays

    reward = value - sum over members of cost_rate * (travel_steps + service_steps),

the members stay busy for ``ceil(travel_steps + service_steps)`` steps and end at the drop-off.
A coalition that does not cover the requirement is ignored (its robots stay free). Queued tasks
expire after their deadline; a task arriving at a full queue is dropped.

Families: ``capability`` (the RBF-like setting of Gong et al. 2024: no travel, 100 robots,
5 active of a queue of 30, a new task every 5 steps) and ``pickup`` (spatial pickup-and-delivery:
travel from the robot to the pickup and on to the drop-off, which must start by the deadline).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NO_TASK = -1
_QUEUED, _FUTURE, _DONE, _EXPIRED, _DROPPED = 1, 0, 2, 3, 4


@dataclass(frozen=True)
class EnvConfig:
    """Settings of one dynamic allocation environment.

    Attributes:
        family: name of the task family (``capability`` or ``pickup``), for reports.
        n_robots: robots per environment.
        queue_size: most tasks waiting at once; arrivals beyond it are dropped.
        n_active: oldest queued tasks offered to the allocator each step.
        task_rate: new tasks per step (0.2 = one every 5 steps).
        initial_tasks: tasks already queued at step 0.
        episode_steps: steps per episode.
        n_capabilities: length of capability and requirement vectors.
        max_coalition: most robots one task may use.
        deadline_steps: steps after arrival by which a task must be started.
        service_steps: busy steps at the task besides travel.
        spatial: whether travel counts (pickup-and-delivery) or not (capability matching).
        speed: map units (unit square) per step when spatial.
        capability_prob: probability that a robot has each capability.
        requirement_prob: probability that a task needs each capability.
        requirement_max: largest requirement per capability (> 1 needs coalitions).
        value_scale: task value = value_scale * sum(requirement) * U(0.3, 1.5).
        cost_base: cost rate per busy step of a robot with no capability.
        cost_per_capability: extra cost rate per unit of summed capability level.
    """

    family: str = "capability"
    n_robots: int = 100
    queue_size: int = 30
    n_active: int = 5
    task_rate: float = 0.2
    initial_tasks: int = 5
    episode_steps: int = 200
    n_capabilities: int = 3
    max_coalition: int = 4
    deadline_steps: int = 30
    service_steps: int = 10
    spatial: bool = False
    speed: float = 0.05
    capability_prob: float = 0.5
    requirement_prob: float = 0.5
    requirement_max: float = 1.6
    value_scale: float = 0.8
    cost_base: float = 0.02
    cost_per_capability: float = 0.04

    def __post_init__(self) -> None:
        positive_ints = ("n_robots", "queue_size", "n_active", "episode_steps", "n_capabilities")
        for name in (*positive_ints, "max_coalition", "deadline_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"EnvConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_active > self.queue_size:
            raise ValueError(
                f"EnvConfig.n_active ({self.n_active}) must be <= queue_size ({self.queue_size})"
            )
        if not 0.0 < self.task_rate <= 10.0:
            raise ValueError(f"EnvConfig.task_rate must be in (0, 10], got {self.task_rate}")
        if not 0 <= self.initial_tasks <= self.queue_size:
            raise ValueError(
                f"EnvConfig.initial_tasks must be in [0, queue_size], got {self.initial_tasks}"
            )
        for name in ("service_steps",):
            if getattr(self, name) < 0:
                raise ValueError(f"EnvConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("capability_prob", "requirement_prob"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"EnvConfig.{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("speed", "requirement_max", "value_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"EnvConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.cost_base < 0 or self.cost_per_capability < 0:
            raise ValueError("EnvConfig.cost_base and cost_per_capability must be >= 0")

    @property
    def n_tasks_total(self) -> int:
        """Tasks generated per episode (initial ones plus arrivals)."""
        return self.initial_tasks + int(np.ceil(self.episode_steps * self.task_rate))


def capability_config(**overrides) -> EnvConfig:
    """The RBF-like capability-matching family (no travel)."""
    return dataclasses.replace(EnvConfig(family="capability", spatial=False), **overrides)


def pickup_config(**overrides) -> EnvConfig:
    """Spatial pickup-and-delivery on the unit square (travel costs time and money)."""
    defaults = EnvConfig(
        family="pickup",
        spatial=True,
        deadline_steps=20,
        service_steps=2,
        value_scale=2.0,
        cost_base=0.01,
        cost_per_capability=0.02,
    )
    return dataclasses.replace(defaults, **overrides)


ENV_FAMILIES: dict[str, Callable[..., EnvConfig]] = {
    "capability": capability_config,
    "pickup": pickup_config,
}


def make_env_config(family: str, **overrides) -> EnvConfig:
    """Config of a registered family with field overrides (e.g. ``n_robots=200``)."""
    if family not in ENV_FAMILIES:
        raise ValueError(f"unknown env family {family!r}; known: {sorted(ENV_FAMILIES)}")
    return ENV_FAMILIES[family](**overrides)


@dataclass
class AllocationObs:
    """What an allocator sees at one step (B environments, R robots, K active task slots).

    Attributes:
        capabilities: (B, R, C) robot capability levels in [0, 1].
        cost_rate: (B, R) robot cost per busy step.
        robot_position: (B, R, 2) map position (unit square).
        robot_free: (B, R) bool, robot can take a task now.
        requirement: (B, K, C) requirement per active task (0 in empty slots).
        value: (B, K) task value (0 in empty slots).
        pickup: (B, K, 2) and dropoff: (B, K, 2) task points.
        time_left: (B, K) steps until the task's deadline.
        task_valid: (B, K) bool, slot holds a queued task.
        member_cost: (B, R, K) cost if the robot joins the task (travel and time).
        busy_steps: (B, R, K) steps the robot would be busy.
        eligible: (B, R, K) bool: robot free, slot valid, robot has at least one required
            capability and (spatial) reaches the pickup by the deadline.
        task_index: (B, K) index of the task in the episode (-1 in empty slots).
        step: current step.
    """

    capabilities: np.ndarray
    cost_rate: np.ndarray
    robot_position: np.ndarray
    robot_free: np.ndarray
    requirement: np.ndarray
    value: np.ndarray
    pickup: np.ndarray
    dropoff: np.ndarray
    time_left: np.ndarray
    task_valid: np.ndarray
    member_cost: np.ndarray
    busy_steps: np.ndarray
    eligible: np.ndarray
    task_index: np.ndarray
    step: int


def coalition_covers(capabilities: np.ndarray, requirement: np.ndarray) -> np.ndarray:
    """Whether summed capabilities meet a requirement.

    Args:
        capabilities: (..., C) summed capability levels of a coalition.
        requirement: (..., C) requirement.

    Returns:
        (...) bool.
    """
    return np.all(capabilities >= requirement - 1e-9, axis=-1)


class AllocationEnv:
    """B independent copies of one :class:`EnvConfig`, reset from one seed."""

    def __init__(self, config: EnvConfig, batch_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.config = config
        self.batch_size = batch_size
        self.step_count = 0

    # ---------------------------------------------------------------- generation
    def _sample_robots(self, rng: np.random.Generator) -> None:
        c, shape = self.config, (self.batch_size, self.config.n_robots)
        has = rng.random((*shape, c.n_capabilities)) < c.capability_prob
        # Every robot has at least one capability.
        none = ~has.any(-1)
        has[none, rng.integers(0, c.n_capabilities, size=int(none.sum()))] = True
        self.capabilities = has * rng.uniform(0.4, 1.0, size=has.shape)
        spread = rng.uniform(0.5, 1.5, size=shape)
        self.cost_rate = spread * (c.cost_base + c.cost_per_capability * self.capabilities.sum(-1))
        self.robot_position = rng.random((*shape, 2)) if c.spatial else np.zeros((*shape, 2))
        self.busy_until = np.zeros(shape, dtype=np.int64)

    def _sample_tasks(self, rng: np.random.Generator) -> None:
        c = self.config
        shape = (self.batch_size, c.n_tasks_total)
        needs = rng.random((*shape, c.n_capabilities)) < c.requirement_prob
        none = ~needs.any(-1)
        needs[none, rng.integers(0, c.n_capabilities, size=int(none.sum()))] = True
        self.task_requirement = needs * rng.uniform(0.3, c.requirement_max, size=needs.shape)
        self.task_value = (
            c.value_scale * self.task_requirement.sum(-1) * rng.uniform(0.3, 1.5, size=shape)
        )
        points = rng.random((*shape, 2, 2)) if c.spatial else np.zeros((*shape, 2, 2))
        self.task_pickup, self.task_dropoff = points[..., 0, :], points[..., 1, :]
        arrival_rank = np.arange(c.n_tasks_total) - c.initial_tasks
        arrival = np.where(arrival_rank < 0, 0, np.floor(arrival_rank / c.task_rate) + 1)
        self.task_arrival = np.broadcast_to(arrival.astype(np.int64), shape).copy()
        self.task_deadline = self.task_arrival + c.deadline_steps
        self.task_status = np.full(shape, _FUTURE, dtype=np.int8)

    # ---------------------------------------------------------------- dynamics
    def reset(self, seed: int, group_size: int = 1) -> AllocationObs:
        """Starts new episodes; the same seed gives the same robots and task streams.

        Args:
            seed: seed of the whole batch.
            group_size: consecutive environments that share one instance (same robots and
                tasks), e.g. to compare several rollouts of a policy on the same instance;
                must divide the batch size.
        """
        if group_size < 1 or self.batch_size % group_size:
            raise ValueError(f"group_size {group_size} must divide batch_size {self.batch_size}")
        rng = np.random.default_rng(seed)
        full_batch = self.batch_size
        self.batch_size = full_batch // group_size
        self._sample_robots(rng)
        self._sample_tasks(rng)
        self.batch_size = full_batch
        for name in (
            "capabilities",
            "cost_rate",
            "robot_position",
            "busy_until",
            "task_requirement",
            "task_value",
            "task_pickup",
            "task_dropoff",
            "task_arrival",
            "task_deadline",
            "task_status",
        ):
            setattr(self, name, np.repeat(getattr(self, name), group_size, axis=0))
        self.step_count = 0
        self.totals = {
            name: np.zeros(self.batch_size)
            for name in ("reward", "value", "cost", "done", "expired", "dropped", "ignored")
        }
        self._admit_arrivals()
        return self.observe()

    def _admit_arrivals(self) -> None:
        arriving = (self.task_status == _FUTURE) & (self.task_arrival <= self.step_count)
        for index in np.flatnonzero(arriving.any(0)):  # tasks arrive in index order
            queued = (self.task_status == _QUEUED).sum(1)
            admit = arriving[:, index] & (queued < self.config.queue_size)
            drop = arriving[:, index] & ~admit
            self.task_status[admit, index] = _QUEUED
            self.task_status[drop, index] = _DROPPED
            self.totals["dropped"] += drop

    def _active_slots(self) -> np.ndarray:
        queued = self.task_status == _QUEUED
        n_tasks = queued.shape[1]
        # Oldest first: queued tasks sort by index, the rest after them.
        key = np.where(queued, 0, n_tasks) + np.arange(n_tasks)
        slots = np.argsort(key, axis=1, kind="stable")[:, : self.config.n_active]
        valid = np.take_along_axis(queued, slots, axis=1)
        slots = np.where(valid, slots, NO_TASK)
        missing = self.config.n_active - slots.shape[1]  # fewer tasks in the episode than slots
        return np.pad(slots, ((0, 0), (0, missing)), constant_values=NO_TASK)

    def observe(self) -> AllocationObs:
        """Observation of the current step (see :class:`AllocationObs`)."""
        c = self.config
        task_index = self._active_slots()
        self._task_index = task_index
        valid = task_index >= 0
        safe = np.where(valid, task_index, 0)

        def gather(values: np.ndarray) -> np.ndarray:
            picked = np.take_along_axis(
                values, safe.reshape(*safe.shape, *[1] * (values.ndim - 2)), axis=1
            )
            return np.where(valid.reshape(*valid.shape, *[1] * (values.ndim - 2)), picked, 0)

        requirement = gather(self.task_requirement)
        value = gather(self.task_value)
        pickup, dropoff = gather(self.task_pickup), gather(self.task_dropoff)
        deadline = gather(self.task_deadline)
        time_left = np.where(valid, deadline - self.step_count, 0)
        free = self.busy_until <= self.step_count
        if c.spatial:
            to_pickup = np.linalg.norm(self.robot_position[:, :, None] - pickup[:, None], axis=-1)
            carry = np.linalg.norm(dropoff - pickup, axis=-1)[:, None, :]
            reach_steps = to_pickup / c.speed
            travel = reach_steps + carry / c.speed
            in_time = reach_steps <= time_left[:, None, :] + 1e-9
        else:
            travel = np.zeros((self.batch_size, c.n_robots, c.n_active))
            in_time = np.ones_like(travel, dtype=bool)
        busy_steps = np.ceil(travel + c.service_steps - 1e-9)
        member_cost = self.cost_rate[:, :, None] * (travel + c.service_steps)
        useful = ((self.capabilities[:, :, None, :] > 0) & (requirement[:, None] > 0)).any(-1)
        eligible = free[:, :, None] & valid[:, None, :] & useful & in_time
        return AllocationObs(
            capabilities=self.capabilities,
            cost_rate=self.cost_rate,
            robot_position=self.robot_position,
            robot_free=free,
            requirement=requirement,
            value=value,
            pickup=pickup,
            dropoff=dropoff,
            time_left=time_left,
            task_valid=valid,
            member_cost=member_cost,
            busy_steps=busy_steps,
            eligible=eligible,
            task_index=task_index,
            step=self.step_count,
        )

    def step(
        self, obs: AllocationObs, action: np.ndarray
    ) -> tuple[AllocationObs, np.ndarray, bool]:
        """Applies one allocation decision.

        Args:
            obs: the observation the action was computed from (current step).
            action: (B, R) int active-slot index per robot, -1 = stay idle.

        Returns:
            (next observation, (B,) reward of this step, whether the episodes ended).

        Raises:
            ValueError: if a robot is sent to a slot it is not eligible for, or a coalition is
                larger than ``max_coalition``.
        """
        c = self.config
        action = np.asarray(action)
        if action.shape != (self.batch_size, c.n_robots):
            raise ValueError(f"action shape {action.shape} != {(self.batch_size, c.n_robots)}")
        if (action < NO_TASK).any() or (action >= c.n_active).any():
            raise ValueError(
                f"action entries must be in [-1, {c.n_active}), got {action.min()}..{action.max()}"
            )
        joins = action[:, :, None] == np.arange(c.n_active)  # (B, R, K)
        bad = joins & ~obs.eligible
        if bad.any():
            b, r, k = np.argwhere(bad)[0]
            raise ValueError(
                f"robot {r} (env {b}) sent to task slot {k} it cannot serve "
                "(busy, empty slot, no required capability or cannot reach it in time)"
            )
        size = joins.sum(1)
        if (size > c.max_coalition).any():
            raise ValueError(f"coalition of {size.max()} robots > max_coalition {c.max_coalition}")
        coverage = np.einsum("brk,brc->bkc", joins, self.capabilities)
        done = coalition_covers(coverage, obs.requirement) & (size > 0)
        members = joins & done[:, None, :]
        cost = (members * obs.member_cost).sum((1, 2))
        value = (obs.value * done).sum(1)
        reward = value - cost
        self.totals["ignored"] += ((size > 0) & ~done).sum(1)
        self.totals["done"] += done.sum(1)
        self.totals["value"] += value
        self.totals["cost"] += cost
        self.totals["reward"] += reward
        # Members become busy and end at the drop-off.
        member_robot = members.any(2)
        slot = np.argmax(members, axis=2)
        busy = np.take_along_axis(obs.busy_steps, slot[:, :, None], axis=2)[..., 0]
        self.busy_until = np.where(member_robot, self.step_count + busy, self.busy_until).astype(
            np.int64
        )
        if c.spatial:
            end = np.take_along_axis(obs.dropoff, slot[:, :, None].repeat(2, -1), axis=1)
            self.robot_position = np.where(member_robot[..., None], end, self.robot_position)
        b_idx, k_idx = np.nonzero(done)
        self.task_status[b_idx, self._task_index[b_idx, k_idx]] = _DONE
        # Advance time: expire overdue tasks, admit new arrivals.
        self.step_count += 1
        overdue = (self.task_status == _QUEUED) & (self.task_deadline < self.step_count)
        self.task_status[overdue] = _EXPIRED
        self.totals["expired"] += overdue.sum(1)
        self._admit_arrivals()
        finished = self.step_count >= c.episode_steps
        return self.observe(), reward, finished
