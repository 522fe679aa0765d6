"""Batched robot motion models with the CBF safety filter between command and motion.

A motion model turns the nominal planar velocity into its own command type, runs the matching
batched safety filter from :mod:`fleetpilot.safety`, and integrates the filtered command over
one control period. :data:`MOTION_MODELS` maps the scenario's ``dynamics`` name to a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

import torch

from fleetpilot.envs.nominal import clip_norm
from fleetpilot.scenarios import RobotSpec

STANDSTILL_SPEED = 1e-6
"""Below this speed [m/s] a single integrator keeps its previous heading."""


def wrap_angle(angles: torch.Tensor) -> torch.Tensor:
    """Angles [rad] wrapped to (-pi, pi]."""
    return torch.atan2(torch.sin(angles), torch.cos(angles))


def integrate_single_integrator(
    positions: torch.Tensor,
    headings: torch.Tensor,
    velocities: torch.Tensor,
    dt: float,
    max_speed: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of ``p' = p + dt * clip(u, max_speed)``.

    Args:
        positions: (B, N, 2) float [m].
        headings: (B, N) float [rad]; becomes the direction of motion (kept when standing).
        velocities: (B, N, 2) float commanded velocities [m/s], world frame.
        dt: step [s].
        max_speed: speed limit [m/s] (the actuators' saturation).

    Returns:
        positions (B, N, 2) [m] and headings (B, N) [rad] after the step.
    """
    velocities = clip_norm(velocities, max_speed)
    moving = torch.linalg.vector_norm(velocities, dim=-1) > STANDSTILL_SPEED
    direction = torch.atan2(velocities[..., 1], velocities[..., 0])
    return positions + dt * velocities, torch.where(moving, direction, headings)


