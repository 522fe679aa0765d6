"""Run a planner over several seeds and summarise (the core of ``fleetpilot eval mapf``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleetpilot.mapf.map_source import MapSource
from fleetpilot.mapf.planners import make_planner
from fleetpilot.mapf.simulator import SimConfig, run_episode


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation.

    Attributes:
        maps: where maps come from.
        num_agents: agents per episode.
        planner: registered planner name.
        steps: episode length.
        seeds: episode seeds (task seed; also the map seed for generated maps).
        planner_options: fields of the planner's config.
    """

    maps: MapSource
    num_agents: int
    planner: str
    steps: int = 256
    seeds: tuple[int, ...] = tuple(range(10))
    planner_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_agents < 1:
            raise ValueError(f"EvalConfig.num_agents must be >= 1, got {self.num_agents}")
        if self.steps < 1:
            raise ValueError(f"EvalConfig.steps must be >= 1, got {self.steps}")
        if not self.seeds or min(self.seeds) < 0:
            raise ValueError(f"EvalConfig.seeds must be non-empty and >= 0, got {self.seeds}")
        make_planner(self.planner, **self.planner_options)  # fail early on a bad name/option


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run every seed; returns the JSON-ready summary of ``fleetpilot eval mapf``.

    ``ms_per_step`` is planner wall time per step for all agents, averaged over seeds; the
    planner's one-off reset (precomputation) is reported separately as ``reset_s``.
    """
    per_seed, ms_per_step, reset_s, goals = [], [], [], []
    for seed in config.seeds:
        grid = config.maps.map_for_seed(seed)
        planner = make_planner(config.planner, **config.planner_options)
        result = run_episode(
            grid,
            planner,
            SimConfig(num_agents=config.num_agents, max_steps=config.steps, seed=seed),
        )
        per_seed.append(result.throughput)
        ms_per_step.append(result.ms_per_step)
        reset_s.append(result.reset_seconds)
        goals.append(result.goals_reached)
    return {
        "planner": config.planner,
        "map": config.maps.label,
        "agents": config.num_agents,
        "steps": config.steps,
        "seeds": list(config.seeds),
        "avg_throughput": float(np.mean(per_seed)),
        "std_throughput": float(np.std(per_seed)),
        "per_seed": [float(value) for value in per_seed],
        "goals_reached": goals,
        "ms_per_step": float(np.mean(ms_per_step)),
        "ms_per_step_per_seed": [float(value) for value in ms_per_step],
        "reset_s": float(np.mean(reset_s)),
    }
