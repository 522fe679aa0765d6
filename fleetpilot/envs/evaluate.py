"""Running whole episodes: a tuner in a batch of environments, one episode per environment."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch_geometric.data import Batch

from fleetpilot.envs.config import NavEnvConfig
from fleetpilot.envs.metrics import EpisodeMetrics, summarize
from fleetpilot.envs.nav_env import NavEnv
from fleetpilot.envs.tuners import Tuner, observation_scan
from fleetpilot.scenarios import Scenario


def run_episodes(
    env: NavEnv,
    policy: Callable[[Batch], torch.Tensor],
    seed: int,
    layout_ids: list[int] | None = None,
) -> list[EpisodeMetrics]:
    """Resets ``env`` with ``seed`` and steps it until every environment's episode has ended.

    Args:
        env: an environment built without autoreset.
        policy: observation -> (B, N, P) action, or -> (action, (B, N, N) responsibility
            shares or None) for tuners with per-neighbour outputs.
        seed: the layouts' base seed.
        layout_ids: which layout each environment gets (default ``range(B)``).

    Returns:
        One EpisodeMetrics per environment, in environment order.
    """
    if env.config.autoreset:
        raise ValueError("env: run_episodes needs an environment built with autoreset=False")
    options = None if layout_ids is None else {"layout_ids": layout_ids}
    observation, _ = env.reset(seed=seed, options=options)
    finished: dict[int, EpisodeMetrics] = {}
    with torch.inference_mode():
        while env.running.any():
            output = policy(observation)
            action, responsibility = output if isinstance(output, tuple) else (output, None)
            observation, _, _, _, info = env.step(action, responsibility)
            finished.update(info["final_metrics"])
    return [finished[env_index] for env_index in range(env.num_envs)]


def evaluate(
    scenario: Scenario,
    tuner: Tuner,
    episodes: int,
    seed: int,
    num_agents: int | None = None,
    max_steps: int | None = None,
    per_agent: bool = False,
) -> dict:
    """Metrics of ``episodes`` episodes of ``scenario`` run under ``tuner`` (all in one batch).

    Returns:
        :func:`~fleetpilot.envs.metrics.summarize`'s dictionary plus ``scenario``,
        ``num_agents``, ``seed`` and ``layout_seeds``.
    """
    env = NavEnv(
        NavEnvConfig(
            scenario=scenario,
            num_envs=episodes,
            num_agents=num_agents,
            action_parameters=tuner.action_parameters,
            max_steps=max_steps,
            seed=seed,
            **observation_scan(tuner),
        )
    )
    results = run_episodes(env, tuner, seed)
    return {
        "scenario": scenario.name,
        "num_agents": env.num_agents,
        "seed": seed,
        **summarize(results, per_agent=per_agent),
        "layout_seeds": [list(s) for s in env.layout_seeds],
    }
