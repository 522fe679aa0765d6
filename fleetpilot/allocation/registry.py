"""``make_allocator(NAME)``: one registry for every static allocator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from fleetpilot.allocation.auction import ConsensusAuctionAllocator
from fleetpilot.allocation.greedy import GreedyAllocator
from fleetpilot.allocation.optimal import OptimalAllocator


class StaticAllocator(Protocol):
    """``assign(cost (R, T), inf = forbidden) -> (R,) task index per robot, -1 = none``."""

    name: str

    def assign(self, cost: np.ndarray) -> np.ndarray: ...


def _two_stage(policy_dir: str | None = None) -> StaticAllocator:
    # Imported here so that the classical allocators work without torch.
    from fleetpilot.allocation.policy import TwoStagePolicy

    return TwoStagePolicy.from_pretrained(policy_dir)


ALLOCATORS: dict[str, Callable[..., Any]] = {
    "optimal": OptimalAllocator,
    "greedy": GreedyAllocator,
    "auction": ConsensusAuctionAllocator,
    "two-stage": _two_stage,
}


def make_allocator(name: str, **kwargs: Any) -> StaticAllocator:
    """Builds a registered allocator.

    Args:
        name: one of ``optimal``, ``greedy``, ``auction``, ``two-stage``.
        **kwargs: passed to the factory (e.g. ``policy_dir=...`` for ``two-stage``).

    Raises:
        ValueError: unknown name.
    """
    if name not in ALLOCATORS:
        raise ValueError(f"unknown allocator {name!r}; known: {sorted(ALLOCATORS)}")
    return ALLOCATORS[name](**kwargs)


def _dynamic_two_stage(max_coalition: int, policy_dir: str | None = None) -> Any:
    from fleetpilot.allocation.policy import TwoStagePolicy

    policy = TwoStagePolicy.from_pretrained(policy_dir)
    if policy.decode_config.max_coalition != max_coalition:
        raise ValueError(
            f"policy decodes coalitions of up to {policy.decode_config.max_coalition} robots, "
            f"the environment allows {max_coalition}"
        )
    return policy


def _dynamic_greedy(max_coalition: int) -> Any:
    from fleetpilot.allocation.dynamic_baselines import GreedyCoalitionPolicy

    return GreedyCoalitionPolicy(max_coalition)


def _dynamic_auction(max_coalition: int) -> Any:
    from fleetpilot.allocation.dynamic_baselines import AuctionCoalitionPolicy

    return AuctionCoalitionPolicy(max_coalition)


def _dynamic_exact_step(max_coalition: int) -> Any:
    from fleetpilot.allocation.exact_step import ExactStepPolicy

    return ExactStepPolicy(max_coalition)


DYNAMIC_ALLOCATORS: dict[str, Callable[..., Any]] = {
    "greedy": _dynamic_greedy,
    "auction": _dynamic_auction,
    "two-stage": _dynamic_two_stage,
    "exact-step": _dynamic_exact_step,
}


def make_dynamic_allocator(name: str, max_coalition: int, **kwargs: Any) -> Any:
    """Builds a coalition allocator for the dynamic environment (``act(obs) -> (B, R)``).

    Args:
        name: one of ``greedy``, ``auction``, ``two-stage``, ``exact-step`` (the step's
            coalition formation solved exactly by integer programming; a reference planner).
        max_coalition: the environment's most robots per task.
        **kwargs: passed to the factory (``policy_dir=...`` for ``two-stage``).

    Raises:
        ValueError: unknown name.
    """
    if name not in DYNAMIC_ALLOCATORS:
        raise ValueError(
            f"unknown dynamic allocator {name!r}; known: {sorted(DYNAMIC_ALLOCATORS)}"
        )
    return DYNAMIC_ALLOCATORS[name](max_coalition=max_coalition, **kwargs)
