"""Configuration of the diffusion policy (DDPM training, DDIM sampling)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetpilot.flow.configuration_common import PolicyConfig


@dataclass(frozen=True)
class DiffusionPolicyConfig(PolicyConfig):
    """A noise-prediction network over action chunks.

    Attributes:
        num_train_timesteps: DDPM steps of the (cosine) noise schedule used in training.
        num_inference_steps: DDIM steps at inference (<= num_train_timesteps).
        time_embedding_dim: width of the sinusoidal embedding of the timestep.
        sample_clip: clip predicted clean chunks to ``[-sample_clip, sample_clip]`` during
            sampling. Actions are expected normalised to about [-1, 1] (as in Diffusion
            Policy); without the clip the first DDIM steps, where almost no signal is left,
            extrapolate far out. None disables it.
    """

    num_train_timesteps: int = 100
    num_inference_steps: int = 16
    time_embedding_dim: int = 16
    sample_clip: float | None = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_train_timesteps < 2:
            raise ValueError(
                "DiffusionPolicyConfig.num_train_timesteps must be >= 2, "
                f"got {self.num_train_timesteps}"
            )
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise ValueError(
                "DiffusionPolicyConfig.num_inference_steps must be in "
                f"[1, {self.num_train_timesteps}], got {self.num_inference_steps}"
            )
        if self.time_embedding_dim < 2 or self.time_embedding_dim % 2:
            raise ValueError(
                "DiffusionPolicyConfig.time_embedding_dim must be an even integer >= 2, "
                f"got {self.time_embedding_dim}"
            )
        if self.sample_clip is not None and self.sample_clip <= 0.0:
            raise ValueError(
                f"DiffusionPolicyConfig.sample_clip must be > 0 or None, got {self.sample_clip}"
            )
