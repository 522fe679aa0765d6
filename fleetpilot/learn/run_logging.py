"""Seeding, run names and TensorBoard writers for training scripts."""

from __future__ import annotations

import itertools
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, torch_deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = torch_deterministic


def source_commit() -> str:
    """The short git commit of the code a run was trained from ("unknown" outside a checkout),
    for model cards."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def run_name(env_id: str, exp_name: str, seed: int, start_time: float | None = None) -> str:
    """CleanRL-style ``env__exp__seed__unixtime`` name of one training run."""
    stamp = int(time.time() if start_time is None else start_time)
    return f"{env_id}__{exp_name}__{seed}__{stamp}"


def fresh_run_directory(runs_dir: str | Path, name: str) -> Path:
    """A new, empty ``runs_dir/name`` (``name__2``, ``name__3``, ... if taken).

    Run names change once a second, so two runs started together would otherwise write into
    one folder; ``mkdir`` without ``exist_ok`` claims the folder atomically.
    """
    parent = Path(runs_dir)
    parent.mkdir(parents=True, exist_ok=True)
    for index in itertools.count(1):
        candidate = parent / (name if index == 1 else f"{name}__{index}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def make_writer(runs_dir: str | Path, name: str, hyperparameters: dict[str, Any]):
    """A TensorBoard ``SummaryWriter`` in a fresh ``runs_dir/name`` with a hyperparameter table.

    Returns:
        ``torch.utils.tensorboard.SummaryWriter`` (imported lazily: tensorboard is heavy).
    """
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(fresh_run_directory(runs_dir, name)))
    rows = "\n".join(f"|{key}|{value}|" for key, value in hyperparameters.items())
    writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{rows}")
    return writer
