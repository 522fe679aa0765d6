"""Configuration of the flow-matching policy."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetpilot.flow.configuration_common import PolicyConfig
from fleetpilot.flow.ode import INTEGRATORS


@dataclass(frozen=True)
class FlowPolicyConfig(PolicyConfig):
    """A velocity field ``v(x, t | obs)`` carrying Gaussian noise to action chunks.

    Attributes:
        num_flow_steps: ODE steps from noise (t=0) to action (t=1) at inference.
        integrator: ``"euler"`` or ``"midpoint"`` (two field evaluations per step).
        time_embedding_dim: width of the sinusoidal embedding of t.
        action_noise_std: std of the Gaussian added to the flow output when acting in RL
            (PolicyFlow's ``a = flow(z) + n``); 0 disables it (pure imitation use).
        noise_at_inference: add that Gaussian in ``select_action`` too (off for deployment).
        episode_noise: draw the flow's start noise z once per episode (at the first
            ``select_action`` after ``reset()``) and keep it for every later chunk of the
            episode, instead of fresh noise per chunk. Each chunk's action still has the flow's
            distribution, but z acts as the episode's intention: a multimodal policy commits to
            one mode rather than re-drawing it every step.
        noise_radius: at inference, start noise longer than this is shrunk onto the sphere of
            this radius (direction kept): truncated sampling, which drops the flow's rare
            outlying actions and keeps the shares of its modes when they are told apart by the
            direction of z; 0 disables. Training (PolicyFlow rollouts) is unaffected.
    """

    num_flow_steps: int = 4
    integrator: str = "euler"
    time_embedding_dim: int = 16
    action_noise_std: float = 0.0
    noise_at_inference: bool = False
    episode_noise: bool = False
    noise_radius: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_flow_steps < 1:
            raise ValueError(
                f"FlowPolicyConfig.num_flow_steps must be >= 1, got {self.num_flow_steps}"
            )
        if self.integrator not in INTEGRATORS:
            raise ValueError(
                f"FlowPolicyConfig.integrator must be one of {sorted(INTEGRATORS)}, "
                f"got {self.integrator!r}"
            )
        if self.time_embedding_dim < 2 or self.time_embedding_dim % 2:
            raise ValueError(
                "FlowPolicyConfig.time_embedding_dim must be an even integer >= 2, "
                f"got {self.time_embedding_dim}"
            )
        if not (math.isfinite(self.noise_radius) and self.noise_radius >= 0.0):
            raise ValueError(
                f"FlowPolicyConfig.noise_radius must be >= 0, got {self.noise_radius}"
            )
        if self.action_noise_std < 0.0:
            raise ValueError(
                f"FlowPolicyConfig.action_noise_std must be >= 0, got {self.action_noise_std}"
            )
