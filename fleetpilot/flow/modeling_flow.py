"""The flow-matching policy: a conditional velocity field integrated from noise to actions."""

from __future__ import annotations

import torch

from fleetpilot.flow.configuration_flow import FlowPolicyConfig
from fleetpilot.flow.networks import ConditionalField
from fleetpilot.flow.ode import integrate
from fleetpilot.flow.pretrained import PreTrainedPolicy


class FlowPolicy(PreTrainedPolicy):
    """``dx/dt = v(x, t | obs)`` carries ``x(0) ~ N(0, I)`` to an action chunk ``x(1)``.

    Trained by conditional flow matching on the straight path ``x_t = (1 - t) z + t a``
    (target velocity ``a - z``); sampled with ``config.num_flow_steps`` Euler or midpoint steps.
    """

    type_name = "flow"
    config_class = FlowPolicyConfig

    def __init__(self, config: FlowPolicyConfig) -> None:
        super().__init__(config)
        self.field = ConditionalField(
            config.obs_dim,
            config.chunk_dim,
            config.hidden_dims,
            config.time_embedding_dim,
            config.activation,
        )
        self._episode_noise: torch.Tensor | None = None
        self.to(self.device)

    def reset(self) -> None:
        """Forget queued actions and the episode's start noise (``config.episode_noise``)."""
        super().reset()
        self._episode_noise = None

    def velocity(self, obs: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` velocity at flat chunks ``x`` ``[B, D]`` and times ``t`` ``[B]``."""
        return self.field(obs, x, t)

    def transport(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Integrates the field from ``noise`` ``[B, D]`` to flat chunks ``[B, D]``."""
        obs = self.check_obs(obs)
        return integrate(
            lambda x, t: self.field(obs, x, t),
            noise,
            self.config.num_flow_steps,
            self.config.integrator,
        )

    def sample_noise(self, batch_size: int, generator: torch.Generator | None = None):
        """``[B, D]`` standard normal start points of the flow."""
        return torch.randn(
            (batch_size, self.config.chunk_dim), generator=generator, device=self.device
        )

    def inference_noise(self, batch_size: int, generator: torch.Generator | None = None):
        """``[B, D]`` start points for ``select_action``: standard normal, shrunk onto the
        sphere of radius ``config.noise_radius`` where longer (when that is > 0)."""
        noise = self.sample_noise(batch_size, generator)
        radius = self.config.noise_radius
        if radius > 0.0:
            norm = noise.norm(dim=-1, keepdim=True)
            noise = noise * torch.clamp(radius / norm.clamp_min(1e-12), max=1.0)
        return noise

    @torch.no_grad()
    def predict_action_chunk(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.config.episode_noise:
            held = self._episode_noise
            if held is None or held.shape[0] != obs.shape[0]:
                held = self._episode_noise = self.inference_noise(obs.shape[0], generator)
            noise = held
        else:
            noise = self.inference_noise(obs.shape[0], generator)
        flat = self.transport(obs, noise)
        if self.config.noise_at_inference and self.config.action_noise_std > 0.0:
            extra = torch.randn(flat.shape, generator=generator, device=flat.device)
            flat = flat + self.config.action_noise_std * extra
        return flat.view(-1, self.config.horizon, self.config.action_dim)

    def flow_matching_loss(
        self,
        obs: torch.Tensor,
        flat_action: torch.Tensor,
        noise: torch.Tensor,
        t: torch.Tensor,
    ) -> torch.Tensor:
        """Per-sample conditional flow-matching loss ``[B]`` at given noise and times.

        Args:
            obs: ``[B, O]``.
            flat_action: ``[B, D]`` target chunks.
            noise: ``[B, D]`` path start points.
            t: ``[B]`` times in [0, 1].
        """
        x_t = (1.0 - t[:, None]) * noise + t[:, None] * flat_action
        predicted = self.field(self.check_obs(obs), x_t, t)
        return (predicted - (flat_action - noise)).pow(2).mean(-1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Flow-matching loss on ``{"obs", "action"}``; optional ``"noise"`` and ``"t"``."""
        flat = self.check_action_chunk(batch["action"]).flatten(1)
        noise = batch.get("noise")
        if noise is None:
            noise = torch.randn_like(flat)
        t = batch.get("t")
        if t is None:
            t = torch.rand(flat.shape[0], device=flat.device)
        loss = self.flow_matching_loss(batch["obs"], flat, noise, t).mean()
        return loss, {"flow_matching_loss": loss.item()}
