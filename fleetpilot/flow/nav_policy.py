"""A learned nominal controller in the navigation env: running it, and demonstrations for it.

The policy maps :func:`~fleetpilot.envs.nav_observation.nav_observation` (one row per agent)
to a planar velocity in units of the robot's max speed. The environment clips it to the speed
limit and passes it through its CBF filter: the filter stays the last word.

The observation's shape is saved in the policy's ``metadata["nav_observation"]``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from fleetpilot.envs.config import NavEnvConfig
from fleetpilot.envs.metrics import summarize
from fleetpilot.envs.nav_env import NavEnv
from fleetpilot.envs.nav_observation import NavObservationConfig, env_observation
from fleetpilot.envs.nominal import go_to_goal
from fleetpilot.flow.pretrained import PreTrainedPolicy, read_config_document
from fleetpilot.scenarios import Scenario

OBS_METADATA_KEY = "nav_observation"


def observation_metadata(config: NavObservationConfig) -> dict:
    """The observation config as JSON data for ``save_pretrained(metadata=...)``."""
    return {OBS_METADATA_KEY: dataclasses.asdict(config)}


def load_nav_policy(
    directory: str | Path,
) -> tuple[PreTrainedPolicy, NavObservationConfig]:
    """A saved policy and the observation config it was trained with."""
    from fleetpilot.flow.registry import load_policy

    document = read_config_document(directory)
    fields = document.get("metadata", {}).get(OBS_METADATA_KEY)
    if fields is None:
        raise ValueError(f"{directory}: metadata has no {OBS_METADATA_KEY!r}; not a nav policy")
    obs_config = NavObservationConfig(**fields)
    policy = load_policy(directory)
    if policy.config.obs_dim != obs_config.obs_dim or policy.config.action_dim != 2:
        raise ValueError(
            f"{directory}: policy is {policy.config.obs_dim} -> {policy.config.action_dim}, "
            f"expected {obs_config.obs_dim} -> 2"
        )
    return policy, obs_config


def make_env(
    scenario: Scenario,
    num_envs: int,
    seed: int,
    num_agents: int | None = None,
    max_steps: int | None = None,
    autoreset: bool = False,
) -> NavEnv:
    """A navigation env whose tuner parameters are fixed (alpha=1, gain=1)."""
    return NavEnv(
        NavEnvConfig(
            scenario=scenario,
            num_envs=num_envs,
            num_agents=num_agents,
            action_parameters=("alpha", "gain"),
            max_steps=max_steps,
            seed=seed,
            autoreset=autoreset,
        )
    )


def fixed_params(env: NavEnv, alpha: float = 1.0, gain: float = 1.0) -> torch.Tensor:
    """(B, N, 2) tuner action ``[alpha, gain]`` for ``env``."""
    values = torch.tensor([alpha, gain], dtype=env.dtype, device=env.device)
    return values.expand(env.num_envs, env.num_agents, 2)


def run_policy_episodes(
    env: NavEnv,
    policy: PreTrainedPolicy,
    obs_config: NavObservationConfig,
    seed: int,
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
) -> list:
    """One episode per environment with ``policy`` as the nominal controller.

    Returns:
        One EpisodeMetrics per environment, in environment order.
    """
    env.reset(seed=seed)
    policy.reset()
    params = fixed_params(env, alpha=alpha)
    finished: dict = {}
    B, N = env.num_envs, env.num_agents
    with torch.inference_mode():
        while env.running.any():
            obs = env_observation(env, obs_config).reshape(B * N, -1)
            action = policy.select_action(obs, generator=generator).reshape(B, N, 2)
            velocity = action.to(env.dtype) * env.robot.max_speed
            _, _, _, _, info = env.step(params, nominal_velocity=velocity)
            finished.update(info["final_metrics"])
    return [finished[index] for index in range(env.num_envs)]


def evaluate_policy(
    scenario: Scenario,
    policy: PreTrainedPolicy,
    obs_config: NavObservationConfig,
    episodes: int,
    seed: int,
    num_agents: int | None = None,
    max_steps: int | None = None,
    per_agent: bool = False,
    alpha: float = 1.0,
) -> dict:
    """The same dictionary as :func:`fleetpilot.envs.evaluate.evaluate`, for a nominal policy."""
    env = make_env(scenario, episodes, seed, num_agents, max_steps)
    generator = torch.Generator().manual_seed(seed)
    results = run_policy_episodes(env, policy, obs_config, seed, alpha, generator)
    return {
        "scenario": scenario.name,
        "num_agents": env.num_agents,
        "seed": seed,
        **summarize(results, per_agent=per_agent),
        "layout_seeds": [list(s) for s in env.layout_seeds],
    }


def collect_demonstrations(
    scenario: Scenario,
    obs_config: NavObservationConfig,
    episodes: int,
    seed: int,
    gain: float = 1.0,
    alpha: float = 1.0,
    num_agents: int | None = None,
    max_steps: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(observation, executed action) pairs of the go-to-goal nominal under the CBF filter.

    The recorded action is the *filtered* velocity the robot executed (divided by max speed),
    not the nominal one: it is the action that produced the next recorded state (so the data
    is consistent), and it carries the avoidance the observation's neighbour rows explain.
    Under the filter again at run time a safe action passes nearly unchanged. Arrived agents
    are dropped.

    Returns:
        obs (M, obs_dim) float32, action (M, 2) float32, the demonstrator's summary metrics.
    """
    env = make_env(scenario, episodes, seed, num_agents, max_steps)
    env.reset(seed=seed)
    params = fixed_params(env, alpha=alpha, gain=gain)
    observations, actions, finished = [], [], {}
    while env.running.any():
        obs = env_observation(env, obs_config)
        keep = env.running.unsqueeze(-1) & ~env.arrived
        velocity = go_to_goal(env.positions, env.goals, params[..., 1], env.robot.max_speed)
        _, _, _, _, info = env.step(params, nominal_velocity=velocity)
        executed = env.velocities / env.robot.max_speed
        observations.append(obs[keep])
        actions.append(executed[keep].to(torch.float32))
        finished.update(info["final_metrics"])
    summary = summarize([finished[index] for index in range(env.num_envs)])
    return torch.cat(observations), torch.cat(actions), summary


def team_sizes(scenarios: dict[str, Scenario], num_agents: int) -> dict[str, int | None]:
    """``num_agents`` for generated families; explicit scenarios keep their own agents."""
    return {
        name: None if scenario.generator is None else num_agents
        for name, scenario in scenarios.items()
    }


def learning_curve_point(
    policy: PreTrainedPolicy,
    scenarios: dict[str, Scenario],
    obs_config: NavObservationConfig,
    agents: dict[str, int | None],
    episodes: int,
    seed: int,
    samples: int,
    alpha: float = 1.0,
) -> dict:
    """One point of a trainer's learning curve: success and collisions per family.

    Every family is evaluated on the layouts of ``seed`` (trainers pass their seed + 10000, the
    layouts ``fleetpilot train nav-imitation`` reports on), so curves of different trainers
    compare on the same episodes.
    """
    success, collisions = {}, {}
    for family, scenario in scenarios.items():
        summary = evaluate_policy(
            scenario, policy, obs_config, episodes, seed, num_agents=agents[family], alpha=alpha
        )
        success[family] = summary["success_rate"]
        collisions[family] = summary["collisions"]
    return {
        "samples": samples,
        "success": success,
        "mean_success": sum(success.values()) / len(success),
        "collisions": collisions,
    }
