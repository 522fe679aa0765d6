"""Greedy assignment: repeatedly take the cheapest remaining robot-task pair."""

from __future__ import annotations

import numba
import numpy as np

from fleetpilot.allocation.cost_matrix import UNASSIGNED, validate_cost


@numba.njit(cache=True)
def _take_in_order(order: np.ndarray, n_tasks: int, n_robots: int) -> np.ndarray:
    assignment = np.full(n_robots, -1, dtype=np.int64)
    task_taken = np.zeros(n_tasks, dtype=np.bool_)
    remaining = min(n_robots, n_tasks)
    for flat in order:
        robot, task = flat // n_tasks, flat % n_tasks
        if assignment[robot] >= 0 or task_taken[task]:
            continue
        assignment[robot] = task
        task_taken[task] = True
        remaining -= 1
        if remaining == 0:
            break
    return assignment


def greedy_order_assign(score_order: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Assigns pairs in the given order of flat indices, skipping taken robots and tasks.

    Args:
        score_order: flat (row-major) indices into an (R, T) matrix, best first; pairs that
            must never be used are simply left out.
        shape: (R, T).

    Returns:
        (R,) int64 task index per robot, -1 = none.
    """
    n_robots, n_tasks = shape
    return _take_in_order(np.ascontiguousarray(score_order, dtype=np.int64), n_tasks, n_robots)


class GreedyAllocator:
    """Cheapest-pair-first greedy; no optimality guarantee (about 20-30% above optimal on
    100x100 Euclidean instances)."""

    name = "greedy"

    def assign(self, cost: np.ndarray) -> np.ndarray:
        """Assigns robots to tasks.

        Args:
            cost: (R, T) cost matrix; inf = forbidden.

        Returns:
            (R,) int64 task index per robot, -1 = none.
        """
        cost = validate_cost(cost)
        flat = cost.ravel()
        allowed = np.flatnonzero(np.isfinite(flat))
        if allowed.size == 0:
            return np.full(cost.shape[0], UNASSIGNED, dtype=np.int64)
        order = allowed[np.argsort(flat[allowed], kind="stable")]
        return greedy_order_assign(order, cost.shape)
