"""Start cells, first goals and the lifelong goal stream, drawn as POGEMA 1.4 draws them.

Mirroring POGEMA's random calls makes an episode of our simulator and of POGEMA's lifelong
environment with the same map and seed start from the same cells with the same goal stream, so
``benchmarks/pogema_check.py`` can compare throughputs one to one.

* Maps without start/goal masks: free cells in row-major order are shuffled with
  ``default_rng(seed)``; walking that order, a cell becomes an agent's goal if an earlier agent
  in its connected component still waits for one, else a new agent's start if its component has
  room for two more cells. New goals are drawn uniformly from the agent's component, never its
  current cell.
* Maps with masks (warehouse): the start cells and the goal cells (row-major) are shuffled with
  ``default_rng(seed)``; agent i starts at the i-th start cell with the i-th goal cell as first
  goal. New goals are drawn uniformly from the goal cells, never the agent's current cell.

Every agent draws its goals from its own ``default_rng`` seeded from ``default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.search_kernels import connected_components


def initial_placement(grid: GridMap, num_agents: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct start cells and first goals.

    Args:
        grid: the map.
        num_agents: how many agents.
        seed: task seed.

    Returns:
        (starts, goals): each (num_agents, 2) int64 ``(row, col)``.

    Raises:
        ValueError: if the map cannot hold that many agents.
    """
    if num_agents < 1:
        raise ValueError(f"num_agents must be >= 1, got {num_agents}")
    if grid.start_cells is not None and grid.goal_cells is not None:
        return _placement_from_masks(grid, num_agents, seed)
    width = grid.width
    labels = connected_components(grid.free.reshape(-1), width)
    room = np.bincount(labels[labels >= 0]).astype(np.int64)
    order = np.flatnonzero(labels >= 0)
    np.random.default_rng(seed).shuffle(order)
    waiting: list[list[int]] = [[] for _ in range(room.size)]
    starts: list[int] = []
    goals: list[int] = [-1] * num_agents
    assigned = 0
    for cell in order:
        component = labels[cell]
        if waiting[component]:
            goals[waiting[component].pop()] = int(cell)
            assigned += 1
            continue
        if len(starts) >= num_agents:
            if assigned >= num_agents:
                break
            continue
        if room[component] >= 2:
            room[component] -= 2
            waiting[component].append(len(starts))
            starts.append(int(cell))
    if len(starts) < num_agents or assigned < num_agents:
        raise ValueError(
            f"map {grid.name!r} cannot hold {num_agents} agents with distinct starts and goals"
        )
    return _cells_to_rows_cols(np.array(starts), width), _cells_to_rows_cols(
        np.array(goals), width
    )


def _placement_from_masks(
    grid: GridMap, num_agents: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    start_cells = np.flatnonzero(grid.start_cells.reshape(-1))
    goal_cells = np.flatnonzero(grid.goal_cells.reshape(-1))
    if start_cells.size < num_agents or goal_cells.size < num_agents:
        raise ValueError(
            f"map {grid.name!r} has {start_cells.size} start and {goal_cells.size} goal cells, "
            f"fewer than {num_agents} agents"
        )
    rng = np.random.default_rng(seed)
    rng.shuffle(start_cells)
    rng.shuffle(goal_cells)
    width = grid.width
    return (
        _cells_to_rows_cols(start_cells[:num_agents], width),
        _cells_to_rows_cols(goal_cells[:num_agents], width),
    )


class GoalStream:
    """New goals for agents that reached theirs, one seeded generator per agent.

    Args:
        grid: the map.
        num_agents: how many agents.
        seed: task seed (the same as for :func:`initial_placement`).
    """

    def __init__(self, grid: GridMap, num_agents: int, seed: int) -> None:
        self._width = grid.width
        seeds = np.random.default_rng(seed).integers(np.iinfo(np.int32).max, size=num_agents)
        self._generators = [np.random.default_rng(agent_seed) for agent_seed in seeds]
        if grid.start_cells is not None and grid.goal_cells is not None:
            # POGEMA draws from the goal-cell list in the order its placement shuffled it.
            goal_cells = np.flatnonzero(grid.goal_cells.reshape(-1))
            rng = np.random.default_rng(seed)
            rng.shuffle(np.flatnonzero(grid.start_cells.reshape(-1)))
            rng.shuffle(goal_cells)
            self._labels = None
            self._pools = [goal_cells]
        else:
            self._labels = connected_components(grid.free.reshape(-1), self._width)
            order = np.argsort(self._labels, kind="stable")
            counts = np.bincount(self._labels[self._labels >= 0])
            blocked_count = int(np.count_nonzero(self._labels < 0))
            bounds = blocked_count + np.concatenate([[0], np.cumsum(counts)])
            self._pools = [order[bounds[i] : bounds[i + 1]] for i in range(counts.size)]

    def next_goal(self, agent: int, position: np.ndarray) -> np.ndarray:
        """A new goal for ``agent`` standing at ``position`` ((2,) ``(row, col)``)."""
        cell = int(position[0]) * self._width + int(position[1])
        pool = self._pools[0] if self._labels is None else self._pools[self._labels[cell]]
        rng = self._generators[agent]
        if pool.size < 2 and pool[0] == cell:
            raise ValueError(f"agent {agent} has no goal cell other than its own {cell}")
        goal = cell
        while goal == cell:
            goal = int(pool[rng.integers(0, pool.size, size=1)[0]])
        return np.array([goal // self._width, goal % self._width], dtype=np.int64)


def _cells_to_rows_cols(cells: np.ndarray, width: int) -> np.ndarray:
    cells = np.asarray(cells, dtype=np.int64)
    return np.stack([cells // width, cells % width], axis=-1)
