"""What a warehouse episode achieved: deliveries, value, safety, deadlocks, interventions."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from fleetpilot.sim.world import Contact
from fleetpilot.warehouse.dispatch import Delivery
from fleetpilot.warehouse.pipeline import PipelineSpec


@dataclass(frozen=True)
class WarehouseMetrics:
    """One episode's summary.

    Attributes:
        scenario, seed, num_robots: what ran.
        allocator, planner, controller, tuner: the stack.
        simulated_time: [s].
        tasks_released, tasks_delivered, tasks_on_time: counts.
        deliveries_per_hour: delivered tasks per simulated hour.
        mean_delivery_time: release -> delivery, over delivered tasks [s] (nan if none).
        value_earned: summed value of the tasks delivered by their deadline.
        collisions: PyBullet contact starts of robots with anything; by kind in
            ``contacts_by_kind`` (``robot`` counted per pair).
        deadlock_events: times a robot with a task stalled for the deadlock time.
        deadlocked_at_end: robots stalled with a task at the end.
        intervention_rate: fraction of robot-ticks where the safety filter changed the command.
        min_distance: smallest centre distance between two robots [m].
        wall_seconds, real_time_factor: loop time and simulated seconds per wall second.
    """

    scenario: str
    seed: int
    num_robots: int
    allocator: str
    planner: str
    controller: str
    tuner: str
    simulated_time: float
    tasks_released: int
    tasks_delivered: int
    tasks_on_time: int
    deliveries_per_hour: float
    mean_delivery_time: float
    value_earned: float
    collisions: int
    contacts_by_kind: dict[str, int] = field(default_factory=dict)
    deadlock_events: int = 0
    deadlocked_at_end: int = 0
    intervention_rate: float = 0.0
    min_distance: float = math.inf
    wall_seconds: float = 0.0
    real_time_factor: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready (non-finite floats become None)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


class WarehouseTracker:
    """Accumulates per-tick safety and progress signals and the deliveries.

    Args:
        num_robots: N.
        dt: control period [s].
        deadlock_time: stalled this long with a task is a deadlock [s].
        deadlock_speed: slower than this is stalled [m/s].
    """

    def __init__(self, num_robots: int, dt: float, deadlock_time: float, deadlock_speed: float):
        self.dt, self.deadlock_time, self.deadlock_speed = dt, deadlock_time, deadlock_speed
        self._stalled = np.zeros(num_robots)
        self._ticks = 0
        self._interventions = 0
        self.deadlock_events = 0
        self.min_distance = math.inf
        self.delivered: list[Delivery] = []

    def deliveries(self, delivered: list[Delivery]) -> None:
        self.delivered.extend(delivered)

    def tick(
        self, positions: np.ndarray, velocities: np.ndarray, busy: np.ndarray, intervened
    ) -> float:
        """Records one tick; returns the smallest robot-robot centre distance now [m]."""
        slow = np.linalg.norm(velocities, axis=1) < self.deadlock_speed
        stalled = busy & slow
        before = self._stalled >= self.deadlock_time
        self._stalled = np.where(stalled, self._stalled + self.dt, 0.0)
        self.deadlock_events += int(np.sum((self._stalled >= self.deadlock_time) & ~before))
        self._ticks += len(positions)
        self._interventions += int(np.sum(intervened))
        distance = math.inf
        if len(positions) > 1:
            gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
            np.fill_diagonal(gaps, np.inf)  # symmetric: the whole matrix's min is the pairs'
            distance = float(gaps.min())
        self.min_distance = min(self.min_distance, distance)
        return distance

    def summary(
        self,
        scenario: str,
        pipeline: PipelineSpec,
        seed: int,
        simulated_time: float,
        released: int,
        contacts: list[Contact],
        wall_seconds: float,
    ) -> WarehouseMetrics:
        kinds = {"robot": 0, "obstacle": 0, "wall": 0}
        for contact in contacts:
            kinds[contact.other_kind] += 1
        delivered = self.delivered
        on_time = [d for d in delivered if d.on_time]
        hours = simulated_time / 3600.0
        return WarehouseMetrics(
            scenario=scenario,
            seed=seed,
            num_robots=len(self._stalled),
            allocator=pipeline.allocator,
            planner=pipeline.planner,
            controller=pipeline.controller,
            tuner=pipeline.tuner,
            simulated_time=simulated_time,
            tasks_released=released,
            tasks_delivered=len(delivered),
            tasks_on_time=len(on_time),
            deliveries_per_hour=len(delivered) / hours if hours > 0 else 0.0,
            mean_delivery_time=float(np.mean([d.delivery_time - d.release for d in delivered]))
            if delivered
            else math.nan,
            value_earned=float(sum(d.value for d in on_time)),
            collisions=sum(kinds.values()),
            contacts_by_kind=kinds,
            deadlock_events=self.deadlock_events,
            deadlocked_at_end=int(np.sum(self._stalled >= self.deadlock_time)),
            intervention_rate=self._interventions / max(self._ticks, 1),
            min_distance=self.min_distance,
            wall_seconds=wall_seconds,
            real_time_factor=simulated_time / wall_seconds if wall_seconds > 0 else 0.0,
        )
