"""Networks shared by the flow and diffusion policies."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from fleetpilot.learn.mlp import build_mlp


class SinusoidalTimeEmbedding(nn.Module):
    """Maps a scalar time per sample ``[B]`` to ``[B, dim]`` sines and cosines.

    Args:
        dim: even embedding width.
        max_period: longest period, in units of the input (1 for t in [0, 1]).
    """

    def __init__(self, dim: int, max_period: float = 1.0) -> None:
        super().__init__()
        half = dim // 2
        # Frequencies from 1/max_period up to ~1000/max_period, geometrically spaced, so both
        # coarse and fine changes of t are visible to the network.
        exponents = torch.arange(half, dtype=torch.float32) / max(half - 1, 1)
        frequencies = 2.0 * math.pi * (1000.0**exponents) / max_period
        self.register_buffer("frequencies", frequencies, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t[:, None].float() * self.frequencies[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ConditionalField(nn.Module):
    """An MLP ``f(obs, x, t) -> [B, sample_dim]``: a velocity field or a noise predictor.

    Args:
        obs_dim: observation length.
        sample_dim: length of the (flattened) action chunk being transported.
        hidden_dims: hidden widths.
        time_embedding_dim: sinusoidal embedding width.
        activation: hidden nonlinearity.
        time_scale: the input time is divided by this before embedding (1 for flow times in
            [0, 1], the number of training steps for diffusion timesteps).
    """

    def __init__(
        self,
        obs_dim: int,
        sample_dim: int,
        hidden_dims: Sequence[int],
        time_embedding_dim: int,
        activation: str,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.time_scale = float(time_scale)
        self.time_embedding = SinusoidalTimeEmbedding(time_embedding_dim)
        self.mlp = build_mlp(
            obs_dim + sample_dim + time_embedding_dim,
            hidden_dims,
            sample_dim,
            activation=activation,
            output_gain=0.1,
        )

    def forward(self, obs: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Args: obs ``[B, O]``, x ``[B, D]``, t ``[B]``. Returns ``[B, D]``."""
        embedded = self.time_embedding(t / self.time_scale)
        return self.mlp(torch.cat([obs, x, embedded], dim=-1))
