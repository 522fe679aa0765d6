"""Turns the two-stage network's candidate scores into coalitions (and back into log-probs).

Decoding goes task by task (oldest first). At each pick the options are the task's remaining
candidates that are eligible, unused and still cover part of the requirement, plus "stop";
choosing stop leaves the task for later. Picks continue until the requirement is covered; a
task that cannot be covered within ``max_coalition`` robots releases its picks. The scores do
not change during decoding, so a trace of (options, choice) per pick is enough to recompute
the log-probability of the whole decision with gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

from fleetpilot.allocation.env import NO_TASK

NO_CHOICE = -1


@dataclass
class DecodeTrace:
    """Decisions taken while decoding B environments with K tasks and k candidates.

    Attributes:
        options: (B, K, S, k + 1) bool, choices offered at pick s (last column = stop).
        choice: (B, K, S) chosen column, -1 where no decision was taken.
    """

    options: np.ndarray
    choice: np.ndarray


def decode_coalitions(
    capabilities: np.ndarray,
    requirement: np.ndarray,
    eligible: np.ndarray,
    candidates: np.ndarray,
    logits: np.ndarray,
    stop_logit: np.ndarray,
    max_coalition: int,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, DecodeTrace]:
    """Builds coalitions from candidate scores; samples when ``rng`` is given, else argmax.

    Args:
        capabilities: (B, R, C) robot capability levels.
        requirement: (B, K, C) task requirements (0 for empty slots).
        eligible: (B, R, K) bool.
        candidates: (B, K, k) candidate robot indices, -1 = padding.
        logits: (B, K, k) candidate scores; stop_logit: (B, K).
        max_coalition: most robots per task (S picks at most).
        rng: random generator for sampling (training); None = greedy decoding.

    Returns:
        ((B, R) action: slot index per robot, -1 = idle; the :class:`DecodeTrace`).
    """
    batch, n_robots, n_slots = eligible.shape
    k = candidates.shape[-1]
    action = np.full((batch, n_robots), NO_TASK, dtype=np.int64)
    taken = np.zeros((batch, n_robots), dtype=bool)
    options = np.zeros((batch, n_slots, max_coalition, k + 1), dtype=bool)
    choice = np.full((batch, n_slots, max_coalition), NO_CHOICE, dtype=np.int64)
    rows = np.arange(batch)[:, None]
    for slot in range(n_slots):
        cand = candidates[:, slot]
        robot = np.maximum(cand, 0)
        cand_caps = capabilities[rows, robot]  # (B, k, C)
        usable = (cand >= 0) & eligible[rows, robot, slot]
        remaining = requirement[:, slot].copy()
        members = np.zeros((batch, k), dtype=bool)
        failed = ~usable.any(1)
        scores = np.concatenate([logits[:, slot], stop_logit[:, slot, None]], axis=1)
        for pick in range(max_coalition):
            covered = np.all(remaining <= 1e-9, axis=-1)
            helps = np.minimum(cand_caps, remaining[:, None]).sum(-1) > 1e-9
            offered = usable & ~taken[rows, robot] & ~members & helps
            deciding = ~covered & ~failed & offered.any(1)
            failed |= ~covered & ~offered.any(1)
            if not deciding.any():
                break
            offer = np.concatenate([offered, np.ones((batch, 1), dtype=bool)], axis=1)
            offer &= deciding[:, None]
            masked = np.where(offer, scores, -np.inf)
            if rng is not None:
                masked = masked + rng.gumbel(size=masked.shape)  # Gumbel-max sampling
            picked = np.argmax(masked, axis=1)
            options[:, slot, pick] = offer
            choice[deciding, slot, pick] = picked[deciding]
            stop = deciding & (picked == k)
            failed |= stop
            add = deciding & ~stop
            b_add, c_add = np.nonzero(add)[0], picked[add]
            members[b_add, c_add] = True
            remaining[b_add] = np.maximum(remaining[b_add] - cand_caps[b_add, c_add], 0)
        success = np.all(remaining <= 1e-9, axis=-1) & ~failed
        members &= success[:, None]
        b_idx, c_idx = np.nonzero(members)
        action[b_idx, cand[b_idx, c_idx]] = slot
        taken[b_idx, cand[b_idx, c_idx]] = True
    return action, DecodeTrace(options, choice)


@numba.njit(cache=True)
def _greedy_coalitions(
    capabilities, requirement, eligible, candidates, logits, stop_logit, max_coalition
):  # pragma: no cover - compiled
    batch, n_robots, n_slots = eligible.shape
    k = candidates.shape[2]
    action = np.full((batch, n_robots), -1, dtype=np.int64)
    for b in range(batch):
        taken = np.zeros(n_robots, dtype=np.bool_)
        for slot in range(n_slots):
            remaining = requirement[b, slot].copy()
            members = np.zeros(k, dtype=np.bool_)
            failed = False
            for _ in range(max_coalition):
                if np.all(remaining <= 1e-9):
                    break
                best, best_c = -np.inf, -1
                for c in range(k):
                    robot = candidates[b, slot, c]
                    if robot < 0 or not eligible[b, robot, slot] or taken[robot] or members[c]:
                        continue
                    if np.minimum(capabilities[b, robot], remaining).sum() <= 1e-9:
                        continue
                    if logits[b, slot, c] > best:  # first maximum wins, like np.argmax
                        best, best_c = logits[b, slot, c], c
                if best_c < 0 or stop_logit[b, slot] > best:
                    failed = True
                    break
                members[best_c] = True
                remaining = np.maximum(remaining - capabilities[b, candidates[b, slot, best_c]], 0)
            if failed or not np.all(remaining <= 1e-9):
                continue
            for c in range(k):
                if members[c]:
                    action[b, candidates[b, slot, c]] = slot
                    taken[candidates[b, slot, c]] = True
    return action


def greedy_coalitions(
    capabilities: np.ndarray,
    requirement: np.ndarray,
    eligible: np.ndarray,
    candidates: np.ndarray,
    logits: np.ndarray,
    stop_logit: np.ndarray,
    max_coalition: int,
) -> np.ndarray:
    """Same decisions as ``decode_coalitions(..., rng=None)`` without the trace, compiled.

    Returns:
        (B, R) int action: slot index per robot, -1 = idle.
    """
    return _greedy_coalitions(
        np.ascontiguousarray(capabilities, dtype=np.float64),
        np.ascontiguousarray(requirement, dtype=np.float64),
        np.ascontiguousarray(eligible, dtype=np.bool_),
        np.ascontiguousarray(candidates, dtype=np.int64),
        np.ascontiguousarray(logits, dtype=np.float64),
        np.ascontiguousarray(stop_logit, dtype=np.float64),
        max_coalition,
    )


def choice_log_probs(
    scores: torch.Tensor, options: torch.Tensor, choice: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability and entropy of each recorded choice among its offered options.

    Args:
        scores: (..., n) option scores; options: (..., n) bool offered; choice: (...) long
            chosen option, -1 = no decision.

    Returns:
        ((...) log-prob of each choice, (...) entropy of each decision), 0 where undecided.
    """
    decided = choice >= 0
    # Undecided rows get all options so the softmax stays finite; they are zeroed below.
    offered = options | ~decided[..., None]
    log_p = torch.log_softmax(scores.masked_fill(~offered, -1e9), dim=-1)
    chosen = log_p.gather(-1, choice.clamp(min=0)[..., None])[..., 0]
    entropy = -(log_p.exp() * log_p.masked_fill(~offered, 0.0)).sum(-1)
    zero = torch.zeros((), dtype=log_p.dtype)
    return torch.where(decided, chosen, zero), torch.where(decided, entropy, zero)


def trace_log_prob(
    logits: torch.Tensor, stop_logit: torch.Tensor, options: torch.Tensor, choice: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability and entropy of recorded decoding decisions.

    Args:
        logits: (N, K, k) candidate scores; stop_logit: (N, K).
        options: (N, K, S, k + 1) bool; choice: (N, K, S) long (-1 = no decision).

    Returns:
        ((N,) summed log-prob of the choices, (N,) summed entropy of the decisions).
    """
    scores = torch.cat([logits, stop_logit[..., None]], dim=-1)[:, :, None, :]
    log_prob, entropy = choice_log_probs(scores.expand(options.shape), options, choice)
    return log_prob.sum((1, 2)), entropy.sum((1, 2))
