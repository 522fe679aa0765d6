"""Generalised advantage estimation (Schulman et al. 2016) over a time-major rollout."""

from __future__ import annotations

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    next_values: torch.Tensor,
    episode_ends: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns for a rollout of ``T`` steps in ``N`` parallel environments.

    Terminations stop bootstrapping; truncations (time limits) bootstrap from the value of the
    final observation, which the caller passes in ``next_values`` at that step.

    Args:
        rewards: ``[T, N]`` reward after each step.
        values: ``[T, N]`` value of the observation each action was taken in.
        terminated: ``[T, N]`` 1 where the step ended the episode at a terminal state.
        next_values: ``[T, N]`` value of the observation after each step (the final
            observation of the episode where it ended, else the next step's observation).
        episode_ends: ``[T, N]`` 1 where the step ended the episode (terminated or truncated):
            the advantage recursion must not run across an episode boundary.
        gamma: discount factor in ``[0, 1]``.
        gae_lambda: GAE lambda in ``[0, 1]``.

    Returns:
        ``(advantages, returns)``, both ``[T, N]``; ``returns = advantages + values``.
    """
    if rewards.shape != values.shape or rewards.ndim != 2:
        raise ValueError(
            f"rewards and values must both be [T, N], got {tuple(rewards.shape)} "
            f"and {tuple(values.shape)}"
        )
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for step in reversed(range(rewards.shape[0])):
        bootstrap = 1.0 - terminated[step].float()
        delta = rewards[step] + gamma * next_values[step] * bootstrap - values[step]
        continues = 1.0 - episode_ends[step].float()
        running = delta + gamma * gae_lambda * continues * running
        advantages[step] = running
    return advantages, advantages + values
