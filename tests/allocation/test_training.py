"""Tiny-budget training runs end to end, is seeded, and writes a loadable policy + card."""

import argparse
import dataclasses

import numpy as np
import torch
from safetensors.torch import load_file

from fleetpilot.allocation import train_allocator
from fleetpilot.allocation.policy import WEIGHTS_FILE, TwoStagePolicy


def tiny_args(tmp_path, name: str) -> argparse.Namespace:
    args = train_allocator.Args(
        n_robots=12,
        episode_steps=12,
        n_instances=2,
        group_size=2,
        iterations=2,
        eval_every=1,
        eval_instances=2,
        minibatch_size=16,
        embed_dim=8,
        n_candidates=4,
        output_dir=str(tmp_path / name),
        runs_dir=str(tmp_path / "runs"),
        progress=False,
    )
    return argparse.Namespace(**dataclasses.asdict(args))


def test_tiny_training_is_reproducible_and_saves_a_policy_with_a_model_card(tmp_path):
    assert train_allocator.main(tiny_args(tmp_path, "a")) == 0
    assert train_allocator.main(tiny_args(tmp_path, "b")) == 0
    first = load_file(str(tmp_path / "a" / WEIGHTS_FILE))
    second = load_file(str(tmp_path / "b" / WEIGHTS_FILE))
    assert all(torch.equal(first[name], second[name]) for name in first)
    policy = TwoStagePolicy.from_pretrained(tmp_path / "a")
    assert policy.metadata["args"]["seed"] == 1
    card = (tmp_path / "a" / "README.md").read_text()
    assert "fleetpilot train allocator" in card and "Seed: 1" in card
    assert list((tmp_path / "runs").iterdir())  # TensorBoard run folder
    assert policy.assign(np.ones((3, 3))).tolist() != [-1, -1, -1]
