"""Exact per-step coalition allocator: a reference planner for the dynamic environment.

At every decision it solves, exactly, the coalition formation problem of that step with the
environment's own cost model: choose for each active task either nobody or a coalition of at
most ``max_coalition`` eligible free robots whose summed capabilities cover the task's
requirement, every robot in at most one coalition, so that

    sum over served tasks of (value - sum over members of member_cost)

is largest. Unprofitable tasks are left alone (they would lower the reward). It is a
mixed-integer program (binary robot-to-task and task-served variables) solved with HiGHS through
``scipy.optimize.milp``. The planner is myopic: it knows nothing of future arrivals and never
waits for a cheaper robot to become free.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from fleetpilot.allocation.env import NO_TASK, AllocationObs, coalition_covers

# The environment's coverage tolerance (``coalition_covers``); coalitions the rounded solution
# leaves short of it are dropped after the solve.
_COVER_TOLERANCE = 1e-9


def solve_step(
    capabilities: np.ndarray,
    requirement: np.ndarray,
    value: np.ndarray,
    member_cost: np.ndarray,
    eligible: np.ndarray,
    max_coalition: int,
) -> np.ndarray:
    """Most profitable set of disjoint covering coalitions for one environment and step.

    Args:
        capabilities: (R, C) robot capability levels.
        requirement: (K, C) requirement per task slot.
        value: (K,) value per task slot.
        member_cost: (R, K) cost of robot r joining task k.
        eligible: (R, K) bool, robot r may join task k.
        max_coalition: most robots per task.

    Returns:
        (R,) int64 task slot per robot, -1 = idle.
    """
    n_robots, n_slots = eligible.shape
    action = np.full(n_robots, NO_TASK, dtype=np.int64)
    robot_idx, slot_idx = np.nonzero(eligible)
    if robot_idx.size == 0:
        return action
    tasks = np.unique(slot_idx)
    task_var = {int(k): robot_idx.size + i for i, k in enumerate(tasks)}
    n_vars = robot_idx.size + tasks.size
    objective = np.concatenate([member_cost[robot_idx, slot_idx], -value[tasks]])
    rows, cols, data, lower, upper = [], [], [], [], []
    row = 0

    def add(entries: list[tuple[int, float]], low: float, high: float) -> None:
        nonlocal row
        for col, coef in entries:
            rows.append(row)
            cols.append(col)
            data.append(coef)
        lower.append(low)
        upper.append(high)
        row += 1

    pair_of_slot = {int(k): np.flatnonzero(slot_idx == k) for k in tasks}
    for k in tasks:
        pairs, y = pair_of_slot[int(k)], task_var[int(k)]
        for c in np.flatnonzero(requirement[k] > 0):
            # sum_r cap_rc x_rk - (req_kc - tolerance) y_k >= 0
            entries = [(int(p), float(capabilities[robot_idx[p], c])) for p in pairs]
            add([*entries, (y, -float(requirement[k, c] - _COVER_TOLERANCE))], 0.0, np.inf)
        # sum_r x_rk - max_coalition y_k <= 0 (also: members only if served)
        add([*[(int(p), 1.0) for p in pairs], (y, -float(max_coalition))], -np.inf, 0.0)
    for r in np.unique(robot_idx):
        pairs = np.flatnonzero(robot_idx == r)
        if pairs.size > 1:
            add([(int(p), 1.0) for p in pairs], -np.inf, 1.0)
    matrix = coo_matrix((data, (rows, cols)), shape=(row, n_vars)).tocsr()
    result = milp(
        objective,
        constraints=LinearConstraint(matrix, lower, upper),
        integrality=np.ones(n_vars),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0},  # proven optimal, not within HiGHS's default 0.01 %
    )
    if result.x is None:  # all-idle is always feasible; guard against solver failure anyway
        return action
    chosen = result.x[: robot_idx.size] > 0.5
    served = {int(k) for k in tasks if result.x[task_var[int(k)]] > 0.5}
    for p in np.flatnonzero(chosen):
        if int(slot_idx[p]) in served:
            action[robot_idx[p]] = slot_idx[p]
    # Keep only coalitions that the environment accepts and that pay for themselves.
    for k in served:
        members = action == k
        covers = coalition_covers(capabilities[members].sum(0), requirement[k])
        profit = value[k] - member_cost[members, k].sum()
        if not covers or members.sum() > max_coalition or profit <= 0:
            action[members] = NO_TASK
    return action


class ExactStepPolicy:
    """Re-solves the step's coalition formation exactly at every decision (see module doc)."""

    name = "exact-step"

    def __init__(self, max_coalition: int) -> None:
        if max_coalition < 1:
            raise ValueError(f"max_coalition must be >= 1, got {max_coalition}")
        self.max_coalition = max_coalition

    def act(self, obs: AllocationObs) -> np.ndarray:
        """Returns a (B, R) slot index per robot (-1 = idle)."""
        return np.stack(
            [
                solve_step(
                    obs.capabilities[b],
                    obs.requirement[b],
                    obs.value[b],
                    obs.member_cost[b],
                    obs.eligible[b],
                    self.max_coalition,
                )
                for b in range(obs.eligible.shape[0])
            ]
        )
