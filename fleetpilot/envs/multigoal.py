"""MultiGoal: a 2-D point mass with several equally good goals (the multimodality test).

After the environment of Haarnoja et al. (2017), used by PolicyFlow (2026): the point starts
near the origin, goals sit evenly on a circle, and the per-step cost is the distance to the
*nearest* goal plus an action cost, so every goal is an optimal mode. A policy that captures
all modes reaches each goal in a similar share of episodes; a unimodal Gaussian policy tends to
settle on one or two.

``MultiGoalVecEnv`` steps many copies in NumPy (fast, auto-resetting, for training);
``MultiGoalEnv`` is one copy behind the gymnasium API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

NO_GOAL = -1


@dataclass(frozen=True)
class MultiGoalConfig:
    """Geometry, costs and limits of MultiGoal.

    Attributes:
        num_goals: goals evenly spaced on a circle, the first on the +x axis.
        goal_distance: radius of that circle.
        goal_radius: an episode ends at a goal once the point is this close to it.
        max_action: actions are clipped to ``[-max_action, max_action]`` per axis; the point
            moves by the clipped action each step.
        max_steps: episodes are truncated after this many steps.
        init_noise_std: std of the start position around the origin.
        distance_cost: per-step cost per unit distance to the nearest goal.
        action_cost: per-step cost per squared norm of the *commanded* action (before
            clipping), so commanding beyond the limit costs without moving faster.
        goal_reward: reward on reaching a goal.
    """

    num_goals: int = 4
    goal_distance: float = 5.0
    goal_radius: float = 1.0
    max_action: float = 1.0
    max_steps: int = 30
    init_noise_std: float = 0.1
    distance_cost: float = 1.0
    action_cost: float = 0.1
    goal_reward: float = 10.0

    def __post_init__(self) -> None:
        if self.num_goals < 1:
            raise ValueError(f"MultiGoalConfig.num_goals must be >= 1, got {self.num_goals}")
        if self.max_steps < 1:
            raise ValueError(f"MultiGoalConfig.max_steps must be >= 1, got {self.max_steps}")
        for name in ("goal_distance", "goal_radius", "max_action"):
            if getattr(self, name) <= 0.0:
                raise ValueError(f"MultiGoalConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.goal_radius >= self.goal_distance:
            raise ValueError(
                f"MultiGoalConfig.goal_radius ({self.goal_radius}) must be < goal_distance "
                f"({self.goal_distance}) so episodes do not start at a goal"
            )
        for name in ("init_noise_std", "distance_cost", "action_cost", "goal_reward"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"MultiGoalConfig.{name} must be >= 0, got {getattr(self, name)}")

    def goals(self) -> np.ndarray:
        """``[num_goals, 2]`` goal positions."""
        angles = 2.0 * np.pi * np.arange(self.num_goals) / self.num_goals
        return self.goal_distance * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def multigoal_step(
    config: MultiGoalConfig, position: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of many points (no bookkeeping of time).

    Args:
        config: the environment.
        position: ``[N, 2]``.
        action: ``[N, 2]`` (clipped here).

    Returns:
        ``(next_position [N, 2], reward [N], reached_goal [N] int, NO_GOAL where none)``.
    """
    clipped = np.clip(action, -config.max_action, config.max_action)
    next_position = position + clipped
    distances = np.linalg.norm(next_position[:, None, :] - config.goals()[None], axis=-1)
    nearest = distances.min(axis=1)
    reached = np.where(nearest <= config.goal_radius, distances.argmin(axis=1), NO_GOAL)
    reward = (
        -config.distance_cost * nearest
        - config.action_cost * (action**2).sum(axis=1)
        + config.goal_reward * (reached != NO_GOAL)
    )
    return next_position, reward, reached


