"""Pick-and-deliver tasks arriving over time: a seeded Poisson stream over the stations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.warehouse.layout import WarehouseLayout


def _require_range(name: str, value: tuple[float, float], low: float) -> None:
    if (
        len(value) != 2
        or not all(math.isfinite(v) for v in value)
        or value[0] < low
        or value[1] < value[0]
    ):
        raise ValueError(f"{name}: expected [min, max] with {low:g} <= min <= max, got {value!r}")


@dataclass(frozen=True)
class TaskStreamSpec:
    """How tasks arrive.

    Attributes:
        rate_per_minute: mean arrivals per simulated minute (a Poisson process), >= 0.
        initial: tasks already waiting at time 0.
        value: [min, max] of each task's value, drawn uniformly (>= 0).
        deadline: [min, max] time from release to the delivery deadline [s], drawn uniformly.
    """

    rate_per_minute: float = 30.0
    initial: int = 0
    value: tuple[float, float] = (1.0, 1.0)
    deadline: tuple[float, float] = (120.0, 120.0)

    def __post_init__(self) -> None:
        if not math.isfinite(self.rate_per_minute) or self.rate_per_minute < 0:
            raise ValueError(
                f"rate_per_minute: expected a finite number >= 0, got {self.rate_per_minute!r}"
            )
        if isinstance(self.initial, bool) or not isinstance(self.initial, int) or self.initial < 0:
            raise ValueError(f"initial: expected an integer >= 0, got {self.initial!r}")
        _require_range("value", self.value, 0.0)
        _require_range("deadline", self.deadline, 1e-9)


def generate_tasks(
    spec: TaskStreamSpec, layout: WarehouseLayout, horizon: float, seed: int
) -> list[FleetTask]:
    """Every task released in [0, horizon): pickup at a random pick station, drop-off at a
    random drop station, value and deadline drawn from ``spec``; ids ``task_0``, ``task_1``..."""
    rng = np.random.default_rng(seed)
    releases = [0.0] * spec.initial
    rate = spec.rate_per_minute / 60.0
    time = 0.0
    while rate > 0:
        time += float(rng.exponential(1.0 / rate))
        if time >= horizon:
            break
        releases.append(time)
    picks, drops = layout.pick_stations, layout.drop_stations
    tasks = []
    for index, release in enumerate(releases):
        tasks.append(
            FleetTask(
                id=f"task_{index}",
                pickup=picks[rng.integers(len(picks))],
                dropoff=drops[rng.integers(len(drops))],
                value=float(rng.uniform(*spec.value)),
                release=release,
                deadline=release + float(rng.uniform(*spec.deadline)),
            )
        )
    return tasks
