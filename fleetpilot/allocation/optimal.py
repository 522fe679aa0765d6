"""Optimal one-to-one assignment (Hungarian / Jonker-Volgenant via scipy)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from fleetpilot.allocation.cost_matrix import UNASSIGNED, validate_cost


class OptimalAllocator:
    """Minimum-cost assignment among those that assign the most allowed pairs.

    Rectangular matrices assign ``min(R, T)`` pairs when the allowed pairs permit it. Forbidden
    pairs (inf) are replaced by a penalty larger than any allowed assignment's total, so the
    solver first maximises the number of allowed pairs and then minimises their cost; penalised
    pairs are dropped from the answer.
    """

    name = "optimal"

    def assign(self, cost: np.ndarray) -> np.ndarray:
        """Assigns robots to tasks.

        Args:
            cost: (R, T) cost matrix; inf = forbidden.

        Returns:
            (R,) int64 task index per robot, -1 = none.
        """
        cost = validate_cost(cost)
        assignment = np.full(cost.shape[0], UNASSIGNED, dtype=np.int64)
        allowed = np.isfinite(cost)
        if not allowed.any():
            return assignment
        finite = cost[allowed]
        # Any assignment uses at most min(R, T) pairs, so one penalty outweighs all allowed costs.
        span = float(finite.max() - min(finite.min(), 0.0)) + 1.0
        penalty = span * (min(cost.shape) + 1)
        rows, cols = linear_sum_assignment(np.where(allowed, cost, penalty))
        keep = allowed[rows, cols]
        assignment[rows[keep]] = cols[keep]
        return assignment
