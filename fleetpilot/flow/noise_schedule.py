"""The cosine DDPM noise schedule and the deterministic DDIM update."""

from __future__ import annotations

import math

import torch


def cosine_alphas_cumprod(num_timesteps: int, offset: float = 0.008) -> torch.Tensor:
    """``[T]`` cumulative signal fractions alpha_bar_t of Nichol & Dhariwal's cosine schedule.

    Each per-step beta is capped at 0.999 so the last steps stay invertible.
    """
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    curve = torch.cos((steps + offset) / (1.0 + offset) * math.pi / 2.0) ** 2
    betas = (1.0 - curve[1:] / curve[:-1]).clamp(max=0.999)
    return torch.cumprod(1.0 - betas, dim=0).float()


def ddim_timesteps(num_train_timesteps: int, num_inference_steps: int) -> list[int]:
    """Descending training timesteps visited by DDIM, from ``T - 1`` down to 0."""
    spaced = torch.linspace(num_train_timesteps - 1, 0, num_inference_steps)
    return [int(round(value)) for value in spaced.tolist()]


def ddim_step(
    x_t: torch.Tensor,
    predicted_noise: torch.Tensor,
    alpha_bar_t: float,
    alpha_bar_prev: float,
    clip: float | None = None,
) -> torch.Tensor:
    """One deterministic (eta = 0) DDIM step from ``x_t`` to the previous visited timestep.

    Args:
        x_t: ``[B, D]`` noisy sample.
        predicted_noise: ``[B, D]`` the network's noise estimate at ``x_t``.
        alpha_bar_t: cumulative signal fraction at the current timestep.
        alpha_bar_prev: the same at the next (less noisy) timestep; 1 after the last step.
        clip: optional bound on the predicted clean sample.
    """
    clean = (x_t - math.sqrt(1.0 - alpha_bar_t) * predicted_noise) / math.sqrt(alpha_bar_t)
    if clip is not None:
        clean = clean.clamp(-clip, clip)
        # Re-derive the noise so the step stays consistent with the clipped clean sample.
        predicted_noise = (x_t - math.sqrt(alpha_bar_t) * clean) / math.sqrt(1.0 - alpha_bar_t)
    return math.sqrt(alpha_bar_prev) * clean + math.sqrt(1.0 - alpha_bar_prev) * predicted_noise
