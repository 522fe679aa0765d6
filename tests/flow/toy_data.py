"""A toy bimodal imitation dataset: at observation 0 the expert acts -1 or +1, never 0."""

from __future__ import annotations

import torch


def bimodal_batch(batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``{"obs": [B, 1] zeros, "action": [B, 1]}`` with actions near -1 or +1 (std 0.05)."""
    sign = torch.randint(0, 2, (batch_size, 1), generator=generator).float() * 2.0 - 1.0
    jitter = 0.05 * torch.randn((batch_size, 1), generator=generator)
    return {"obs": torch.zeros(batch_size, 1), "action": sign + jitter}


def fit(policy: torch.nn.Module, iterations: int, seed: int, lr: float = 3e-3) -> list[float]:
    """Trains ``policy`` on the bimodal data; returns the loss of every iteration."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for _ in range(iterations):
        loss, _ = policy(bimodal_batch(256, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
