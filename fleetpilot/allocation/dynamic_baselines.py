"""Hand-written dynamic allocators: myopic greedy and a CBBA-style coalition auction."""

from __future__ import annotations

import numpy as np

from fleetpilot.allocation.coalition import fill_coalitions, useful_contribution
from fleetpilot.allocation.env import NO_TASK, AllocationObs, coalition_covers


class GreedyCoalitionPolicy:
    """Serves every active task at once, oldest first, adding the robot with the lowest cost
    per unit of useful capability until the requirement is met (myopic: ignores profit and
    the future)."""

    name = "greedy"

    def __init__(self, max_coalition: int) -> None:
        self.max_coalition = max_coalition

    def act(self, obs: AllocationObs) -> np.ndarray:
        """Returns a (B, R) slot index per robot (-1 = idle)."""
        useful = np.minimum(obs.capabilities[:, :, None, :], obs.requirement[:, None]).sum(-1)
        preference = -obs.member_cost / np.maximum(useful, 1e-6)
        return fill_coalitions(obs, preference, obs.task_valid, self.max_coalition)


class AuctionCoalitionPolicy:
    """CBBA-style coalition auction from local bids.

    Each free robot bids, from its own cost and the task's published value and remaining
    requirement, ``value * share - own_cost`` on the task where that is largest and positive
    (``share`` = fraction of the remaining requirement it covers). Per round each task accepts
    its best bid (consensus on winners); robots rebid until nobody can improve a coalition.
    Tasks whose coalition ends incomplete release their robots.
    """

    name = "auction"

    def __init__(self, max_coalition: int, max_rounds: int = 200) -> None:
        self.max_coalition = max_coalition
        self.max_rounds = max_rounds

    def act(self, obs: AllocationObs) -> np.ndarray:
        """Returns a (B, R) slot index per robot (-1 = idle)."""
        batch, n_robots, n_slots = obs.eligible.shape
        action = np.full((batch, n_robots), NO_TASK, dtype=np.int64)
        remaining = obs.requirement.copy()  # (B, K, C)
        size = np.zeros((batch, n_slots), dtype=np.int64)
        total_need = np.maximum(obs.requirement.sum(-1), 1e-9)  # (B, K)
        for _ in range(self.max_rounds):
            share = (
                np.stack(
                    [
                        useful_contribution(obs.capabilities, remaining[:, k])
                        for k in range(n_slots)
                    ],
                    axis=2,
                )
                / total_need[:, None, :]
            )
            bid = obs.value[:, None, :] * share - obs.member_cost
            open_task = ~np.all(remaining <= 1e-9, axis=-1) & (size < self.max_coalition)
            can_bid = (
                obs.eligible
                & (action == NO_TASK)[:, :, None]
                & open_task[:, None, :]
                & (share > 1e-9)
                & (bid > 0)
            )
            bid = np.where(can_bid, bid, -np.inf)
            # Each robot bids on its best task; each task accepts its best bidder this round.
            robot_choice = np.argmax(bid, axis=2)
            chosen = np.zeros_like(bid)
            chosen[:] = -np.inf
            np.put_along_axis(
                chosen,
                robot_choice[:, :, None],
                np.take_along_axis(bid, robot_choice[:, :, None], axis=2),
                axis=2,
            )
            winner = np.argmax(chosen, axis=1)  # (B, K)
            won = np.isfinite(np.take_along_axis(chosen, winner[:, None, :], axis=1)[:, 0])
            if not won.any():
                break
            b_idx, k_idx = np.nonzero(won)
            r_idx = winner[b_idx, k_idx]
            action[b_idx, r_idx] = k_idx
            size[b_idx, k_idx] += 1
            remaining[b_idx, k_idx] = np.maximum(
                remaining[b_idx, k_idx] - obs.capabilities[b_idx, r_idx], 0
            )
        joined = action[:, :, None] == np.arange(n_slots)
        coverage = np.einsum("brk,brc->bkc", joined, obs.capabilities)
        complete = coalition_covers(coverage, obs.requirement)
        keep = np.take_along_axis(complete, np.maximum(action, 0), axis=1) & (action >= 0)
        return np.where(keep, action, NO_TASK)
