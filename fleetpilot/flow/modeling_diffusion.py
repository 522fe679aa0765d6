"""The diffusion policy: DDPM noise-prediction training, DDIM sampling."""

from __future__ import annotations

import torch

from fleetpilot.flow.configuration_diffusion import DiffusionPolicyConfig
from fleetpilot.flow.networks import ConditionalField
from fleetpilot.flow.noise_schedule import cosine_alphas_cumprod, ddim_step, ddim_timesteps
from fleetpilot.flow.pretrained import PreTrainedPolicy


class DiffusionPolicy(PreTrainedPolicy):
    """A noise predictor ``eps(x_k, k | obs)`` over flat action chunks (Chi et al. 2023)."""

    type_name = "diffusion"
    config_class = DiffusionPolicyConfig

    def __init__(self, config: DiffusionPolicyConfig) -> None:
        super().__init__(config)
        self.noise_predictor = ConditionalField(
            config.obs_dim,
            config.chunk_dim,
            config.hidden_dims,
            config.time_embedding_dim,
            config.activation,
            time_scale=float(config.num_train_timesteps),
        )
        # Derived from the config, so not saved with the weights.
        alphas = cosine_alphas_cumprod(config.num_train_timesteps)
        self.register_buffer("alphas_cumprod", alphas, persistent=False)
        self.to(self.device)

    @torch.no_grad()
    def predict_action_chunk(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        obs = self.check_obs(obs)
        x = torch.randn(
            (obs.shape[0], self.config.chunk_dim), generator=generator, device=self.device
        )
        alphas = self.alphas_cumprod.tolist()
        steps = ddim_timesteps(self.config.num_train_timesteps, self.config.num_inference_steps)
        for index, step in enumerate(steps):
            timestep = torch.full((obs.shape[0],), float(step), device=self.device)
            noise = self.noise_predictor(obs, x, timestep)
            previous = alphas[steps[index + 1]] if index + 1 < len(steps) else 1.0
            x = ddim_step(x, noise, alphas[step], previous, self.config.sample_clip)
        return x.view(-1, self.config.horizon, self.config.action_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """DDPM noise-prediction loss on ``{"obs", "action"}`` at random timesteps."""
        clean = self.check_action_chunk(batch["action"]).flatten(1)
        noise = torch.randn_like(clean)
        steps = torch.randint(
            0, self.config.num_train_timesteps, (clean.shape[0],), device=clean.device
        )
        alpha_bar = self.alphas_cumprod[steps][:, None]
        noisy = alpha_bar.sqrt() * clean + (1.0 - alpha_bar).sqrt() * noise
        predicted = self.noise_predictor(self.check_obs(batch["obs"]), noisy, steps.float())
        loss = (predicted - noise).pow(2).mean()
        return loss, {"denoising_loss": loss.item()}
