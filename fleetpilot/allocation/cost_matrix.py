"""Validation shared by the static allocators: cost matrix in, task index per robot out."""

from __future__ import annotations

import numpy as np

UNASSIGNED = -1


def validate_cost(cost: np.ndarray) -> np.ndarray:
    """Checks a cost matrix and returns it as a float64 array.

    Args:
        cost: (R, T) cost of robot r doing task t; ``inf`` marks a forbidden pair.

    Returns:
        (R, T) float64 copy-free view when possible.

    Raises:
        ValueError: naming the problem (wrong rank, NaN or -inf entries).
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D (robots, tasks) array, got shape {cost.shape}")
    if np.isnan(cost).any():
        raise ValueError("cost contains NaN; use inf to forbid a robot-task pair")
    if np.isneginf(cost).any():
        raise ValueError("cost contains -inf; costs must be finite or +inf (forbidden)")
    return cost


def assignment_cost(cost: np.ndarray, assignment: np.ndarray) -> float:
    """Total cost of an assignment.

    Args:
        cost: (R, T) cost matrix.
        assignment: (R,) task index per robot, -1 for none.

    Returns:
        Sum of the chosen entries (inf if a forbidden pair was used).
    """
    robots = np.flatnonzero(assignment >= 0)
    return float(cost[robots, assignment[robots]].sum())


def check_assignment(cost: np.ndarray, assignment: np.ndarray) -> None:
    """Raises ValueError unless ``assignment`` is a valid one-to-one assignment for ``cost``."""
    n_robots, n_tasks = cost.shape
    if assignment.shape != (n_robots,):
        raise ValueError(f"assignment shape {assignment.shape} != ({n_robots},)")
    chosen = assignment[assignment >= 0]
    if (assignment < UNASSIGNED).any() or (chosen >= n_tasks).any():
        raise ValueError("assignment has task indices out of range")
    if len(np.unique(chosen)) != len(chosen):
        raise ValueError("a task is assigned to more than one robot")
    robots = np.flatnonzero(assignment >= 0)
    if np.isinf(cost[robots, assignment[robots]]).any():
        raise ValueError("a forbidden (inf) robot-task pair is assigned")
