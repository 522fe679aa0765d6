"""The policy contract and its safe on-disk format (JSON config + safetensors + model card).

A saved policy is a folder::

    config.json        {"format": ..., "type": "flow", "config": {...}, "metadata": {...}}
    model.safetensors  the weights (no pickle: loading cannot run code)
    README.md          the model card

Loading checks the type, validates the config and compares every weight's name and shape with
the network the config builds, and says exactly what disagrees.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fleetpilot.flow.action_queue import ActionChunkQueue
from fleetpilot.flow.configuration_common import PolicyConfig, config_from_dict

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_CARD_FILE = "README.md"
FORMAT = "fleetpilot.flow.policy/1"

PolicyT = TypeVar("PolicyT", bound="PreTrainedPolicy")


class PreTrainedPolicy(nn.Module, ABC):
    """Base of all policies: action queue, ``select_action`` and save/load.

    Subclasses set ``type_name`` and ``config_class`` and implement ``predict_action_chunk``
    and ``forward``.
    """

    type_name: ClassVar[str]
    config_class: ClassVar[type[PolicyConfig]]

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"config.device is {config.device!r} but CUDA is not available")
        self.config = config
        self.action_queue = ActionChunkQueue(config.n_action_steps)
        self.metadata: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.device)

    def reset(self) -> None:
        """Forget queued actions (call at the start of every episode)."""
        self.action_queue.clear()

    @torch.no_grad()
    def select_action(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The next action to execute, predicting a new chunk when the queue is empty.

        Args:
            obs: ``[B, obs_dim]`` or ``[obs_dim]``.
            generator: optional torch generator for reproducible sampling.

        Returns:
            ``[B, action_dim]`` (or ``[action_dim]`` for an unbatched observation).
        """
        unbatched = obs.ndim == 1
        batch = obs[None] if unbatched else obs
        if len(self.action_queue) == 0:
            self.action_queue.push_chunk(self.predict_action_chunk(batch, generator=generator))
        action = self.action_queue.pop()
        return action[0] if unbatched else action

    @abstractmethod
    def predict_action_chunk(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A fresh action chunk ``[B, horizon, action_dim]`` for ``obs`` ``[B, obs_dim]``."""

    @abstractmethod
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Imitation loss on ``{"obs": [B, O], "action": [B, H, A]}``: ``(loss, info)``."""

    def check_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` as a float tensor on the policy's device, shape-checked ``[B, obs_dim]``."""
        if obs.ndim != 2 or obs.shape[1] != self.config.obs_dim:
            raise ValueError(f"obs must be [B, {self.config.obs_dim}], got {tuple(obs.shape)}")
        return obs.to(device=self.device, dtype=torch.float32)

    def check_action_chunk(self, action: torch.Tensor) -> torch.Tensor:
        """``action`` as ``[B, horizon, action_dim]`` (``[B, A]`` accepted when horizon=1)."""
        horizon, action_dim = self.config.horizon, self.config.action_dim
        if action.ndim == 2 and horizon == 1:
            action = action[:, None]
        if action.ndim != 3 or tuple(action.shape[1:]) != (horizon, action_dim):
            raise ValueError(f"action must be [B, {horizon}, {action_dim}], got {action.shape}")
        return action.to(device=self.device, dtype=torch.float32)

    def save_pretrained(
        self,
        directory: str | Path,
        model_card: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Path:
        """Writes config.json, model.safetensors and README.md into ``directory``.

        Args:
            directory: created if missing.
            model_card: Markdown for README.md; a generated card when None.
            metadata: JSON-serialisable facts about training (command, seed, metrics).

        Returns:
            The directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = {
            "format": FORMAT,
            "type": self.type_name,
            "config": self.config.to_dict(),
            "metadata": metadata or {},
        }
        (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        weights = {name: t.detach().cpu().contiguous() for name, t in self.state_dict().items()}
        save_file(weights, str(directory / WEIGHTS_FILE), metadata={"format": FORMAT})
        card = model_card if model_card is not None else default_model_card(self, metadata)
        (directory / MODEL_CARD_FILE).write_text(card)
        return directory

    @classmethod
    def from_pretrained(
        cls: type[PolicyT], directory: str | Path, device: str | None = None
    ) -> PolicyT:
        """Loads a policy saved by ``save_pretrained``, validating type, config and weights.

        Args:
            directory: the saved folder.
            device: overrides ``config.device`` (e.g. load a GPU-trained policy on CPU).

        Raises:
            FileNotFoundError: a file is missing.
            ValueError: wrong format or type, invalid config, or weights that do not match.
        """
        document = read_config_document(directory)
        if document["type"] != cls.type_name:
            raise ValueError(
                f"{directory} holds a {document['type']!r} policy, not {cls.type_name!r}; "
                "use fleetpilot.flow.registry.load_policy to load any type"
            )
        config_data = dict(document["config"])
        if device is not None:
            config_data["device"] = device
        try:
            config = config_from_dict(cls.config_class, config_data)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"invalid config in {Path(directory) / CONFIG_FILE}: {error}"
            ) from None
        policy = cls(config)
        weights = load_file(str(Path(directory) / WEIGHTS_FILE))
        check_weights(policy.state_dict(), weights, Path(directory) / WEIGHTS_FILE)
        policy.load_state_dict(weights)
        policy.metadata = document.get("metadata", {})
        return policy.to(policy.device).eval()


def read_config_document(directory: str | Path) -> dict[str, Any]:
    """The parsed config.json of a saved policy, with its format checked."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {directory}")
    if not (Path(directory) / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in {directory}")
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document)
        raise ValueError(f"{path} has format {found!r}, expected {FORMAT!r}")
    for key in ("type", "config"):
        if key not in document:
            raise ValueError(f"{path} lacks the {key!r} entry")
    return document


def check_weights(
    expected: dict[str, torch.Tensor], loaded: dict[str, torch.Tensor], source: Path
) -> None:
    """Raises ValueError naming every missing, unexpected or mis-shaped tensor."""
    problems = [f"missing {name}" for name in sorted(set(expected) - set(loaded))]
    problems += [f"unexpected {name}" for name in sorted(set(loaded) - set(expected))]
    problems += [
        f"{name}: shape {tuple(loaded[name].shape)} but the config builds "
        f"{tuple(expected[name].shape)}"
        for name in sorted(set(expected) & set(loaded))
        if loaded[name].shape != expected[name].shape
    ]
    if problems:
        raise ValueError(f"weights in {source} do not match the config: " + "; ".join(problems))


def default_model_card(policy: PreTrainedPolicy, metadata: dict[str, Any] | None) -> str:
    """A minimal Markdown card: type, configuration and metadata."""
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in policy.config.to_dict().items())
    facts = "\n".join(f"- {key}: {value}" for key, value in (metadata or {}).items())
    parameters = sum(p.numel() for p in policy.parameters())
    return (
        f"# {policy.type_name} policy\n\n{parameters} parameters.\n\n"
        f"| field | value |\n| --- | --- |\n{rows}\n\n{facts}\n"
    )
