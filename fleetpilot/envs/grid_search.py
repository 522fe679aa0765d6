"""The fixed-CBF baseline: the best constant (alpha, gain) per scenario family by grid search.

Every grid point is evaluated on the same layouts (the same layout ids and seed), all points
and episodes batched into as few environment batches as ``max_envs`` allows. Settings are
ranked by success rate, then makespan, then deadlock rate, then the share of agents that
arrived, then mean time-to-goal; the first is the baseline the online tuner has to beat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fleetpilot.envs.actions import ACTION_PARAMETERS
from fleetpilot.envs.config import NavEnvConfig
from fleetpilot.envs.evaluate import run_episodes
from fleetpilot.envs.metrics import summarize
from fleetpilot.envs.nav_env import NavEnv
from fleetpilot.scenarios import Scenario

SEARCHED = ("alpha", "gain")


@dataclass(frozen=True)
class GridSearchConfig:
    """What to search and how much to run.

    Attributes:
        alphas: CBF gains to try [1/s].
        gains: nominal go-to-goal gains to try [1/s].
        episodes: layouts per setting (the same layouts for every setting).
        seed: the layouts' base seed.
        num_agents: team size override (generator families only), or None.
        max_steps: episode length override in ticks, or None for the scenario's horizon.
        max_envs: largest environment batch (bounds memory).
        make_way: every setting's parked agents make way this hard (0: they stay put; see
            :func:`fleetpilot.envs.nominal.nominal_with_parking`); not searched.
    """

    alphas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    gains: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    episodes: int = 8
    seed: int = 0
    num_agents: int | None = None
    max_steps: int | None = None
    max_envs: int = 512
    make_way: float = 0.0

    def __post_init__(self) -> None:
        bounds = ACTION_PARAMETERS["make_way"]
        if not (math.isfinite(self.make_way) and bounds.low <= self.make_way <= bounds.high):
            raise ValueError(
                f"make_way: expected a value in [{bounds.low:g}, {bounds.high:g}], "
                f"got {self.make_way!r}"
            )
        for name, parameter in (("alphas", "alpha"), ("gains", "gain")):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)
            bounds = ACTION_PARAMETERS[parameter]
            if not values:
                raise ValueError(f"{name}: expected at least one value, got ()")
            for index, value in enumerate(values):
                if not (math.isfinite(value) and bounds.low <= value <= bounds.high):
                    raise ValueError(
                        f"{name}[{index}]: expected a value in [{bounds.low:g}, "
                        f"{bounds.high:g}], got {value!r}"
                    )
        for name in ("episodes", "max_envs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if self.max_envs < self.episodes:
            raise ValueError(
                f"max_envs: expected at least episodes ({self.episodes}), got {self.max_envs!r}"
            )


def ranking_key(summary: dict) -> tuple[float, ...]:
    """Sort key of a setting's summary: smaller is better."""
    makespan = summary["makespan"]
    time_to_goal = summary["mean_time_to_goal"]
    return (
        -summary["success_rate"],
        math.inf if makespan is None else makespan,
        summary["deadlock_rate"],
        -summary["arrived_fraction"],
        math.inf if time_to_goal is None else time_to_goal,
    )


def _constant(action: torch.Tensor):
    """A policy that ignores its observation."""
    return lambda _observation: action


def grid_search(scenario: Scenario, config: GridSearchConfig) -> dict:
    """Evaluates every (alpha, gain) of the grid on ``scenario``.

    Returns:
        ``scenario``, ``num_agents``, ``episodes``, ``seed``, ``best`` (the winning setting's
        summary with ``alpha`` and ``gain``) and ``settings`` (every setting's summary, best
        first; per-episode lists included).
    """
    settings = [(alpha, gain) for alpha in config.alphas for gain in config.gains]
    fixed = {"make_way": config.make_way} if config.make_way else {}  # same in every setting
    per_batch = max(1, config.max_envs // config.episodes)
    summaries = []
    num_agents = None
    for first in range(0, len(settings), per_batch):
        chunk = settings[first : first + per_batch]
        env = NavEnv(
            NavEnvConfig(
                scenario=scenario,
                num_envs=len(chunk) * config.episodes,
                num_agents=config.num_agents,
                action_parameters=SEARCHED + tuple(fixed),
                max_steps=config.max_steps,
                seed=config.seed,
            )
        )
        num_agents = env.num_agents
        values = torch.tensor(
            [setting + tuple(fixed.values()) for setting in chunk for _ in range(config.episodes)],
            dtype=env.dtype,
        )
        action = values[:, None, :].expand(-1, env.num_agents, -1).contiguous()
        layout_ids = [episode for _ in chunk for episode in range(config.episodes)]
        results = run_episodes(env, _constant(action), config.seed, layout_ids)
        for index, (alpha, gain) in enumerate(chunk):
            episodes = results[index * config.episodes : (index + 1) * config.episodes]
            summaries.append({"alpha": alpha, "gain": gain, **fixed, **summarize(episodes)})
    summaries.sort(key=ranking_key)
    return {
        "scenario": scenario.name,
        "source": scenario.source,
        "num_agents": num_agents,
        "episodes": config.episodes,
        "seed": config.seed,
        "best": summaries[0],
        "settings": summaries,
    }


def markdown_table(results: list[dict]) -> str:
    """One row per scenario: the best fixed setting's success, deadlock and makespan."""
    lines = [
        "| scenario | agents | episodes | best alpha | best gain | success | deadlock | "
        "makespan [s] | arrived | collisions | min distance [m] |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        best = result["best"]
        makespan = "—" if best["makespan"] is None else f"{best['makespan']:.1f}"
        distance = "—" if best["min_distance"] is None else f"{best['min_distance']:.3f}"
        lines.append(
            f"| {result['scenario']} | {result['num_agents']} | {result['episodes']} | "
            f"{best['alpha']:g} | {best['gain']:g} | {best['success_rate']:.2f} | "
            f"{best['deadlock_rate']:.2f} | {makespan} | {best['arrived_fraction']:.2f} | "
            f"{best['collisions']} | {distance} |"
        )
    return "\n".join(lines)
