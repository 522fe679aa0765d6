"""Seeded static assignment instances (robots and tasks placed uniformly on a unit square)."""

from __future__ import annotations

import numpy as np


def euclidean_instance(n_robots: int, n_tasks: int, seed: int) -> np.ndarray:
    """Cost = distance between uniformly placed robots and tasks on the unit square.

    Args:
        n_robots: R; n_tasks: T; seed: numpy seed.

    Returns:
        (R, T) float64 costs in map units.
    """
    if n_robots < 1 or n_tasks < 1:
        raise ValueError(f"need at least one robot and task, got {n_robots}x{n_tasks}")
    rng = np.random.default_rng(seed)
    robots, tasks = rng.random((n_robots, 2)), rng.random((n_tasks, 2))
    return np.linalg.norm(robots[:, None, :] - tasks[None, :, :], axis=-1)
