"""Local observations for the learned Follower policy (compiled).

Each agent sees a (2r+1) x (2r+1) window centred on itself, two channels (as in Learn to Follow):

* channel 0: -1 on obstacles and outside the map, +1 on the cells of its own planned path
  (from the next cell on, stopping at the first path cell outside the window), 0 elsewhere;
* channel 1: 1 where another agent stands, 0 elsewhere;
* channel 2 (optional, :func:`follower_observations` with ``previous_agents``): 1 where any
  agent, itself included, stood one step earlier. Two frames show which way neighbours move,
  which one frame of a memoryless policy cannot.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def local_observations(
    free: np.ndarray, width: int, positions: np.ndarray, paths: np.ndarray, radius: int
) -> np.ndarray:
    """Observation windows of all agents.

    Args:
        free: (H*W,) bool.
        width: grid width.
        positions: (N,) int64 flat cells.
        paths: (N, P) int64 path prefixes, start cell first, -1 padded.
        radius: window radius r.

    Returns:
        (N, 2, 2r+1, 2r+1) float32.
    """
    size = 2 * radius + 1
    height = free.size // width
    num_agents = positions.size
    out = np.zeros((num_agents, 2, size, size), dtype=np.float32)
    occupied = np.zeros(free.size, dtype=np.bool_)
    for agent in range(num_agents):
        occupied[positions[agent]] = True
    for agent in range(num_agents):
        row, col = positions[agent] // width, positions[agent] % width
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                r, c = row + dr, col + dc
                if r < 0 or r >= height or c < 0 or c >= width:
                    out[agent, 0, dr + radius, dc + radius] = -1.0
                    continue
                cell = r * width + c
                if not free[cell]:
                    out[agent, 0, dr + radius, dc + radius] = -1.0
                elif occupied[cell] and cell != positions[agent]:
                    out[agent, 1, dr + radius, dc + radius] = 1.0
        for index in range(1, paths.shape[1]):
            cell = paths[agent, index]
            if cell < 0:
                break
            dr, dc = cell // width - row, cell % width - col
            if abs(dr) > radius or abs(dc) > radius:
                break
            out[agent, 0, dr + radius, dc + radius] = 1.0
    return out


@numba.njit(cache=True)
def occupancy_windows(
    height: int, width: int, centres: np.ndarray, cells: np.ndarray, radius: int
) -> np.ndarray:
    """(N, 1, 2r+1, 2r+1) float32: 1 where one of ``cells`` (flat) lies in each centre's window.

    Marks the cells on a map-sized array first, so the cost is O(cells + N (2r+1)^2), not N x
    cells.
    """
    size = 2 * radius + 1
    out = np.zeros((centres.size, 1, size, size), dtype=np.float32)
    occupied = np.zeros(height * width, dtype=np.bool_)
    for cell in cells:
        if 0 <= cell < occupied.size:
            occupied[cell] = True
    for agent in range(centres.size):
        row, col = centres[agent] // width, centres[agent] % width
        for dr in range(-radius, radius + 1):
            r = row + dr
            if r < 0 or r >= height:
                continue
            for dc in range(-radius, radius + 1):
                c = col + dc
                if 0 <= c < width and occupied[r * width + c]:
                    out[agent, 0, dr + radius, dc + radius] = 1.0
    return out


def follower_observations(
    free: np.ndarray,
    width: int,
    positions: np.ndarray,
    previous: np.ndarray,
    paths: np.ndarray,
    radius: int,
    previous_agents: bool,
) -> np.ndarray:
    """The Follower's observations: :func:`local_observations`, plus the agents' cells of one
    step earlier (``previous``, flat) as a third channel when ``previous_agents``."""
    obs = local_observations(free, width, positions, paths, radius)
    if not previous_agents:
        return obs
    earlier = occupancy_windows(free.size // width, width, positions, previous, radius)
    return np.concatenate([obs, earlier], axis=1)


@numba.njit(cache=True)
def valid_action_mask(free: np.ndarray, width: int, positions: np.ndarray) -> np.ndarray:
    """(N, 5) bool: which actions keep each agent inside the map on a free cell."""
    height = free.size // width
    mask = np.zeros((positions.size, 5), dtype=np.bool_)
    for agent in range(positions.size):
        here = positions[agent]
        row, col = here // width, here % width
        mask[agent, 0] = True
        mask[agent, 1] = row > 0 and free[here - width]
        mask[agent, 2] = row < height - 1 and free[here + width]
        mask[agent, 3] = col > 0 and free[here - 1]
        mask[agent, 4] = col < width - 1 and free[here + 1]
    return mask
