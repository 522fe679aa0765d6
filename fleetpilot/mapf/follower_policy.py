"""The learned Follower policy: a small network from a local observation to the 5 grid moves.

A FollowerLite-sized model (Skrynnik et al. 2024): the (C, 2r+1, 2r+1) observation of
:mod:`fleetpilot.mapf.observations` goes through an MLP to action logits and a value. Weights
are stored with safetensors and the config as JSON, so loading runs no code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class FollowerNetConfig:
    """Architecture of the policy network.

    Attributes:
        obs_radius: observation window radius r (window 2r+1).
        hidden: width of the two hidden layers.
        previous_agents: observe where agents stood one step earlier (a third channel).
    """

    obs_radius: int = 3
    hidden: int = 64
    previous_agents: bool = False

    def __post_init__(self) -> None:
        if self.obs_radius < 1:
            raise ValueError(f"FollowerNetConfig.obs_radius must be >= 1, got {self.obs_radius}")
        if self.hidden < 1:
            raise ValueError(f"FollowerNetConfig.hidden must be >= 1, got {self.hidden}")
        if not isinstance(self.previous_agents, bool):
            raise ValueError(
                f"FollowerNetConfig.previous_agents must be true or false, got "
                f"{self.previous_agents!r}"
            )

    @property
    def channels(self) -> int:
        """Observation channels: obstacles and path, agents, and optionally earlier agents."""
        return 3 if self.previous_agents else 2


class FollowerNet(nn.Module):
    """Shared-parameter actor-critic for every agent."""

    def __init__(self, config: FollowerNetConfig) -> None:
        super().__init__()
        self.config = config
        side = 2 * config.obs_radius + 1
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.channels * side * side, config.hidden),
            nn.Tanh(),
            nn.Linear(config.hidden, config.hidden),
            nn.Tanh(),
        )
        self.policy_head = nn.Linear(config.hidden, 5)
        self.value_head = nn.Linear(config.hidden, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and values.

        Args:
            obs: (B, C, 2r+1, 2r+1) float32, C = ``config.channels``.

        Returns:
            (logits (B, 5), value (B,)).
        """
        features = self.body(obs)
        return self.policy_head(features), self.value_head(features).squeeze(-1)


@numba.njit(cache=True)
def _dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, activate: bool) -> np.ndarray:
    out = np.empty((x.shape[0], weight.shape[1]), dtype=np.float32)
    total = np.empty(weight.shape[1], dtype=np.float64)
    for row in range(x.shape[0]):
        total[:] = bias
        for k in range(x.shape[1]):
            value = x[row, k]
            if value != 0.0:  # observations are mostly zeros
                for col in range(weight.shape[1]):
                    total[col] += value * weight[k, col]
        for col in range(weight.shape[1]):
            out[row, col] = np.tanh(total[col]) if activate else total[col]
    return out


@numba.njit(cache=True)
def mlp_logits(x, w1, b1, w2, b2, w3, b3) -> np.ndarray:
    """The policy head of :class:`FollowerNet` in single-threaded compiled code.

    Args:
        x: (B, D) float32 flattened observations; w*: (in, out) float32; b*: (out,) float32.

    Returns:
        (B, 5) float32 logits.
    """
    return _dense(_dense(_dense(x, w1, b1, True), w2, b2, True), w3, b3, False)


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits with invalid actions (mask False) pushed to a very low value."""
    return logits.masked_fill(~mask, -1e9)


class FollowerPolicy:
    """Inference wrapper: ``select_action``, ``save_pretrained`` and ``from_pretrained``."""

    def __init__(self, net: FollowerNet) -> None:
        self.net = net.eval()
        self.refresh()

    def refresh(self) -> None:
        """Copy the weights to numpy for :func:`mlp_logits`: at these batch sizes torch's per-op
        overhead and multi-threaded BLAS (contending for the shared cores) dominated the
        planner's time."""
        layers = [self.net.body[1], self.net.body[3], self.net.policy_head]
        self._weights = [
            (layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy())
            for layer in layers
        ]

    @property
    def config(self) -> FollowerNetConfig:
        return self.net.config

    def reset(self) -> None:
        """The policy is memoryless; kept for the policy contract."""

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Action logits, (N, 5) float32, computed in numpy from the (N, C, S, S) observations."""
        (w1, b1), (w2, b2), (w3, b3) = self._weights
        flat = np.ascontiguousarray(obs.reshape(len(obs), -1), dtype=np.float32)
        return mlp_logits(flat, w1, b1, w2, b2, w3, b3)

    def log_probs(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(N, 5) float64 log-probabilities of the valid actions (-inf for the others)."""
        logits = np.where(mask, self.logits(obs).astype(np.float64), -np.inf)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    def select_action(
        self, obs: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Actions among the valid ones: greedy, or sampled from the policy when ``rng`` is given.

        Args:
            obs: (N, C, 2r+1, 2r+1) float32 observations.
            mask: (N, 5) bool valid actions.
            rng: random generator for sampling; None means greedy.

        Returns:
            (N,) int64 actions.
        """
        logits = np.where(mask, self.logits(obs), -np.inf)
        if rng is None:
            return logits.argmax(axis=-1).astype(np.int64)
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        cumulative = np.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
        draws = rng.random((len(obs), 1))
        return np.minimum((cumulative < draws).sum(axis=-1), 4).astype(np.int64)

    def save_pretrained(self, directory: str | Path, card: str | None = None) -> None:
        """Write weights (safetensors), config (JSON) and optionally a model card."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        if card is not None:
            (directory / "README.md").write_text(card)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> FollowerPolicy:
        """Load a policy written by :meth:`save_pretrained`.

        Raises:
            FileNotFoundError: naming the missing file.
        """
        directory = Path(directory)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"{directory / name} not found (train with `fleetpilot train follower`)"
                )
        fields = json.loads((directory / CONFIG_FILE).read_text())
        net = FollowerNet(FollowerNetConfig(**fields))
        net.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        return cls(net)
