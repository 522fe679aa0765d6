"""``astar``: independent shortest paths, replanned every step, others ignored (naive baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.planners.base import actions_towards, flat_cells
from fleetpilot.mapf.search_kernels import astar_paths


@dataclass(frozen=True)
class AStarConfig:
    """The naive baseline has no parameters; the class keeps the registry uniform."""


class AStarPlanner:
    """Every agent follows its own unit-cost A* path; conflicts are left to the simulator."""

    config_class = AStarConfig

    def __init__(self, config: AStarConfig | None = None) -> None:
        self.config = config or AStarConfig()

    def reset(self, grid: GridMap, positions: np.ndarray, goals: np.ndarray, seed: int) -> None:
        self._grid = grid
        self._free = grid.free.reshape(-1)
        self._unit_cost = np.ones(self._free.size, dtype=np.float64)
        self._no_agent_cost = np.zeros((1, 1), dtype=np.float32)
        self._no_table = np.zeros((1, 1), dtype=np.float64)

    def act(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        width = self._grid.width
        current = flat_cells(positions, width)
        paths, lengths = astar_paths(
            self._free, width, current, flat_cells(goals, width),
            self._unit_cost, self._no_agent_cost, False, 2, self._no_table, False,
        )  # fmt: skip
        nxt = np.where(lengths >= 2, paths[:, 1], current)
        return actions_towards(current, nxt, width)
