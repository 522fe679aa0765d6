"""The clipped PPO surrogate and value losses, given log importance ratios from any policy."""

from __future__ import annotations

import torch


def clipped_policy_loss(
    log_ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's pessimistic clipped surrogate (to minimise).

    Args:
        log_ratio: ``[B]`` log of pi_new(a|s) / pi_old(a|s), exact or approximated.
        advantages: ``[B]`` advantage estimates (normalise them before, if wanted).
        clip_coef: epsilon of the clip range ``[1 - eps, 1 + eps]``.

    Returns:
        ``(loss, info)`` where info holds the approximate KL (the ``(r - 1) - log r``
        estimator) and the fraction of clipped samples.
    """
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef)
    loss = torch.max(unclipped, clipped).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean().item()
        clip_fraction = ((ratio - 1.0).abs() > clip_coef).float().mean().item()
    return loss, {"approx_kl": approx_kl, "clip_fraction": clip_fraction}


def value_loss(predicted: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Half mean squared error between predicted values ``[B]`` and returns ``[B]``."""
    return 0.5 * (predicted - returns).pow(2).mean()


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero-mean, unit-std advantages ``[B]`` (per minibatch, as in most PPO implementations)."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)
