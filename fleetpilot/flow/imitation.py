"""Behaviour cloning of any policy on (observation, action chunk) pairs."""

from __future__ import annotations

import torch

from fleetpilot.flow.pretrained import PreTrainedPolicy


def behaviour_cloning(
    policy: PreTrainedPolicy,
    obs: torch.Tensor,
    action: torch.Tensor,
    iterations: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Minimises the policy's own imitation loss (``policy.forward``) on a dataset.

    Args:
        policy: any policy; its ``forward`` defines the loss (flow matching, DDPM, NLL).
        obs: ``[M, obs_dim]``.
        action: ``[M, horizon, action_dim]`` (or ``[M, action_dim]`` when horizon is 1).
        iterations: optimiser steps.
        batch_size: samples per step (drawn with replacement).
        learning_rate: Adam learning rate.
        generator: optional generator for the batch draws.

    Returns:
        The loss of every step.
    """
    if obs.shape[0] != action.shape[0] or obs.shape[0] == 0:
        raise ValueError(
            f"obs and action need the same, non-zero length: {obs.shape}, {action.shape}"
        )
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    policy.train()
    losses = []
    for _ in range(iterations):
        index = torch.randint(0, obs.shape[0], (batch_size,), generator=generator)
        loss, _ = policy({"obs": obs[index], "action": action[index]})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    policy.eval()
    return losses
