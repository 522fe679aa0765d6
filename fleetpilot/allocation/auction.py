"""Decentralized consensus auction (CBBA-style, one task per robot).

Each robot bids only from its own row of the cost matrix (its local information); the shared
state is the per-task winning bid and winner, which robots agree on by max-consensus. With a
connected network and synchronous rounds the consensus takes one round per network diameter;
this implementation simulates a fully connected network (diameter 1). Like CBBA, the result
is at least 50% of optimal for non-negative scores (diminishing marginal gains), in practice
close to the greedy solution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.allocation.cost_matrix import UNASSIGNED, validate_cost


@dataclass(frozen=True)
class AuctionConfig:
    """Settings of the consensus auction.

    Attributes:
        max_rounds: upper bound on bid/consensus rounds (each round every unassigned robot
            bids once); the auction usually converges in far fewer.
    """

    max_rounds: int = 10_000

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")


class ConsensusAuctionAllocator:
    """CBBA-style auction with bundles of one task; see the module docstring."""

    name = "auction"

    def __init__(self, config: AuctionConfig | None = None) -> None:
        self.config = config or AuctionConfig()
        self.rounds_used = 0

    def assign(self, cost: np.ndarray) -> np.ndarray:
        """Assigns robots to tasks by repeated local bids and max-consensus.

        Args:
            cost: (R, T) cost matrix; inf = forbidden (that robot never bids on that task).

        Returns:
            (R,) int64 task index per robot, -1 = none.
        """
        cost = validate_cost(cost)
        n_robots, n_tasks = cost.shape
        score = -cost  # a robot's bid is the negated cost: -inf for forbidden pairs
        winner = np.full(n_tasks, UNASSIGNED, dtype=np.int64)
        winning_bid = np.full(n_tasks, -np.inf)
        robot_task = np.full(n_robots, UNASSIGNED, dtype=np.int64)
        self.rounds_used = 0
        for _ in range(self.config.max_rounds):
            bidders = np.flatnonzero(robot_task == UNASSIGNED)
            if bidders.size == 0:
                break
            # Bundle phase: each free robot picks the task where its bid beats the current winner.
            local = score[bidders]
            can_win = local > winning_bid[None, :]
            best_task = np.argmax(np.where(can_win, local, -np.inf), axis=1)
            bid = local[np.arange(bidders.size), best_task]
            active = can_win[np.arange(bidders.size), best_task]
            if not active.any():
                break
            self.rounds_used += 1
            bidders, best_task, bid = bidders[active], best_task[active], bid[active]
            # Consensus phase: per task the highest bid wins, ties to the lower robot id.
            order = np.lexsort((bidders, -bid, best_task))
            first = np.ones(order.size, dtype=bool)
            first[1:] = best_task[order][1:] != best_task[order][:-1]
            tasks = best_task[order][first]
            new_winner = bidders[order][first]
            outbid = winner[tasks]
            robot_task[outbid[outbid >= 0]] = UNASSIGNED
            winner[tasks] = new_winner
            winning_bid[tasks] = bid[order][first]
            robot_task[new_winner] = tasks
        return robot_task
