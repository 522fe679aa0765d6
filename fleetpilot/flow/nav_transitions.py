"""Per-agent transitions of a learned nominal controller in the navigation env, for RL.

Every agent is one learner sharing the policy (decentralized execution): an agent that has
not arrived yet contributes one transition per tick, ``(obs, action, reward, next_obs,
terminated)``, with ``terminated`` true on the tick it arrives (no bootstrap past the goal) and
false at the time limit (bootstrap). Arrived agents and ended episodes contribute nothing, so
the count of transitions is the count of environment samples a learner used.

The env's own filter stays between the action and the robot: actions are velocities in units
of max speed, clipped and CBF-filtered by ``NavEnv.step``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fleetpilot.envs.nav_observation import NavObservationConfig, env_observation
from fleetpilot.envs.nominal import go_to_goal
from fleetpilot.flow.nav_policy import fixed_params, make_env
from fleetpilot.scenarios import Scenario

# (M, obs_dim) observations of the acting agents -> (M, 2) actions in units of max speed.
ActFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Transitions:
    """A batch of per-agent transitions, one row each (float32 tensors, bool ``terminated``)."""

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @staticmethod
    def concatenate(parts: list[Transitions]) -> Transitions:
        return Transitions(
            *(torch.cat([getattr(p, name) for p in parts]) for name in FIELDS),
        )


FIELDS = ("obs", "action", "reward", "next_obs", "terminated")


class NavTransitionSource:
    """Steps one navigation env per scenario family with a shared per-agent policy.

    Args:
        scenarios: family name -> scenario.
        obs_config: the observation the policy reads.
        num_envs: parallel copies per family.
        seed: layout seed (each family its own offset).
        num_agents: team size per family (None: the scenario's own).
        alpha: the filter's fixed CBF alpha.
    """

    def __init__(
        self,
        scenarios: dict[str, Scenario],
        obs_config: NavObservationConfig,
        num_envs: int,
        seed: int,
        num_agents: dict[str, int | None] | None = None,
        alpha: float = 1.0,
    ) -> None:
        if not scenarios:
            raise ValueError("NavTransitionSource needs at least one scenario")
        self.obs_config = obs_config
        self.envs = {}
        self.params = {}
        for offset, (name, scenario) in enumerate(scenarios.items()):
            agents = (num_agents or {}).get(name)
            env = make_env(scenario, num_envs, seed + 1000 * offset, agents)
            env.reset(seed=seed + 1000 * offset)
            self.envs[name] = env
            self.params[name] = fixed_params(env, alpha=alpha)
        self.finished_episodes: dict[str, list] = {name: [] for name in scenarios}
        # Per row of the last step: which (family, env, agent) it came from, and whether that
        # env's episode ended on it (what multi-step returns need to keep agents apart).
        self.last_slots = torch.zeros(0, dtype=torch.long)
        self.last_episode_ended = torch.zeros(0, dtype=torch.bool)

    def step(self, act: ActFunction) -> Transitions:
        """One tick of every env; ended episodes are recorded and restarted."""
        parts, slots, ended, first_slot = [], [], [], 0
        for name, env in self.envs.items():
            obs = env_observation(env, self.obs_config)
            acting = env.running.unsqueeze(-1) & ~env.arrived
            action = torch.zeros(*acting.shape, 2, dtype=torch.float32)
            rows = obs[acting].to(torch.float32)
            if rows.shape[0]:
                action[acting] = act(rows).to(torch.float32)
            velocity = action.to(env.dtype) * env.robot.max_speed
            _, reward, terminated, truncated, info = env.step(
                self.params[name], nominal_velocity=velocity
            )
            next_obs = env_observation(env, self.obs_config)
            slot = first_slot + torch.arange(acting.numel()).view(acting.shape)
            slots.append(slot[acting])
            ended.append((terminated | truncated).unsqueeze(-1).expand_as(acting)[acting])
            first_slot += acting.numel()
            parts.append(
                Transitions(
                    obs=rows,
                    action=action[acting],
                    reward=reward[acting].to(torch.float32),
                    next_obs=next_obs[acting].to(torch.float32),
                    terminated=info["arrived"][acting],
                )
            )
            self.finished_episodes[name].extend(info["final_metrics"].values())
            env.reset_finished()
        self.last_slots, self.last_episode_ended = torch.cat(slots), torch.cat(ended)
        return Transitions.concatenate(parts)


def demonstration_transitions(
    scenarios: dict[str, Scenario],
    obs_config: NavObservationConfig,
    episodes: int,
    seed: int,
    num_agents: dict[str, int | None] | None = None,
    alpha: float = 1.0,
) -> Transitions:
    """Per-agent transitions of the go-to-goal demonstrator (gain 1) under the CBF filter.

    One episode per env and family. As in the imitation data
    (:func:`fleetpilot.flow.nav_policy.collect_demonstrations`) the recorded action is the
    executed (filtered) velocity over max speed: the filter passes it again nearly unchanged, so
    these rows are transitions of the same MDP the learner acts in, with their rewards.
    """
    parts = []
    for offset, (name, scenario) in enumerate(scenarios.items()):
        layout_seed = seed + 1000 * offset
        env = make_env(scenario, episodes, layout_seed, (num_agents or {}).get(name))
        env.reset(seed=layout_seed)
        params = fixed_params(env, alpha=alpha)
        while env.running.any():
            obs = env_observation(env, obs_config)
            acting = env.running.unsqueeze(-1) & ~env.arrived
            velocity = go_to_goal(env.positions, env.goals, params[..., 1], env.robot.max_speed)
            _, reward, _, _, info = env.step(params, nominal_velocity=velocity)
            executed = (env.velocities / env.robot.max_speed).to(torch.float32)
            parts.append(
                Transitions(
                    obs=obs[acting].to(torch.float32),
                    action=executed[acting],
                    reward=reward[acting].to(torch.float32),
                    next_obs=env_observation(env, obs_config)[acting].to(torch.float32),
                    terminated=info["arrived"][acting],
                )
            )
    return Transitions.concatenate(parts)
