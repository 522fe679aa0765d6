"""Deterministic sampling graphs of each policy type, ready for TorchScript and ONNX.

Exported graphs take the noise as an input (``(obs [B, O], noise [B, D]) -> chunk [B, H, A]``)
so they contain no random operator, agree exactly with eager sampling given the same noise,
and leave the random source to the caller. Step loops are unrolled at the configured number of
ODE / DDIM steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fleetpilot.flow.modeling_diffusion import DiffusionPolicy
from fleetpilot.flow.modeling_flow import FlowPolicy
from fleetpilot.flow.modeling_gaussian import GaussianPolicy
from fleetpilot.flow.noise_schedule import ddim_step, ddim_timesteps
from fleetpilot.flow.ode import integrate
from fleetpilot.flow.pretrained import PreTrainedPolicy


class FlowSampler(nn.Module):
    """Integrates the flow policy's field from the given noise."""

    def __init__(self, policy: FlowPolicy) -> None:
        super().__init__()
        self.field = policy.field
        self.steps = policy.config.num_flow_steps
        self.integrator = policy.config.integrator
        self.chunk_shape = (policy.config.horizon, policy.config.action_dim)

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        flat = integrate(lambda x, t: self.field(obs, x, t), noise, self.steps, self.integrator)
        return flat.reshape(-1, *self.chunk_shape)


class DiffusionSampler(nn.Module):
    """Runs the diffusion policy's DDIM steps from the given noise."""

    def __init__(self, policy: DiffusionPolicy) -> None:
        super().__init__()
        config = policy.config
        self.noise_predictor = policy.noise_predictor
        self.clip = config.sample_clip
        alphas = policy.alphas_cumprod.tolist()
        self.steps = ddim_timesteps(config.num_train_timesteps, config.num_inference_steps)
        self.alphas = [alphas[step] for step in self.steps] + [1.0]
        self.chunk_shape = (config.horizon, config.action_dim)

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = noise
        for index, step in enumerate(self.steps):
            timestep = torch.full_like(x[:, 0], float(step))
            predicted = self.noise_predictor(obs, x, timestep)
            x = ddim_step(x, predicted, self.alphas[index], self.alphas[index + 1], self.clip)
        return x.reshape(-1, *self.chunk_shape)


class GaussianSampler(nn.Module):
    """``mean(obs) + std * noise`` (pass zero noise for the mean action)."""

    def __init__(self, policy: GaussianPolicy) -> None:
        super().__init__()
        self.mean_net = policy.mean_net
        self.log_std = policy.log_std
        self.chunk_shape = (policy.config.horizon, policy.config.action_dim)

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        flat = self.mean_net(obs) + self.log_std.exp() * noise
        return flat.reshape(-1, *self.chunk_shape)


SAMPLERS: dict[str, Callable[..., nn.Module]] = {
    "flow": FlowSampler,
    "diffusion": DiffusionSampler,
    "gaussian": GaussianSampler,
}


def sampling_module(policy: PreTrainedPolicy) -> nn.Module:
    """The policy's sampler as an ``nn.Module`` ``(obs, noise) -> chunk`` in eval mode."""
    if policy.type_name not in SAMPLERS:
        raise ValueError(f"no exportable sampler for policy type {policy.type_name!r}")
    return SAMPLERS[policy.type_name](policy).eval()


def example_inputs(policy: PreTrainedPolicy, batch: int = 1, seed: int = 0):
    """``(obs [batch, O], noise [batch, D])`` on the policy's device, seeded."""
    generator = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, policy.config.obs_dim, generator=generator)
    noise = torch.randn(batch, policy.config.chunk_dim, generator=generator)
    return obs.to(policy.device), noise.to(policy.device)