class MultiGoalVecEnv:
    """``num_envs`` MultiGoal copies stepped together; finished copies reset automatically.

    Args:
        config: the environment.
        num_envs: parallel copies.
        seed: seed of the start-position noise.
    """

    observation_dim = 2
    action_dim = 2

    def __init__(self, config: MultiGoalConfig, num_envs: int, seed: int = 0) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.config = config
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        self.position = np.zeros((num_envs, 2))
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.episode_return = np.zeros(num_envs)

    def _start_positions(self, count: int) -> np.ndarray:
        return self.rng.normal(0.0, self.config.init_noise_std, size=(count, 2))

    def reset(self) -> np.ndarray:
        """Restarts every copy; returns observations ``[N, 2]`` (float32)."""
        self.position = self._start_positions(self.num_envs)
        self.steps[:] = 0
        self.episode_return[:] = 0.0
        return self.position.astype(np.float32)

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Steps every copy with ``action`` ``[N, 2]``.

        Returns:
            ``(obs [N, 2], reward [N], terminated [N], truncated [N], info)``; where an episode
            ended, ``obs`` is already the next episode's start and ``info`` holds
            ``final_obs`` ``[N, 2]``, ``goal_index`` ``[N]`` (NO_GOAL if none),
            ``episode_return`` ``[N]`` and ``episode_length`` ``[N]`` (valid where ended).
        """
        next_position, reward, reached = multigoal_step(self.config, self.position, action)
        self.steps += 1
        self.episode_return += reward
        terminated = reached != NO_GOAL
        truncated = ~terminated & (self.steps >= self.config.max_steps)
        ended = terminated | truncated
        info: dict[str, Any] = {
            "final_obs": next_position.astype(np.float32),
            "goal_index": reached,
            "episode_return": self.episode_return.copy(),
            "episode_length": self.steps.copy(),
        }
        self.position = next_position
        if ended.any():
            self.position[ended] = self._start_positions(int(ended.sum()))
            self.steps[ended] = 0
            self.episode_return[ended] = 0.0
        return self.position.astype(np.float32), reward, terminated, truncated, info


class MultiGoalEnv(gym.Env):
    """One MultiGoal copy with the gymnasium API (observation and action are 2-D boxes)."""

    metadata = {"render_modes": []}

    def __init__(self, config: MultiGoalConfig | None = None) -> None:
        self.config = config or MultiGoalConfig()
        bound = self.config.max_action
        self.action_space = gym.spaces.Box(-bound, bound, shape=(2,), dtype=np.float32)
        # Within an episode the point moves at most max_action per axis per step.
        reach = self.config.max_steps * bound + 10.0 * self.config.init_noise_std + 1.0
        self.observation_space = gym.spaces.Box(-reach, reach, shape=(2,), dtype=np.float32)
        self.position = np.zeros(2)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position = self.np_random.normal(0.0, self.config.init_noise_std, size=2)
        self.steps = 0
        return self.position.astype(np.float32), {}

    def step(self, action):
        next_position, reward, reached = multigoal_step(
            self.config, self.position[None], np.asarray(action, dtype=np.float64)[None]
        )
        self.position = next_position[0]
        self.steps += 1
        terminated = bool(reached[0] != NO_GOAL)
        truncated = not terminated and self.steps >= self.config.max_steps
        info = {"goal_index": int(reached[0])}
        return self.position.astype(np.float32), float(reward[0]), terminated, truncated, info


def expert_action(config: MultiGoalConfig, position: np.ndarray, goal_index: np.ndarray):
    """``[N, 2]`` the scripted expert's action: straight toward each point's assigned goal.

    The step is the full remaining offset, shrunk to norm ``max_action``, so the expert moves at
    full speed along the straight line and never overshoots.
    """
    offset = config.goals()[goal_index] - position
    norm = np.linalg.norm(offset, axis=1, keepdims=True)
    return offset * np.minimum(1.0, config.max_action / np.maximum(norm, 1e-9))


def generate_demonstrations(
    config: MultiGoalConfig, episodes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Expert demonstrations, each episode heading to a goal drawn uniformly at random.

    The demonstrations are multimodal at the start (every goal equally often) and unimodal
    once the point has left the origin: the behaviour a flow policy can imitate and a Gaussian
    policy averages.

    Returns:
        ``(obs [M, 2], action [M, 2])`` float32 over all steps of all episodes.
    """
    rng = np.random.default_rng(seed)
    position = rng.normal(0.0, config.init_noise_std, size=(episodes, 2))
    goal_index = rng.integers(0, config.num_goals, size=episodes)
    active = np.ones(episodes, dtype=bool)
    observations, actions = [], []
    for _ in range(config.max_steps):
        action = expert_action(config, position, goal_index)
        observations.append(position[active])
        actions.append(action[active])
        position, _, reached = multigoal_step(config, position, action)
        active &= reached == NO_GOAL
        if not active.any():
            break
    return (
        np.concatenate(observations).astype(np.float32),
        np.concatenate(actions).astype(np.float32),
    )
