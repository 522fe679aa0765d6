"""Scale-free model inputs built from an observation or from a bare cost matrix.

Costs and values are divided by the instance's mean eligible member cost, so the learned
allocator sees the same numbers whatever the currency or map size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.allocation.env import AllocationObs

ROBOT_EXTRA = 2  # cost rate, free flag
TASK_EXTRA = 3  # value, time left, valid flag
PAIR_FEATURES = 4  # member cost, cost / value, useful fraction, busy time
TASK_VALUE = 0  # index of the scaled value among a task's features after its requirement
PAIR_USEFUL_FRACTION = 2  # index of the useful fraction among the pair features


@dataclass
class ModelInputs:
    """Arrays the two-stage model reads (B batch, R robots, K tasks, C capabilities).

    Attributes:
        robot: (B, R, C + 2) capabilities, cost rate (scaled), free flag.
        task: (B, K, C + 3) requirement, value (scaled), time left fraction, valid flag.
        pair: (B, R, K, 4) member cost (scaled), cost / value, useful fraction, busy fraction.
        member_cost: (B, R, K) member cost (scaled), used by stage 1 directly.
        eligible: (B, R, K) bool, pairs the allocator may use.
    """

    robot: np.ndarray
    task: np.ndarray
    pair: np.ndarray
    member_cost: np.ndarray
    eligible: np.ndarray


def _cost_scale(member_cost: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(B,) mean member cost over eligible pairs (1 where there are none)."""
    count = eligible.sum((1, 2))
    total = np.where(eligible, member_cost, 0).sum((1, 2))
    scale = np.where(count > 0, total / np.maximum(count, 1), 1.0)
    return np.where(scale > 1e-9, scale, 1.0)


def inputs_from_obs(obs: AllocationObs, horizon_steps: float = 30.0) -> ModelInputs:
    """Model inputs for a dynamic-environment observation.

    Args:
        obs: observation of B environments.
        horizon_steps: steps that map to 1.0 for time features.
    """
    scale = _cost_scale(obs.member_cost, obs.eligible)[:, None]
    cost_rate = obs.cost_rate / scale * horizon_steps
    robot = np.concatenate(
        [obs.capabilities, cost_rate[..., None], obs.robot_free[..., None]], axis=-1
    )
    value = obs.value / scale
    task = np.concatenate(
        [
            obs.requirement,
            value[..., None],
            (obs.time_left / horizon_steps)[..., None],
            obs.task_valid[..., None],
        ],
        axis=-1,
    )
    member_cost = obs.member_cost / scale[..., None]
    useful = np.minimum(obs.capabilities[:, :, None, :], obs.requirement[:, None]).sum(-1)
    need = np.maximum(obs.requirement.sum(-1), 1e-9)[:, None, :]
    pair = np.stack(
        [
            member_cost,
            np.clip(member_cost / np.maximum(value[:, None, :], 1e-3), 0, 10),
            useful / need,
            obs.busy_steps / horizon_steps,
        ],
        axis=-1,
    )
    return ModelInputs(
        robot.astype(np.float32),
        task.astype(np.float32),
        pair.astype(np.float32),
        member_cost.astype(np.float32),
        obs.eligible,
    )


def inputs_from_cost(cost: np.ndarray, n_capabilities: int) -> ModelInputs:
    """Model inputs for a static one-to-one problem given only costs.

    Every robot has one generic capability at level 1 and every task needs exactly that, so
    each task takes one robot; value is set to the mean cost and time is not a factor.

    Args:
        cost: (R, T) cost matrix, inf = forbidden (becomes not eligible).
        n_capabilities: capability length the model was built for.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n_robots, n_tasks = cost.shape
    eligible = np.isfinite(cost)[None]
    finite = np.where(eligible[0], cost, 0.0)
    # Shift so the cheapest allowed pair costs 0: assignment is invariant to a constant shift.
    low = cost[eligible[0]].min() if eligible.any() else 0.0
    shifted = np.where(eligible[0], finite - low, 0.0)[None]
    scale = _cost_scale(shifted, eligible)[:, None, None]
    member_cost = shifted / scale
    capability = np.zeros((1, n_robots, n_capabilities))
    capability[..., 0] = 1.0
    robot = np.concatenate([capability, np.zeros((1, n_robots, 1)), np.ones((1, n_robots, 1))], -1)
    requirement = np.zeros((1, n_tasks, n_capabilities))
    requirement[..., 0] = 1.0
    task = np.concatenate([requirement, np.ones((1, n_tasks, 1)), np.ones((1, n_tasks, 2))], -1)
    pair = np.stack(
        [
            member_cost,
            np.clip(member_cost, 0, 10),
            np.ones_like(member_cost),
            np.zeros_like(member_cost),
        ],
        axis=-1,
    )
    return ModelInputs(
        robot.astype(np.float32),
        task.astype(np.float32),
        pair.astype(np.float32),
        member_cost.astype(np.float32),
        eligible,
    )
