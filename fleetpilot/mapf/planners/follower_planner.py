"""``follower-planner``: decentralized congestion-aware A*, replanned by every agent every step.

Each agent knows the static map and sees other agents only inside its (2r+1)x(2r+1) window.
Its path minimises the sum over entered cells of the static traffic penalty plus how often it
has seen another agent on that cell since its current goal was set (Learn to Follow's planner).
The agent then steps to the next cell of its path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.mapf.costs import observe_agents, traffic_penalty
from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.planners.base import actions_towards, flat_cells
from fleetpilot.mapf.search_kernels import astar_paths, weighted_costs_to


@dataclass(frozen=True)
class FollowerPlannerConfig:
    """Settings of the congestion-aware planner.

    Attributes:
        obs_radius: observation radius in cells (POGEMA and the paper: 5).
        use_static_cost: add the traffic penalty (else every cell costs 1).
        use_dynamic_cost: add the counts of agents seen on cells.
        penalty_sources: BFS sources for the traffic penalty estimate.
        path_prefix: how many path cells to keep for observers (the learned policy).
        static_heuristic: guide A* by each goal's static-cost-to-go table (exact for the
            static part, so far fewer expansions) instead of the Manhattan distance; both give
            cheapest paths.
        heuristic_cache_size: static-cost-to-go tables kept for reuse (one (H*W,) each).
    """

    obs_radius: int = 5
    use_static_cost: bool = True
    use_dynamic_cost: bool = True
    penalty_sources: int = 1024
    path_prefix: int = 16
    static_heuristic: bool = True
    heuristic_cache_size: int = 4096

    def __post_init__(self) -> None:
        if self.obs_radius < 1:
            raise ValueError(
                f"FollowerPlannerConfig.obs_radius must be >= 1, got {self.obs_radius}"
            )
        if self.penalty_sources < 1:
            raise ValueError(
                f"FollowerPlannerConfig.penalty_sources must be >= 1, got {self.penalty_sources}"
            )
        if self.path_prefix < 2:
            raise ValueError(
                f"FollowerPlannerConfig.path_prefix must be >= 2, got {self.path_prefix}"
            )


class FollowerPlanner:
    """Per-agent congestion-aware A*; see the module docstring.

    Attributes:
        paths: (N, path_prefix) int64 flat cells of the latest paths (start first, -1 padded).
    """

    config_class = FollowerPlannerConfig

    def __init__(self, config: FollowerPlannerConfig | None = None) -> None:
        self.config = config or FollowerPlannerConfig()

    def reset(self, grid: GridMap, positions: np.ndarray, goals: np.ndarray, seed: int) -> None:
        self._grid = grid
        self._free = grid.free.reshape(-1)
        if self.config.use_static_cost:
            self._static = traffic_penalty(grid, self.config.penalty_sources, seed)
        else:
            self._static = np.ones(self._free.size, dtype=np.float64)
        self._seen = np.zeros((len(positions), self._free.size), dtype=np.float32)
        self._last_goals = np.full(len(positions), -1, dtype=np.int64)
        self.paths = np.full((len(positions), self.config.path_prefix), -1, dtype=np.int64)
        self._tables: dict[int, np.ndarray] = {}
        # One static-cost-to-go row per agent; a dummy when the Manhattan heuristic is used.
        shape = (len(positions), self._free.size) if self.config.static_heuristic else (1, 1)
        self._heuristic = np.zeros(shape, dtype=np.float64)

    def _cost_to_go(self, goal: int) -> np.ndarray:
        table = self._tables.get(goal)
        if table is None:
            table = weighted_costs_to(self._free, self._grid.width, goal, self._static)
            if self.config.heuristic_cache_size > 0:
                if len(self._tables) >= self.config.heuristic_cache_size:
                    self._tables.pop(next(iter(self._tables)))
                self._tables[goal] = table
        return table

    @property
    def static_cost_to_go(self) -> np.ndarray:
        """(N, H*W) float64: each agent's static-cost-to-go table to its current goal."""
        if not self.config.static_heuristic:
            raise ValueError("FollowerPlanner.static_cost_to_go needs static_heuristic=True")
        return self._heuristic

    def plan(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Update observations and replan; returns (N,) int64 next flat cells."""
        width = self._grid.width
        current = flat_cells(positions, width)
        goal_cells = flat_cells(goals, width)
        new_goal = goal_cells != self._last_goals
        if self.config.use_dynamic_cost:
            observe_agents(self._seen, current, width, self.config.obs_radius, new_goal)
        if self.config.static_heuristic:
            for agent in np.flatnonzero(new_goal):
                self._heuristic[agent] = self._cost_to_go(int(goal_cells[agent]))
        self._last_goals = goal_cells
        self.paths, lengths = astar_paths(
            self._free, width, current, goal_cells, self._static, self._seen,
            self.config.use_dynamic_cost, self.config.path_prefix,
            self._heuristic, self.config.static_heuristic,
        )  # fmt: skip
        return np.where(lengths >= 2, self.paths[:, 1], current)

    def act(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        current = flat_cells(positions, self._grid.width)
        return actions_towards(current, self.plan(positions, goals), self._grid.width)