def integrate_unicycle(
    positions: torch.Tensor,
    headings: torch.Tensor,
    commands: torch.Tensor,
    dt: float,
    max_speed: float,
    max_turn_rate: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One exact step of the unicycle ``x' = v cos(th), y' = v sin(th), th' = w``.

    Constant (v, w) over the step moves the robot along an arc whose chord has length
    ``v dt sinc(w dt / 2)`` in the direction ``th + w dt / 2``; this holds for w = 0 too.

    Args:
        positions: (B, N, 2) float axle-centre positions [m].
        headings: (B, N) float [rad].
        commands: (B, N, 2) float [v m/s, w rad/s], clipped to the limits before use.
        dt: step [s].
        max_speed: |v| limit [m/s].
        max_turn_rate: |w| limit [rad/s].

    Returns:
        positions (B, N, 2) [m] and headings (B, N) [rad] in (-pi, pi] after the step.
    """
    speed = commands[..., 0].clamp(-max_speed, max_speed)
    turn = commands[..., 1].clamp(-max_turn_rate, max_turn_rate)
    half_turn = 0.5 * dt * turn
    chord = speed * dt * torch.sinc(half_turn / math.pi)  # torch.sinc(x) = sin(pi x) / (pi x)
    direction = headings + half_turn
    step = torch.stack([chord * torch.cos(direction), chord * torch.sin(direction)], dim=-1)
    return positions + step, wrap_angle(headings + dt * turn)


def velocity_to_unicycle(
    velocities: torch.Tensor, headings: torch.Tensor, projection_distance: float
) -> torch.Tensor:
    """Unicycle commands that move the point ``projection_distance`` ahead at ``velocities``.

    Args:
        velocities: (B, N, 2) float desired planar velocities of the projected point [m/s].
        headings: (B, N) float [rad].
        projection_distance: distance of the controlled point ahead of the axle [m].

    Returns:
        (B, N, 2) float [v m/s, w rad/s].
    """
    cos, sin = torch.cos(headings), torch.sin(headings)
    forward = cos * velocities[..., 0] + sin * velocities[..., 1]
    sideways = -sin * velocities[..., 0] + cos * velocities[..., 1]
    return torch.stack([forward, sideways / projection_distance], dim=-1)


class MotionModel(Protocol):
    """What the environment needs from a robot model."""

    def command_from_velocity(
        self, velocities: torch.Tensor, headings: torch.Tensor
    ) -> torch.Tensor: ...

    def safe_command(
        self,
        positions: torch.Tensor,
        headings: torch.Tensor,
        commands: torch.Tensor,
        alpha: torch.Tensor,
        obstacles: torch.Tensor | None,
        active: torch.Tensor,
        responsibility: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def integrate(
        self, positions: torch.Tensor, headings: torch.Tensor, commands: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class SingleIntegratorModel:
    """Commands are planar velocities [m/s]; filtered by ``SingleIntegratorCBF.filter_batch``.

    Args:
        robot: limits (max_speed).
        safety_distance: the filter's smallest centre distance between agents [m].
        sensing_radius: neighbours farther than this are ignored by the filter [m].
        dt: control period [s].
    """

    def __init__(
        self, robot: RobotSpec, safety_distance: float, sensing_radius: float, dt: float
    ) -> None:
        from fleetpilot.safety import SingleIntegratorCBF

        self.robot, self.dt = robot, dt
        self.cbf = SingleIntegratorCBF(
            safety_distance=safety_distance,
            sensing_radius=sensing_radius,
            max_speed=robot.max_speed,
            dt=dt,
        )

    def command_from_velocity(self, velocities: torch.Tensor, headings: torch.Tensor):
        return velocities

    def safe_command(
        self, positions, headings, commands, alpha, obstacles, active, responsibility=None
    ):
        """(B, N, 2) filtered velocities [m/s] and (B, N) SafetyMode codes.

        ``responsibility``: (B, N, N) shares in [1/2, 1] or None (1/2 for every pair).
        """
        return self.cbf.filter_batch(
            positions,
            commands,
            alpha=alpha,
            obstacles=obstacles,
            active=active,
            responsibility=responsibility,
        )

    def integrate(self, positions, headings, commands):
        return integrate_single_integrator(
            positions, headings, commands, self.dt, self.robot.max_speed
        )


class UnicycleModel:
    """Commands are [v m/s, w rad/s]; filtered by ``UnicycleCBF.filter_batch``.

    The nominal planar velocity drives the point ``projection_distance`` ahead of the axle.

    Args:
        robot: limits (max_speed, max_turn_rate, projection_distance).
        safety_distance: the filter's smallest centre distance between agents [m].
        sensing_radius: neighbours farther than this are ignored by the filter [m].
        dt: control period [s].
    """

    def __init__(
        self, robot: RobotSpec, safety_distance: float, sensing_radius: float, dt: float
    ) -> None:
        from fleetpilot.safety import UnicycleCBF

        self.robot, self.dt = robot, dt
        self.cbf = UnicycleCBF(
            safety_distance=safety_distance,
            sensing_radius=sensing_radius,
            max_speed=robot.max_speed,
            max_turn_rate=robot.max_turn_rate,
            projection_distance=robot.projection_distance,
            dt=dt,
        )

    def command_from_velocity(self, velocities: torch.Tensor, headings: torch.Tensor):
        return velocity_to_unicycle(velocities, headings, self.robot.projection_distance)

    def safe_command(
        self, positions, headings, commands, alpha, obstacles, active, responsibility=None
    ):
        """(B, N, 2) filtered [v, w] commands and (B, N) SafetyMode codes."""
        poses = torch.cat([positions, headings.unsqueeze(-1)], dim=-1)
        return self.cbf.filter_batch(
            poses,
            commands,
            alpha=alpha,
            obstacles=obstacles,
            active=active,
            responsibility=responsibility,
        )

    def integrate(self, positions, headings, commands):
        return integrate_unicycle(
            positions,
            headings,
            commands,
            self.dt,
            self.robot.max_speed,
            self.robot.max_turn_rate,
        )


MOTION_MODELS: Mapping[str, type] = MappingProxyType(
    {"single_integrator": SingleIntegratorModel, "unicycle": UnicycleModel}
)
"""Scenario ``dynamics`` name -> motion model class; read-only."""
