"""Cell costs for congestion-aware planning (Follower, Skrynnik et al. 2024).

* Static traffic penalty: ``max_avg_dist / avg_dist(c)``, where ``avg_dist(c)`` is the mean BFS
  distance from cell c to the other cells. Central cells, through which many shortest paths run,
  cost more, which spreads traffic over the map. The value is >= 1 on every free cell.
* Dynamic cost: how many times an agent has seen another agent on a cell (inside its
  observation window) since it got its current goal.
"""

from __future__ import annotations

import numba
import numpy as np

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.search_kernels import mean_distances


def traffic_penalty(grid: GridMap, max_sources: int = 1024, seed: int = 0) -> np.ndarray:
    """The static traffic penalty of every cell.

    Args:
        grid: the map.
        max_sources: BFS sources used to estimate mean distances; all free cells when the map
            has fewer, else a seeded uniform sample (the mean is then an unbiased estimate).
        seed: sampling seed.

    Returns:
        (H*W,) float64, >= 1 on free cells, 1 on blocked cells.
    """
    free = grid.free.reshape(-1)
    cells = np.flatnonzero(free)
    if cells.size > max_sources:
        cells = np.sort(np.random.default_rng(seed).choice(cells, max_sources, replace=False))
    mean = mean_distances(free, grid.width, cells.astype(np.int64))
    penalty = np.ones(free.size, dtype=np.float64)
    valid = mean > 0
    if np.any(valid):
        penalty[valid] = mean[valid].max() / mean[valid]
    return penalty


@numba.njit(cache=True)
def observe_agents(
    seen: np.ndarray, positions: np.ndarray, width: int, radius: int, forget: np.ndarray
) -> None:
    """Add the agents each agent sees to its dynamic cost, in place.

    Args:
        seen: (N, H*W) float32 per-agent counts of agents seen on each cell.
        positions: (N,) int64 flat cells.
        width: grid width.
        radius: observation radius (the window is (2r+1) x (2r+1), as in POGEMA).
        forget: (N,) bool; those agents' counts are cleared first (they got a new goal).
    """
    num_agents = positions.size
    for agent in range(num_agents):
        if forget[agent]:
            seen[agent, :] = 0.0
    for agent in range(num_agents):
        row, col = positions[agent] // width, positions[agent] % width
        for other in range(num_agents):
            if other == agent:
                continue
            other_row, other_col = positions[other] // width, positions[other] % width
            if abs(other_row - row) <= radius and abs(other_col - col) <= radius:
                seen[agent, positions[other]] += 1.0
