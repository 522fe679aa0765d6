"""The simulator's collision rule (POGEMA's ``collision_system='soft'``), as a compiled kernel.

All agents move at once. A proposed move is cancelled (the agent waits) when

1. it leaves the map or enters an obstacle;
2. it is half of a swap: agents i and j would exchange cells (an edge conflict) - both wait;
3. it enters a cell another agent will occupy: an agent that waits keeps its cell; among agents
   moving into the same empty-or-vacated cell, the lowest index wins (a vertex conflict).

Cancelling a move makes that agent wait, which can block the agents moving into its cell, so
rule 3 is applied until nothing changes. Following (moving into a cell its occupant leaves in
the same step) and rotations of three or more agents are allowed, as in POGEMA. The result
never has two agents in one cell and never has two agents exchange cells.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def resolve_moves(
    positions: np.ndarray, proposed: np.ndarray, free: np.ndarray, occupant: np.ndarray
) -> np.ndarray:
    """Apply the collision rule.

    Args:
        positions: (N,) int64 current flat cells, pairwise distinct.
        proposed: (N,) int64 proposed flat cells, or -1 for "outside the map".
        free: (H*W,) bool.
        occupant: (H*W,) int64 scratch array filled with -1; returned to -1 on exit.

    Returns:
        (N,) int64 next flat cells.
    """
    num_agents = positions.size
    target = proposed.copy()
    for agent in range(num_agents):
        occupant[positions[agent]] = agent
    for agent in range(num_agents):
        cell = target[agent]
        if cell < 0 or not free[cell]:
            target[agent] = positions[agent]
    for agent in range(num_agents):
        if target[agent] == positions[agent]:
            continue
        other = occupant[target[agent]]
        if other >= 0 and target[other] == positions[agent]:
            target[agent] = positions[agent]
            target[other] = positions[other]
    for agent in range(num_agents):
        occupant[positions[agent]] = -1
    # Vertex conflicts: waiting agents claim their cells first, then movers in index order.
    changed = True
    while changed:
        changed = False
        for agent in range(num_agents):
            if target[agent] == positions[agent]:
                occupant[target[agent]] = agent
        for agent in range(num_agents):
            cell = target[agent]
            if cell == positions[agent]:
                continue
            if occupant[cell] == -1:
                occupant[cell] = agent
            else:
                target[agent] = positions[agent]
                changed = True
        for agent in range(num_agents):
            occupant[target[agent]] = -1
    return target
