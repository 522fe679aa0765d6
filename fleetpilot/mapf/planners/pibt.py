"""``pibt``: centralized PIBT for lifelong MAPF (the strong, fast classical baseline).

Priority of an agent = steps since it got its current goal plus a random fraction in [0, 1);
it drops back when the goal is reached, so every agent eventually gets top priority, which
with PIBT's backtracking gives lifelong reachability on biconnected graphs (Okumura et al.).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.mapf.costs import traffic_penalty
from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.pibt_kernel import move_costs_from_tables, pibt_step
from fleetpilot.mapf.planners.base import actions_towards, flat_cells
from fleetpilot.mapf.search_kernels import weighted_costs_to


@dataclass(frozen=True)
class PIBTConfig:
    """Settings of PIBT.

    Attributes:
        distance_cache_size: goal distance tables kept for reuse (one (H*W,) float64 each).
        traffic_weight: w in the cell cost ``1 + w * (traffic_penalty - 1)`` used for the
            cost-to-go that orders each agent's moves; 0 gives plain BFS distances.
    """

    distance_cache_size: int = 4096
    traffic_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.distance_cache_size < 0:
            raise ValueError(
                f"PIBTConfig.distance_cache_size must be >= 0, got {self.distance_cache_size}"
            )
        if self.traffic_weight < 0:
            raise ValueError(f"PIBTConfig.traffic_weight must be >= 0, got {self.traffic_weight}")


class LifelongPriorities:
    """PIBT's lifelong priorities: steps since the agent's current goal was set, plus a fixed
    random fraction in [0, 1) that breaks ties. Drawn from ``rng`` once, at construction."""

    def __init__(self, num_agents: int, rng: np.random.Generator) -> None:
        self._elapsed = np.zeros(num_agents, dtype=np.float64)
        self._tie_break = rng.random(num_agents)
        self._goals = np.full(num_agents, -1, dtype=np.int64)

    def update(self, goal_cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start a step; returns (agents by decreasing priority, which agents got a new goal)."""
        new_goal = goal_cells != self._goals
        self._elapsed[new_goal] = 0.0
        self._goals = goal_cells.copy()
        order = np.argsort(-(self._elapsed + self._tie_break), kind="stable").astype(np.int64)
        self._elapsed += 1.0
        return order, new_goal


class PIBTPlanner:
    """Lifelong PIBT with exact BFS distances to every agent's goal."""

    config_class = PIBTConfig

    def __init__(self, config: PIBTConfig | None = None) -> None:
        self.config = config or PIBTConfig()

    def reset(self, grid: GridMap, positions: np.ndarray, goals: np.ndarray, seed: int) -> None:
        self._grid = grid
        self._free = grid.free.reshape(-1)
        self._rng = np.random.default_rng(seed)
        num_agents = len(positions)
        self._dist = np.empty((num_agents, self._free.size), dtype=np.float64)
        self._cell_cost = np.ones(self._free.size)
        if self.config.traffic_weight > 0:
            self._cell_cost += self.config.traffic_weight * (traffic_penalty(grid, seed=seed) - 1)
        self._cache: dict[int, np.ndarray] = {}
        self._priorities = LifelongPriorities(num_agents, self._rng)
        self._occupant_now = np.full(self._free.size, -1, dtype=np.int64)
        self._occupant_next = np.full(self._free.size, -1, dtype=np.int64)

    def _distances_to(self, goal: int) -> np.ndarray:
        table = self._cache.get(goal)
        if table is None:
            table = weighted_costs_to(self._free, self._grid.width, goal, self._cell_cost)
            if len(self._cache) >= self.config.distance_cache_size:
                self._cache.pop(next(iter(self._cache)))
            if self.config.distance_cache_size > 0:
                self._cache[goal] = table
        return table

    def plan(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Returns (N,) int64 next flat cells."""
        width = self._grid.width
        current = flat_cells(positions, width)
        goal_cells = flat_cells(goals, width)
        order, new_goal = self._priorities.update(goal_cells)
        for agent in np.flatnonzero(new_goal):
            self._dist[agent] = self._distances_to(int(goal_cells[agent]))
        noise = self._rng.random((len(current), 5))
        move_costs = move_costs_from_tables(self._free, width, current, self._dist)
        return pibt_step(
            self._free, width, current, move_costs, order, noise,
            self._occupant_now, self._occupant_next,
        )  # fmt: skip

    def act(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        current = flat_cells(positions, self._grid.width)
        return actions_towards(current, self.plan(positions, goals), self._grid.width)
