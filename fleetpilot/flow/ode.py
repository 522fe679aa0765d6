"""Fixed-step ODE integration of a velocity field from noise (t=0) to sample (t=1)."""

from __future__ import annotations

from collections.abc import Callable

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def euler_step(velocity: VelocityFn, x: torch.Tensor, t: float, dt: float) -> torch.Tensor:
    """``x + dt * v(x, t)``; ``x`` is ``[B, D]``."""
    return x + dt * velocity(x, _times(x, t))


def midpoint_step(velocity: VelocityFn, x: torch.Tensor, t: float, dt: float) -> torch.Tensor:
    """Explicit midpoint: second order, two field evaluations."""
    half = x + 0.5 * dt * velocity(x, _times(x, t))
    return x + dt * velocity(half, _times(x, t + 0.5 * dt))


INTEGRATORS: dict[str, Callable[[VelocityFn, torch.Tensor, float, float], torch.Tensor]] = {
    "euler": euler_step,
    "midpoint": midpoint_step,
}
# Where, within a step, each integrator's last field evaluation sits: for a field that does not
# depend on x, the integrated displacement is exactly the dt-weighted sum at these times.
EVALUATION_OFFSETS: dict[str, float] = {"euler": 0.0, "midpoint": 0.5}


def integrate(velocity: VelocityFn, x0: torch.Tensor, num_steps: int, method: str) -> torch.Tensor:
    """Integrates ``dx/dt = v(x, t)`` on ``[0, 1]`` with ``num_steps`` equal steps.

    Args:
        velocity: maps ``(x [B, D], t [B])`` to ``[B, D]``.
        x0: ``[B, D]`` start (noise).
        num_steps: number of steps.
        method: a key of ``INTEGRATORS``.

    Returns:
        ``[B, D]`` the state at t=1.
    """
    step = INTEGRATORS[method]
    dt = 1.0 / num_steps
    x = x0
    for index in range(num_steps):
        x = step(velocity, x, index * dt, dt)
    return x


def path_times(num_steps: int, method: str) -> tuple[torch.Tensor, float]:
    """Times ``[K]`` and the weight ``dt`` at which the integrator samples the field."""
    dt = 1.0 / num_steps
    offset = EVALUATION_OFFSETS[method]
    return (torch.arange(num_steps, dtype=torch.float32) + offset) * dt, dt


def _times(x: torch.Tensor, t: float) -> torch.Tensor:
    return torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)
