"""Stage 2 choosing whole coalitions: every subset of a task's candidates is one option.

With ``TwoStageConfig.coalition_head`` the network scores each task's candidate *subsets*
(up to ``max_coalition`` members) instead of picking robots one at a time with fixed scores.
A robot-by-robot decoding cannot see that, once one member covers part of the requirement,
a different robot is the cheap way to finish; the subset choice sees the whole coalition's
cost and coverage at once. Decoding still goes task by task (oldest first): a task's options
are its covering subsets with no member taken by an earlier task, plus "stop" (leave the task
for later). A subset's score is the sum of its members' learned scores plus a learned positive
weight times its profit (value minus the members' costs, in the scale-free units of
``features``), so an untrained network already prefers cheap covering coalitions and declines
unprofitable tasks.

With k candidates and coalitions of at most m robots there are sum_{s<=m} C(k, s) subsets
(162 for k = 8, m = 4), few enough to score every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np
import torch

from fleetpilot.allocation.env import NO_TASK
from fleetpilot.allocation.learned_decoding import NO_CHOICE, choice_log_probs


@lru_cache(maxsize=16)
def subset_matrix(n_candidates: int, max_size: int) -> torch.Tensor:
    """:func:`subset_table` as a float32 tensor (for scoring with torch)."""
    return torch.from_numpy(subset_table(n_candidates, max_size).astype(np.float32))


@lru_cache(maxsize=16)
def subset_table(n_candidates: int, max_size: int) -> np.ndarray:
    """(S, k) bool membership of every non-empty subset of ``n_candidates`` with at most
    ``max_size`` members, smallest subsets first."""
    rows = [
        np.isin(np.arange(n_candidates), members)
        for size in range(1, min(max_size, n_candidates) + 1)
        for members in combinations(range(n_candidates), size)
    ]
    table = np.array(rows, dtype=bool).reshape(-1, n_candidates)
    table.flags.writeable = False
    return table


@dataclass
class CoalitionTrace:
    """Decisions taken while decoding B environments with K tasks and S subsets.

    Attributes:
        options: (B, K, S + 1) bool, options offered for each task (last column = stop).
        choice: (B, K) chosen column, -1 where the task offered no coalition.
    """

    options: np.ndarray
    choice: np.ndarray


def covering_subsets(
    capabilities: np.ndarray,
    requirement: np.ndarray,
    eligible: np.ndarray,
    candidates: np.ndarray,
    subsets: np.ndarray,
) -> np.ndarray:
    """Which subsets of each task's candidates form a coalition the environment accepts.

    Args:
        capabilities: (B, R, C); requirement: (B, K, C); eligible: (B, R, K) bool.
        candidates: (B, K, k) robot indices, -1 = padding.
        subsets: (S, k) bool from :func:`subset_table`.

    Returns:
        (B, K, S) bool: every member is a real, eligible candidate and the summed capabilities
        cover the requirement.
    """
    batch, n_slots, _ = candidates.shape
    robot = np.maximum(candidates, 0)
    rows = np.arange(batch)[:, None, None]
    slots = np.arange(n_slots)[None, :, None]
    usable = (candidates >= 0) & eligible[rows, robot, slots]  # (B, K, k)
    member_caps = capabilities[rows, robot] * usable[..., None]  # (B, K, k, C)
    coverage = np.einsum("sc,bkcq->bksq", subsets.astype(float), member_caps)
    covers = np.all(coverage >= requirement[:, :, None, :] - 1e-9, axis=-1)
    all_usable = (~usable[:, :, None, :] & subsets).sum(-1) == 0
    return covers & all_usable


def subset_profit(
    value: torch.Tensor, member_cost: torch.Tensor, candidates: torch.Tensor, subsets: torch.Tensor
) -> torch.Tensor:
    """(B, K, S) value minus the members' summed cost of every subset (scale-free units).

    Args:
        value: (B, K) task value; member_cost: (B, R, K); candidates: (B, K, k), -1 = padding;
        subsets: (S, k) float membership.
    """
    batch, n_slots, _ = candidates.shape
    rows = torch.arange(batch)[:, None, None]
    slots = torch.arange(n_slots)[None, :, None]
    cost = member_cost[rows, candidates.clamp(min=0), slots] * (candidates >= 0)
    return value[..., None] - torch.einsum("sc,bkc->bks", subsets, cost)


def decode_subsets(
    candidates: np.ndarray,
    covering: np.ndarray,
    scores: np.ndarray,
    subsets: np.ndarray,
    n_robots: int,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, CoalitionTrace]:
    """Picks one coalition or "stop" per task, oldest task first; samples when ``rng`` is given.

    Args:
        candidates: (B, K, k) robot indices, -1 = padding.
        covering: (B, K, S) bool from :func:`covering_subsets`.
        scores: (B, K, S + 1) subset scores, the last column the stop score.
        subsets: (S, k) bool.
        n_robots: robots per environment.
        rng: random generator for sampling (training); None = argmax.

    Returns:
        ((B, R) action: slot index per robot, -1 = idle; the :class:`CoalitionTrace`).
    """
    batch, n_slots, _ = candidates.shape
    action = np.full((batch, n_robots), NO_TASK, dtype=np.int64)
    taken = np.zeros((batch, n_robots), dtype=bool)
    options = np.zeros((*covering.shape[:2], covering.shape[2] + 1), dtype=bool)
    choice = np.full((batch, n_slots), NO_CHOICE, dtype=np.int64)
    rows = np.arange(batch)[:, None]
    membership = subsets.astype(np.int64)
    for slot in range(n_slots):
        cand = candidates[:, slot]
        member_taken = taken[rows, np.maximum(cand, 0)] & (cand >= 0)  # (B, k)
        free_subset = (member_taken.astype(np.int64) @ membership.T) == 0  # (B, S)
        offered = covering[:, slot] & free_subset
        deciding = offered.any(1)
        offer = np.concatenate([offered, deciding[:, None]], axis=1)
        options[:, slot] = offer
        masked = np.where(offer, scores[:, slot], -np.inf)
        if rng is not None:
            masked = masked + rng.gumbel(size=masked.shape)  # Gumbel-max sampling
        picked = np.argmax(masked, axis=1)
        choice[deciding, slot] = picked[deciding]
        serve = deciding & (picked < subsets.shape[0])
        b_idx = np.flatnonzero(serve)
        chosen = subsets[picked[b_idx]]  # (n, k)
        b_mem, c_mem = np.nonzero(chosen)
        robots = cand[b_idx[b_mem], c_mem]
        action[b_idx[b_mem], robots] = slot
        taken[b_idx[b_mem], robots] = True
    return action, CoalitionTrace(options, choice)


def choice_log_prob(
    scores: torch.Tensor, options: torch.Tensor, choice: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability and entropy of recorded subset choices.

    Args:
        scores: (N, K, S + 1) subset scores with the stop score last.
        options: (N, K, S + 1) bool; choice: (N, K) long (-1 = no decision).

    Returns:
        ((N,) summed log-prob of the choices, (N,) summed entropy of the decisions).
    """
    log_prob, entropy = choice_log_probs(scores, options, choice)
    return log_prob.sum(1), entropy.sum(1)
