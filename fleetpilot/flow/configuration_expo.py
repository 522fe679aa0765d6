"""Configuration of the EXPO policy: a flow base policy plus an edit policy and a Q-ensemble."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fleetpilot.flow.configuration_flow import FlowPolicyConfig
from fleetpilot.flow.expo import ExpoConfig


@dataclass(frozen=True)
class ExpoPolicyConfig(FlowPolicyConfig):
    """The base flow policy's fields (inherited) and EXPO's (see :class:`ExpoConfig`).

    Attributes:
        num_base_samples: base-policy actions proposed per observation.
        num_edited_samples: edited actions per observation.
        edit_scale: largest edit per action dimension.
        num_q: members of the Q-ensemble.
        critic_hidden_dims: hidden widths of the edit policy and each Q-network.
        q_aggregate: ``"min"`` or ``"mean"`` over the ensemble.
    """

    num_base_samples: int = 8
    num_edited_samples: int = 8
    edit_scale: float = 0.05
    num_q: int = 2
    critic_hidden_dims: tuple[int, ...] = (256, 256)
    q_aggregate: str = "min"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "critic_hidden_dims", tuple(self.critic_hidden_dims))
        if self.horizon != 1:
            raise ValueError(
                f"ExpoPolicyConfig.horizon must be 1 (Q scores single actions), got {self.horizon}"
            )
        _ = self.expo  # validates EXPO's fields, naming the bad one

    @property
    def expo(self) -> ExpoConfig:
        """The candidate counts and network sizes for :func:`propose_and_select`."""
        return ExpoConfig(
            num_base_samples=self.num_base_samples,
            num_edited_samples=self.num_edited_samples,
            edit_scale=self.edit_scale,
            num_q=self.num_q,
            hidden_dims=self.critic_hidden_dims,
            q_aggregate=self.q_aggregate,
        )

    def base_config(self) -> FlowPolicyConfig:
        """The base flow policy's own config."""
        names = [field.name for field in dataclasses.fields(FlowPolicyConfig)]
        return FlowPolicyConfig(**{name: getattr(self, name) for name in names})
