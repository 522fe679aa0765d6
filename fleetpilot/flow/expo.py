"""EXPO's pieces (after Dong et al., 2025): edit policy, Q-ensemble, max-Q action selection.

A base policy (an expressive flow policy trained by imitation) proposes actions; a light
Gaussian *edit* policy nudges each proposal by at most ``edit_scale``; a Q-ensemble scores the
base and the edited proposals, and the highest-scoring candidate is used both to act and as the
next action in the TD target. The selection and the networks live here; the policy that holds
them is :mod:`fleetpilot.flow.modeling_expo`, the off-policy trainer
:mod:`fleetpilot.flow.train_expo`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from fleetpilot.flow.pretrained import PreTrainedPolicy
from fleetpilot.learn.mlp import build_mlp

INITIAL_EDIT_LOG_STD = -2.0


@dataclass(frozen=True)
class ExpoConfig:
    """Sizes of EXPO's candidate sets and networks.

    Attributes:
        num_base_samples: base-policy actions proposed per observation.
        num_edited_samples: edited actions per observation (one per base sample, cycling).
        edit_scale: the edit is ``edit_scale * tanh(gaussian sample)``, per dimension.
        num_q: members of the Q-ensemble.
        hidden_dims: hidden widths of the edit policy and each Q-network.
        q_aggregate: how the ensemble scores a candidate: ``"min"`` (pessimistic) or ``"mean"``.
    """

    num_base_samples: int = 8
    num_edited_samples: int = 8
    edit_scale: float = 0.05
    num_q: int = 2
    hidden_dims: tuple[int, ...] = (256, 256)
    q_aggregate: str = "min"

    def __post_init__(self) -> None:
        for name in ("num_base_samples", "num_q"):
            if getattr(self, name) < 1:
                raise ValueError(f"ExpoConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_edited_samples < 0:
            raise ValueError(
                f"ExpoConfig.num_edited_samples must be >= 0, got {self.num_edited_samples}"
            )
        if self.edit_scale <= 0.0:
            raise ValueError(f"ExpoConfig.edit_scale must be > 0, got {self.edit_scale}")
        if self.q_aggregate not in ("min", "mean"):
            raise ValueError(
                f"ExpoConfig.q_aggregate must be 'min' or 'mean', got {self.q_aggregate!r}"
            )


class GaussianEditPolicy(nn.Module):
    """``edit(obs, base_action) = edit_scale * tanh(N(mu, sigma))``, bounded per dimension."""

    def __init__(self, obs_dim: int, action_dim: int, config: ExpoConfig) -> None:
        super().__init__()
        self.edit_scale = config.edit_scale
        # Start near "no edit" (mean 0, std e^-2): an untrained edit scored by an untrained
        # Q-ensemble would otherwise steer every agent the same arbitrary way.
        self.net = build_mlp(
            obs_dim + action_dim, config.hidden_dims, 2 * action_dim, output_gain=0.01
        )
        with torch.no_grad():
            self.net[-1].bias[action_dim:] = INITIAL_EDIT_LOG_STD

    def forward(
        self,
        obs: torch.Tensor,
        base_action: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Edited actions ``[B, A]`` for observations ``[B, O]`` and base actions ``[B, A]``."""
        return self.sample_with_log_prob(obs, base_action, generator)[0]

    def sample_with_log_prob(
        self,
        obs: torch.Tensor,
        base_action: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised edited actions ``[B, A]`` and the edit's log-density ``[B]``.

        The density is that of ``tanh(raw)`` (the change of variables of SAC's squashed
        Gaussian); the constant ``log edit_scale`` is left out, it does not change gradients.
        """
        mean, log_std = self.net(torch.cat([obs, base_action], dim=-1)).chunk(2, dim=-1)
        log_std = log_std.clamp(-5.0, 2.0)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        raw = mean + log_std.exp() * noise
        squashed = torch.tanh(raw)
        log_prob = (
            -0.5 * noise.pow(2)
            - log_std
            - 0.5 * math.log(2.0 * math.pi)
            - torch.log1p(-squashed.pow(2) + 1e-6)
        ).sum(-1)
        return base_action + self.edit_scale * squashed, log_prob


class QEnsemble(nn.Module):
    """``num_q`` independent Q-networks ``Q_i(obs, action)``."""

    def __init__(self, obs_dim: int, action_dim: int, config: ExpoConfig) -> None:
        super().__init__()
        self.aggregate = config.q_aggregate
        self.members = nn.ModuleList(
            build_mlp(obs_dim + action_dim, config.hidden_dims, 1) for _ in range(config.num_q)
        )

    def all_values(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``[num_q, B]`` every member's value."""
        inputs = torch.cat([obs, action], dim=-1)
        return torch.stack([member(inputs).squeeze(-1) for member in self.members])

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``[B]`` the aggregated (min or mean) value."""
        values = self.all_values(obs, action)
        return values.min(dim=0).values if self.aggregate == "min" else values.mean(dim=0)


def select_max_q(candidates: torch.Tensor, q_values: torch.Tensor):
    """Picks, per observation, the candidate with the highest value.

    Args:
        candidates: ``[B, K, A]`` candidate actions.
        q_values: ``[B, K]`` their values.

    Returns:
        ``(actions [B, A], index [B])``.
    """
    if candidates.shape[:2] != q_values.shape:
        raise ValueError(
            f"candidates {tuple(candidates.shape)} and q_values {tuple(q_values.shape)} disagree"
        )
    index = q_values.argmax(dim=1)
    return candidates[torch.arange(candidates.shape[0]), index], index


@torch.no_grad()
def propose_and_select(
    base_policy: PreTrainedPolicy,
    edit_policy: GaussianEditPolicy,
    q_function: nn.Module,
    obs: torch.Tensor,
    config: ExpoConfig,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EXPO's on-the-fly policy: the max-Q action among base and edited proposals.

    Used for acting and, with the target Q-network, for the next action of the TD target.

    Args:
        base_policy: proposes with ``predict_action_chunk`` (first action of each chunk).
        edit_policy: nudges base proposals.
        q_function: ``(obs [N, O], action [N, A]) -> [N]``.
        obs: ``[B, O]``.
        config: candidate counts.

    Returns:
        ``(action [B, A], candidates [B, K, A], q_values [B, K])`` with
        ``K = num_base_samples + num_edited_samples``; the first ``num_base_samples``
        candidates are the base proposals.
    """
    batch, samples = obs.shape[0], config.num_base_samples
    repeated_obs = obs.repeat_interleave(samples, dim=0)
    base = base_policy.predict_action_chunk(repeated_obs, generator=generator)[:, 0]
    base = base.view(batch, samples, -1)
    candidates = [base]
    if config.num_edited_samples:
        pick = torch.arange(config.num_edited_samples, device=obs.device) % samples
        to_edit = base[:, pick].reshape(batch * config.num_edited_samples, -1)
        edit_obs = obs.repeat_interleave(config.num_edited_samples, dim=0)
        edited = edit_policy(edit_obs, to_edit, generator=generator)
        candidates.append(edited.view(batch, config.num_edited_samples, -1))
    candidates_tensor = torch.cat(candidates, dim=1)
    count = candidates_tensor.shape[1]
    q_values = q_function(
        obs.repeat_interleave(count, dim=0), candidates_tensor.reshape(batch * count, -1)
    ).view(batch, count)
    action, _ = select_max_q(candidates_tensor, q_values)
    return action, candidates_tensor, q_values
