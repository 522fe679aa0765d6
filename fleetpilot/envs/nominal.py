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


NOMINAL_PARAMETERS = ("gain", "tangential", "make_way")
"""The action parameters :func:`nominal_with_parking` reads."""

MAKE_WAY_REACH = 2.5
"""A parked agent makes way for travelling neighbours closer than this many safety distances."""


def make_way_reach(safety_distance: float, sensing_radius: float) -> float:
    """How close [m] a travelling neighbour must come before a parked agent makes way: 2.5
    safety distances, but never beyond what the agent senses."""
    return min(MAKE_WAY_REACH * safety_distance, sensing_radius)


def make_way_direction(
    positions: torch.Tensor, travelling: torch.Tensor, reach: float
) -> torch.Tensor:
    """Where each agent should step to clear the way: away from travelling neighbours.

    ``sum_j max(0, 1 - d_ij / reach) * (p_i - p_j) / d_ij`` over neighbours j that are still
    travelling: strongest at contact, nothing beyond ``reach``. Parked neighbours do not count,
    so that agents parked side by side do not push each other off their goals.

    Args:
        positions: (B, N, 2) float [m].
        travelling: (B, N) bool, agents that have not arrived.
        reach: [m], at most the sensing radius (an agent only reacts to what it senses).

    Returns:
        (B, N, 2) float, length 0 to about the number of close travelling neighbours.
    """
    offsets = positions.unsqueeze(2) - positions.unsqueeze(1)  # [b, i, j] = p_i - p_j
    distances = torch.hypot(offsets[..., 0], offsets[..., 1]).clamp_min(1e-9)
    weights = torch.clamp(1.0 - distances / reach, min=0.0) * travelling.unsqueeze(1)
    others = 1.0 - torch.eye(positions.shape[1], dtype=weights.dtype, device=weights.device)
    weights = weights * others
    return (weights.unsqueeze(-1) * offsets / distances.unsqueeze(-1)).sum(dim=2)


def nominal_with_parking(
    positions: torch.Tensor,
    goals: torch.Tensor,
    arrived: torch.Tensor,
    params: dict[str, torch.Tensor],
    max_speed: float,
    reach: float,
) -> torch.Tensor:
    """The nominal command of travelling and parked agents, before the safety filter.

    Travelling agents go to their goal (gain, sideways bias). An arrived agent stays where it
    stopped when its ``make_way`` is 0; otherwise it holds its goal with its gain and steps
    away from travelling neighbours (``make_way * make_way_direction``): without that, a
    parked agent is a fixed obstacle to the decentralized filter, which never asks an agent
    standing still to move, and agents parked early can wall off the goals behind them.

    Args:
        positions, goals: (B, N, 2) float [m].
        arrived: (B, N) bool.
        params: (B, N) tensors ``gain``, ``tangential``, ``make_way`` (ActionLayout.unpack).
        max_speed: [m/s].
        reach: see :func:`make_way_direction`.

    Returns:
        (B, N, 2) float planar velocities [m/s].
    """
    gain, make_way = params["gain"], params["make_way"]
    travelling = go_to_goal(positions, goals, gain, max_speed, params["tangential"])
    if not bool((make_way > 0).any() & arrived.any()):  # nobody parked makes way
        return travelling.masked_fill(arrived.unsqueeze(-1), 0.0)
    away = make_way_direction(positions, ~arrived, reach)
    holding = clip_norm(
        go_to_goal(positions, goals, gain, max_speed) + make_way.unsqueeze(-1) * away, max_speed
    )
    holding = holding.masked_fill((make_way <= 0).unsqueeze(-1), 0.0)
    return torch.where(arrived.unsqueeze(-1), holding, travelling)
