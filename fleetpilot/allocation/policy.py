"""The shipped learned allocator: config + safetensors weights + model card in one folder.

Contract (LeRobot-like): ``save_pretrained(dir)`` writes ``config.json`` (architecture, decoding
settings, training metadata) and ``model.safetensors``; ``from_pretrained(dir)`` rebuilds the
network and refuses weights whose names or shapes do not match the config. Nothing loaded can
run code (JSON and safetensors only). The model card (``README.md``) is written by training.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from fleetpilot.allocation.auction_decoding import auction_decode
from fleetpilot.allocation.coalition_choice import (
    CoalitionTrace,
    covering_subsets,
    decode_subsets,
    subset_matrix,
    subset_table,
)
from fleetpilot.allocation.cost_matrix import validate_cost
from fleetpilot.allocation.env import AllocationObs
from fleetpilot.allocation.features import (
    TASK_VALUE,
    ModelInputs,
    inputs_from_cost,
    inputs_from_obs,
)
from fleetpilot.allocation.learned_decoding import greedy_coalitions
from fleetpilot.allocation.model import (
    NEG_INF,
    StageOutputs,
    TwoStageAllocatorNet,
    TwoStageConfig,
)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "fleetpilot.allocation.two_stage/1"
STATIC_SCORES = ("stage1", "stage2")


@dataclass(frozen=True)
class DecodeConfig:
    """How network scores become decisions.

    Attributes:
        max_coalition: most robots per task in the dynamic setting.
        static_candidates: robots per task kept by stage 1 for one-to-one problems.
        static_relative_epsilon: bid increment of the auction decoding (fraction of the
            spread of learned scores) for one-to-one problems.
        static_scores: which learned scores the one-to-one decoding maximises: ``stage1``
            (pre-assignment similarity; a one-robot "coalition" needs no stage-2 selection) or
            ``stage2`` (candidate scores; out of distribution for bare cost matrices, kept for
            the benchmark's ablation).
    """

    max_coalition: int = 4
    static_candidates: int = 32
    static_relative_epsilon: float = 2e-3
    static_scores: str = "stage1"

    def __post_init__(self) -> None:
        for name in ("max_coalition", "static_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"DecodeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.static_relative_epsilon < 1.0:
            raise ValueError(
                f"DecodeConfig.static_relative_epsilon must be in (0, 1), "
                f"got {self.static_relative_epsilon}"
            )
        if self.static_scores not in STATIC_SCORES:
            raise ValueError(
                f"DecodeConfig.static_scores must be one of {STATIC_SCORES}, "
                f"got {self.static_scores!r}"
            )


def default_policy_dir() -> Path:
    """The repository's ``policies/allocator`` folder, found by walking up from this package.

    Raises:
        FileNotFoundError: if no parent folder has ``policies/allocator/config.json``.
    """
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "policies" / "allocator"
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"no policies/allocator/{CONFIG_FILE} above {here.parent}; train one with "
        "`fleetpilot train allocator` or pass a policy directory explicitly"
    )


def sequential_inputs(obs: AllocationObs, out: StageOutputs) -> tuple[np.ndarray, ...]:
    """The first six arguments of the sequential head's decoders (``learned_decoding``)."""
    return (
        obs.capabilities,
        obs.requirement,
        obs.eligible,
        out.candidates.numpy(),
        out.logits.numpy(),
        out.stop_logit.numpy(),
    )


def to_tensors(inputs: ModelInputs) -> dict[str, torch.Tensor]:
    """Model inputs as torch tensors (keyword arguments of the network)."""
    return {
        "robot": torch.from_numpy(inputs.robot),
        "task": torch.from_numpy(inputs.task),
        "pair": torch.from_numpy(inputs.pair),
        "member_cost": torch.from_numpy(inputs.member_cost),
        "eligible": torch.from_numpy(inputs.eligible),
    }


class TwoStagePolicy:
    """Two-stage learned allocator for dynamic coalitions (``act``) and static costs
    (``assign``)."""

    name = "two-stage"

    def __init__(
        self,
        model_config: TwoStageConfig | None = None,
        decode_config: DecodeConfig | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.model_config = model_config or TwoStageConfig()
        self.decode_config = decode_config or DecodeConfig()
        self.metadata = dict(metadata or {})
        self.net = TwoStageAllocatorNet(self.model_config)
        self.net.eval()

    # ------------------------------------------------------------------ decisions
    @torch.no_grad()
    def act(self, obs: AllocationObs) -> np.ndarray:
        """Greedy coalition decision for a dynamic-environment observation.

        Returns:
            (B, R) int slot index per robot, -1 = idle.
        """
        tensors = to_tensors(inputs_from_obs(obs))
        out = self.net(**tensors)
        if self.model_config.coalition_head:
            return self.choose_subsets(obs, tensors, out)[0]
        return greedy_coalitions(*sequential_inputs(obs, out), self.decode_config.max_coalition)

    def subset_scores(self, inputs: dict[str, torch.Tensor], out: StageOutputs) -> torch.Tensor:
        """(B, K, S + 1) coalition-head scores (stop last) from the network's tensors."""
        value = inputs["task"][..., self.model_config.n_capabilities + TASK_VALUE]
        subsets = subset_matrix(out.candidates.shape[-1], self.decode_config.max_coalition)
        return self.net.subset_scores(out, value, inputs["member_cost"], subsets)

    @torch.no_grad()
    def choose_subsets(
        self,
        obs: AllocationObs,
        inputs: dict[str, torch.Tensor],
        out: StageOutputs,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, CoalitionTrace, torch.Tensor]:
        """Coalition-head decision: one covering subset or stop per task, oldest first.

        Args:
            obs: the observation the network ``inputs`` (``to_tensors``) and ``out`` came from.
            rng: samples the choices when given (training); None = argmax.

        Returns:
            ((B, R) action, the decoding trace, (B, K, S + 1) scores).
        """
        candidates = out.candidates.numpy()
        table = subset_table(candidates.shape[-1], self.decode_config.max_coalition)
        covering = covering_subsets(
            obs.capabilities, obs.requirement, obs.eligible, candidates, table
        )
        scores = self.subset_scores(inputs, out)
        action, trace = decode_subsets(
            candidates, covering, scores.numpy(), table, obs.eligible.shape[1], rng
        )
        return action, trace, scores

    @torch.no_grad()
    def score_matrix(self, cost: np.ndarray, scores: str | None = None) -> np.ndarray:
        """Learned (R, T) scores for a one-to-one problem; -inf for forbidden pairs.

        Args:
            cost: (R, T) cost matrix; inf = forbidden.
            scores: ``stage1`` or ``stage2`` (default: ``decode_config.static_scores``). With
                ``stage2``, pairs outside the stage-1 candidates keep their stage-1 score minus
                a margin, so the decoding can still use them when candidates run out.
        """
        cost = validate_cost(cost)
        scores = scores or self.decode_config.static_scores
        if scores not in STATIC_SCORES:
            raise ValueError(f"scores must be one of {STATIC_SCORES}, got {scores!r}")
        tensors = to_tensors(inputs_from_cost(cost, self.model_config.n_capabilities))
        if scores == "stage1":
            stage_one = self.net.stage_one(**tensors)[0][0].numpy().astype(np.float64)
            return np.where(stage_one > NEG_INF / 2, stage_one, -np.inf)
        out = self.net(**tensors, n_candidates=self.decode_config.static_candidates)
        stage_one = out.pair_score[0].numpy().astype(np.float64)  # (R, T)
        finite = stage_one > NEG_INF / 2
        score = np.full(cost.shape, -np.inf)
        if not finite.any():
            return score
        margin = float(stage_one[finite].max() - stage_one[finite].min()) + 1.0
        score[finite] = stage_one[finite] - margin
        candidates, logits = out.candidates[0].numpy(), out.logits[0].numpy()  # (T, k)
        tasks, slots = np.nonzero(candidates >= 0)
        score[candidates[tasks, slots], tasks] = logits[tasks, slots]
        return score

    def assign(self, cost: np.ndarray) -> np.ndarray:
        """One-to-one assignment from learned scores decoded by a bounded auction.

        Args:
            cost: (R, T) cost matrix; inf = forbidden (never assigned).

        Returns:
            (R,) int64 task index per robot, -1 = none.
        """
        score = self.score_matrix(cost)
        return auction_decode(score, self.decode_config.static_relative_epsilon)

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes ``config.json`` and ``model.safetensors`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT,
            "model": dataclasses.asdict(self.model_config),
            "decode": dataclasses.asdict(self.decode_config),
            "metadata": self.metadata,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        state = {name: t.detach().contiguous() for name, t in self.net.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None) -> TwoStagePolicy:
        """Loads a policy folder (default: the repository's ``policies/allocator``).

        Raises:
            FileNotFoundError: missing folder or files.
            ValueError: unknown format, bad config fields, or weights that do not match the
                config (missing / unexpected tensors, wrong shapes).
        """
        directory = Path(directory) if directory is not None else default_policy_dir()
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"policy file missing: {path}")
        config = json.loads(config_path.read_text())
        if config.get("format") != FORMAT:
            raise ValueError(f"{config_path}: format {config.get('format')!r} is not {FORMAT!r}")
        try:
            model_config = TwoStageConfig(**config["model"])
            decode_config = DecodeConfig(**config["decode"])
        except (KeyError, TypeError) as error:
            raise ValueError(f"{config_path}: bad config: {error}") from error
        policy = cls(model_config, decode_config, config.get("metadata", {}))
        state = load_file(str(weights_path))
        expected = policy.net.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"{weights_path} does not match {config_path}: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        for name, tensor in state.items():
            if tensor.shape != expected[name].shape:
                raise ValueError(
                    f"{weights_path}: tensor {name} has shape {tuple(tensor.shape)}, config "
                    f"expects {tuple(expected[name].shape)}"
                )
        policy.net.load_state_dict(state)
        policy.net.eval()
        return policy
