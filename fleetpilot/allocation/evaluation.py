"""Runs dynamic allocators through the environment and summarises reward and decision time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fleetpilot.allocation.env import AllocationEnv, AllocationObs, EnvConfig


class DynamicAllocator(Protocol):
    """Anything that maps an observation to a (B, R) slot-per-robot action."""

    def act(self, obs: AllocationObs) -> np.ndarray: ...


@dataclass(frozen=True)
class EpisodeResult:
    """Totals of one seeded episode.

    Attributes:
        seed: environment seed.
        reward: total reward (value of done tasks minus robot costs).
        value: value of done tasks.
        cost: robot costs paid.
        tasks_done: tasks completed.
        tasks_expired: tasks that passed their deadline in the queue.
        ms_per_decision: mean wall time of one ``act`` call in milliseconds.
    """

    seed: int
    reward: float
    value: float
    cost: float
    tasks_done: int
    tasks_expired: int
    ms_per_decision: float


def run_episode(config: EnvConfig, allocator: DynamicAllocator, seed: int) -> EpisodeResult:
    """Plays one episode of ``config`` from ``seed`` with one environment (batch size 1).

    One untimed warm-up decision on the first observation keeps one-off costs (JIT
    compilation, lazy imports) out of ``ms_per_decision``; allocators are stateless, so it
    does not change the episode.
    """
    env = AllocationEnv(config, batch_size=1)
    obs = env.reset(seed)
    allocator.act(obs)
    decision_seconds = 0.0
    finished = False
    while not finished:
        start = time.perf_counter()
        action = allocator.act(obs)
        decision_seconds += time.perf_counter() - start
        obs, _, finished = env.step(obs, action)
    totals = {name: float(value[0]) for name, value in env.totals.items()}
    return EpisodeResult(
        seed=seed,
        reward=totals["reward"],
        value=totals["value"],
        cost=totals["cost"],
        tasks_done=int(totals["done"]),
        tasks_expired=int(totals["expired"]),
        ms_per_decision=1e3 * decision_seconds / config.episode_steps,
    )
