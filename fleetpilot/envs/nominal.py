"""The nominal (unsafe) go-to-goal controller, batched."""

from __future__ import annotations

import torch


def clip_norm(vectors: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scales each vector of ``vectors`` (..., 2) down to at most ``max_norm``."""
    norms = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    return vectors * torch.clamp(max_norm / norms.clamp_min(1e-12), max=1.0)


def go_to_goal(
    positions: torch.Tensor,
    goals: torch.Tensor,
    gain: torch.Tensor,
    max_speed: float,
    tangential: torch.Tensor | None = None,
) -> torch.Tensor:
    """Proportional go-to-goal velocities with an optional sideways bias.

    ``v = clip(k (goal - p), max_speed)``; with a bias ``b`` the command becomes
    ``clip(v + b * rot90(v), max_speed)``, a detour that vanishes at the goal.

    Args:
        positions: (B, N, 2) float, world frame [m].
        goals: (B, N, 2) float, world frame [m].
        gain: (B, N) float, proportional gain k [1/s].
        max_speed: speed limit [m/s].
        tangential: (B, N) float bias b (positive turns left), or None for none.

    Returns:
        (B, N, 2) float planar velocities [m/s], world frame.
    """
    velocity = clip_norm(gain.unsqueeze(-1) * (goals - positions), max_speed)
    if tangential is not None:
        left = torch.stack([-velocity[..., 1], velocity[..., 0]], dim=-1)
        velocity = clip_norm(velocity + tangential.unsqueeze(-1) * left, max_speed)
    return velocity
