"""The Gaussian MLP baseline: a diagonal Gaussian over the flattened action chunk."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal

from fleetpilot.flow.configuration_gaussian import GaussianPolicyConfig
from fleetpilot.flow.pretrained import PreTrainedPolicy
from fleetpilot.learn.mlp import build_mlp


class GaussianPolicy(PreTrainedPolicy):
    """Mean from an MLP of the observation, log-std a free parameter per action dimension."""

    type_name = "gaussian"
    config_class = GaussianPolicyConfig

    def __init__(self, config: GaussianPolicyConfig) -> None:
        super().__init__(config)
        self.mean_net = build_mlp(
            config.obs_dim,
            config.hidden_dims,
            config.chunk_dim,
            activation=config.activation,
            output_gain=0.01,
        )
        self.log_std = nn.Parameter(torch.full((config.chunk_dim,), float(config.init_log_std)))
        self.to(self.device)

    def distribution(self, obs: torch.Tensor) -> Normal:
        """The action distribution over flat chunks ``[B, horizon * action_dim]``."""
        mean = self.mean_net(self.check_obs(obs))
        return Normal(mean, self.log_std.exp().expand_as(mean))

    def log_prob(self, obs: torch.Tensor, flat_action: torch.Tensor) -> torch.Tensor:
        """``[B]`` log-density of flat chunks ``[B, horizon * action_dim]``."""
        return self.distribution(obs).log_prob(flat_action).sum(-1)

    @torch.no_grad()
    def predict_action_chunk(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        dist = self.distribution(obs)
        flat = dist.mean
        if self.config.sample_at_inference:
            noise = torch.randn(flat.shape, generator=generator, device=flat.device)
            flat = flat + dist.stddev * noise
        return flat.view(-1, self.config.horizon, self.config.action_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Negative log-likelihood of demonstrated chunks (behaviour cloning)."""
        action = self.check_action_chunk(batch["action"]).flatten(1)
        loss = -self.log_prob(batch["obs"], action).mean()
        return loss, {"nll": loss.item()}
