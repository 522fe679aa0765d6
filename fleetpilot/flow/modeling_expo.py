"""The EXPO policy: acts with the highest-Q action among base and edited flow samples."""

from __future__ import annotations

import dataclasses

import torch

from fleetpilot.flow.configuration_expo import ExpoPolicyConfig
from fleetpilot.flow.expo import GaussianEditPolicy, QEnsemble, propose_and_select
from fleetpilot.flow.modeling_flow import FlowPolicy
from fleetpilot.flow.pretrained import PreTrainedPolicy


class ExpoPolicy(PreTrainedPolicy):
    """A flow base policy, a Gaussian edit policy and a Q-ensemble, saved as one folder.

    ``predict_action_chunk`` is EXPO's on-the-fly policy (:func:`propose_and_select`); the
    imitation loss (``forward``) is the base policy's flow-matching loss.
    """

    type_name = "expo"
    config_class = ExpoPolicyConfig

    def __init__(self, config: ExpoPolicyConfig) -> None:
        super().__init__(config)
        self.base = FlowPolicy(config.base_config())
        self.edit = GaussianEditPolicy(config.obs_dim, config.action_dim, config.expo)
        self.q = QEnsemble(config.obs_dim, config.action_dim, config.expo)
        self.to(self.device)

    @classmethod
    def from_base(cls, base: FlowPolicy, **expo_fields) -> ExpoPolicy:
        """A fresh EXPO policy around a copy of ``base`` (edit and Q-networks untrained)."""
        if not isinstance(base, FlowPolicy):
            raise TypeError(f"EXPO's base must be a flow policy, got {type(base).__name__}")
        config = ExpoPolicyConfig(**dataclasses.asdict(base.config), **expo_fields)
        policy = cls(config)
        policy.base.load_state_dict(base.state_dict())
        return policy

    @torch.no_grad()
    def predict_action_chunk(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        action, _, _ = propose_and_select(
            self.base, self.edit, self.q, self.check_obs(obs), self.config.expo, generator
        )
        return action[:, None]

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The base policy's flow-matching loss on ``{"obs", "action"}``."""
        return self.base(batch)
