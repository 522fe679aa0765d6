"""Coalition building shared by the dynamic allocators: fill each task from a preference order."""

from __future__ import annotations

import numpy as np

from fleetpilot.allocation.env import NO_TASK, AllocationObs


def useful_contribution(capabilities: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """How much of a remaining requirement each robot would cover.

    Args:
        capabilities: (B, R, C) robot capability levels.
        remaining: (B, C) remaining requirement of one task.

    Returns:
        (B, R) summed ``min(capability, remaining)`` over capabilities.
    """
    return np.minimum(capabilities, remaining[:, None, :]).sum(-1)


def fill_coalitions(
    obs: AllocationObs,
    preference: np.ndarray,
    serve: np.ndarray,
    max_coalition: int,
) -> np.ndarray:
    """Builds coalitions task by task (oldest slot first) from per-pair preference scores.

    For each served task, repeatedly adds the free, eligible, not yet used robot with the
    highest preference among those that still cover part of the remaining requirement, until
    the requirement is met; if it cannot be met within ``max_coalition`` robots the task is
    skipped and its robots are released. A robot is never used twice and never sent to a task
    it is not eligible for.

    Args:
        obs: current observation.
        preference: (B, R, K) higher = preferred (may depend on the remaining requirement only
            through the usefulness filter).
        serve: (B, K) bool, tasks to try to serve this step.
        max_coalition: most robots per task.

    Returns:
        (B, R) int action: slot index per robot, -1 = idle.
    """
    batch, n_robots, n_slots = obs.eligible.shape
    action = np.full((batch, n_robots), NO_TASK, dtype=np.int64)
    taken = np.zeros((batch, n_robots), dtype=bool)
    rows = np.arange(batch)
    for slot in range(n_slots):
        remaining = obs.requirement[:, slot].copy()
        members = np.zeros((batch, n_robots), dtype=bool)
        trying = serve[:, slot] & obs.task_valid[:, slot]
        for _ in range(max_coalition):
            covered = np.all(remaining <= 1e-9, axis=-1)
            open_ = trying & ~covered
            if not open_.any():
                break
            helps = useful_contribution(obs.capabilities, remaining) > 1e-9
            candidates = obs.eligible[:, :, slot] & ~taken & ~members & helps
            score = np.where(candidates, preference[:, :, slot], -np.inf)
            best = np.argmax(score, axis=1)
            pick = open_ & np.isfinite(score[rows, best])
            members[rows[pick], best[pick]] = True
            remaining[pick] = np.maximum(
                remaining[pick] - obs.capabilities[rows[pick], best[pick]], 0
            )
        success = trying & np.all(remaining <= 1e-9, axis=-1)
        members &= success[:, None]
        action[members] = slot
        taken |= members
    return action
