"""Priority Inheritance with Backtracking (PIBT, Okumura et al. 2019/2022), one step, compiled.

Agents are visited in decreasing priority. An agent takes the best free neighbouring cell
(lowest move cost, then not occupied now, then random); if that cell holds an agent that has
not moved yet, that agent inherits the priority and must move away first, recursively; if it
cannot, the next cell is tried (backtracking). The result has no vertex and no swap conflicts.
Move costs are each agent's cost-to-go of the neighbouring cells for plain PIBT
(:func:`move_costs_from_tables`), or any per-move preference, such as a learned policy's
(collision shielding, Veerapaneni et al. 2024).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _move_target(free: np.ndarray, width: int, here: int, direction: int) -> int:
    """The cell a move leads to, or -1 when it leaves the map or enters an obstacle."""
    height = free.size // width
    row, col = here // width, here % width
    cell = here
    if direction == 1 and row > 0:
        cell = here - width
    elif direction == 2 and row < height - 1:
        cell = here + width
    elif direction == 3 and col > 0:
        cell = here - 1
    elif direction == 4 and col < width - 1:
        cell = here + 1
    elif direction != 0:
        return -1
    return cell if free[cell] else -1


@numba.njit(cache=True)
def move_costs_from_tables(
    free: np.ndarray, width: int, positions: np.ndarray, tables: np.ndarray
) -> np.ndarray:
    """(N, 5) float64: ``tables[agent, cell]`` of the cell each move leads to (+inf if invalid).

    Args:
        free: (H*W,) bool.
        width: grid width.
        positions: (N,) int64 flat cells.
        tables: (N, H*W) float64 per-agent cell values (cost-to-go to its goal).
    """
    costs = np.full((positions.size, 5), np.inf)
    for agent in range(positions.size):
        for direction in range(5):
            cell = _move_target(free, width, positions[agent], direction)
            if cell >= 0:
                costs[agent, direction] = tables[agent, cell]
    return costs


@numba.njit(cache=True)
def _sorted_candidates(
    agent: int,
    free: np.ndarray,
    width: int,
    here: int,
    move_costs: np.ndarray,
    noise: np.ndarray,
    occupant_now: np.ndarray,
    out: np.ndarray,
) -> int:
    """Write the agent's feasible cells (wait included), best first, into ``out``; return count."""
    keys = np.empty(5, dtype=np.float64)
    cells = np.empty(5, dtype=np.int64)
    count = 0
    for direction in range(5):
        cell = _move_target(free, width, here, direction)
        if cell < 0:
            continue
        occupied = 1.0 if (occupant_now[cell] >= 0 and cell != here) else 0.0
        cells[count] = cell
        keys[count] = (
            move_costs[agent, direction] + 1e-3 * occupied + 1e-4 * noise[agent, direction]
        )
        count += 1
    order = np.argsort(keys[:count])
    for index in range(count):
        out[index] = cells[order[index]]
    return count


@numba.njit(cache=True)
def _pibt(
    root: int,
    free: np.ndarray,
    width: int,
    positions: np.ndarray,
    move_costs: np.ndarray,
    noise: np.ndarray,
    next_cell: np.ndarray,
    occupant_now: np.ndarray,
    occupant_next: np.ndarray,
    frame_agent: np.ndarray,
    frame_cells: np.ndarray,
    frame_count: np.ndarray,
    frame_index: np.ndarray,
) -> None:
    """PIBT from ``root`` with an explicit stack (recursive numba functions do not cache well).

    Frame f holds an agent, its sorted candidate cells and the candidate being tried; the
    agent's parent is the agent of frame f-1.
    """
    depth = 1
    frame_agent[0] = root
    frame_count[0] = _sorted_candidates(
        root, free, width, positions[root], move_costs, noise, occupant_now, frame_cells[0]
    )
    frame_index[0] = 0
    child_failed = False
    while depth > 0:
        f = depth - 1
        agent = frame_agent[f]
        parent_cell = positions[frame_agent[f - 1]] if f > 0 else -1
        if child_failed:
            child_failed = False  # the child keeps the cell we wanted; try our next one
            frame_index[f] += 1
        pushed = False
        succeeded = False
        while frame_index[f] < frame_count[f]:
            cell = frame_cells[f, frame_index[f]]
            if occupant_next[cell] >= 0 or cell == parent_cell:
                frame_index[f] += 1
                continue
            next_cell[agent] = cell
            occupant_next[cell] = agent
            other = occupant_now[cell]
            if other >= 0 and other != agent and next_cell[other] == -1:
                frame_agent[depth] = other
                frame_count[depth] = _sorted_candidates(
                    other, free, width, positions[other], move_costs, noise, occupant_now,
                    frame_cells[depth],
                )  # fmt: skip
                frame_index[depth] = 0
                depth += 1
                pushed = True
            else:
                succeeded = True
            break
        if pushed:
            continue
        if succeeded:
            depth = 0  # success propagates to every ancestor: they all keep their cells
            continue
        here = positions[agent]
        next_cell[agent] = here
        occupant_next[here] = agent
        depth -= 1
        child_failed = True


@numba.njit(cache=True)
def pibt_step(
    free: np.ndarray,
    width: int,
    positions: np.ndarray,
    move_costs: np.ndarray,
    order: np.ndarray,
    noise: np.ndarray,
    occupant_now: np.ndarray,
    occupant_next: np.ndarray,
) -> np.ndarray:
    """Next cells of all agents.

    Args:
        free: (H*W,) bool.
        width: grid width.
        positions: (N,) int64 flat cells, pairwise distinct.
        move_costs: (N, 5) float64 cost of each agent's moves (wait, up, down, left, right);
            lower is preferred. Invalid moves are skipped whatever their cost.
        order: (N,) int64 agents by decreasing priority.
        noise: (N, 5) float64 in [0, 1), random tie-breaks between equally good moves.
        occupant_now: (H*W,) int64 scratch filled with -1 (restored on exit).
        occupant_next: (H*W,) int64 scratch filled with -1 (restored on exit).

    Returns:
        (N,) int64 next flat cells.
    """
    num_agents = positions.size
    next_cell = np.full(num_agents, -1, dtype=np.int64)
    frame_agent = np.empty(num_agents, dtype=np.int64)
    frame_cells = np.empty((num_agents, 5), dtype=np.int64)
    frame_count = np.empty(num_agents, dtype=np.int64)
    frame_index = np.empty(num_agents, dtype=np.int64)
    for agent in range(num_agents):
        occupant_now[positions[agent]] = agent
    for index in range(num_agents):
        agent = order[index]
        if next_cell[agent] == -1:
            _pibt(
                agent, free, width, positions, move_costs, noise, next_cell, occupant_now,
                occupant_next, frame_agent, frame_cells, frame_count, frame_index,
            )  # fmt: skip
    for agent in range(num_agents):
        occupant_now[positions[agent]] = -1
        occupant_next[next_cell[agent]] = -1
    return next_cell
