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


def test_mixed_families_train_in_turn_and_validate_on_each(tmp_path):
    args = tiny_args(tmp_path, "mix")
    args.env_family = "capability, pickup"
    assert train_allocator.main(args) == 0
    policy = TwoStagePolicy.from_pretrained(tmp_path / "mix")
    per_family = policy.metadata["validation"]["per_family"]
    assert list(per_family) == ["capability", "pickup"]
    assert (
        policy.metadata["validation"]["greedy_reward"] == per_family["capability"]["greedy_reward"]
    )
    card = (tmp_path / "mix" / "README.md").read_text()
    assert "| pickup |" in card and "mix of families" in card


def test_bad_family_mixes_are_refused_by_name(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="env_family"):
        train_allocator.Args(env_family="capability,")
    args = tiny_args(tmp_path, "bad")
    args.env_family = "capability,nowhere"
    with pytest.raises(ValueError, match="unknown env family"):
        train_allocator.main(args)


def test_coalition_head_training_is_reproducible_and_changes_the_weights(tmp_path):
    runs = []
    for name in ("c1", "c2"):
        args = tiny_args(tmp_path, name)
        args.coalition_head, args.env_family, args.learning_rate = True, "pickup", 0.01
        assert train_allocator.main(args) == 0
        runs.append(load_file(str(tmp_path / name / WEIGHTS_FILE)))
    assert all(torch.equal(runs[0][name], runs[1][name]) for name in runs[0])
    policy = TwoStagePolicy.from_pretrained(tmp_path / "c1")
    assert policy.model_config.coalition_head and "profit_weight" in runs[0]


def test_coalition_head_log_probs_reach_every_trained_part_of_the_network():
    from fleetpilot.allocation.coalition_choice import choice_log_prob
    from fleetpilot.allocation.env import AllocationEnv, make_env_config
    from fleetpilot.allocation.features import inputs_from_obs
    from fleetpilot.allocation.model import TwoStageConfig
    from fleetpilot.allocation.policy import to_tensors

    torch.manual_seed(0)
    policy = TwoStagePolicy(TwoStageConfig(coalition_head=True))
    obs = AllocationEnv(make_env_config("pickup", n_robots=30), batch_size=2).reset(0)
    inputs = to_tensors(inputs_from_obs(obs))
    out = policy.net(**inputs)
    _, trace, _ = policy.choose_subsets(obs, inputs, out, rng=np.random.default_rng(0))
    log_prob, _ = choice_log_prob(
        policy.subset_scores(inputs, out),
        torch.from_numpy(trace.options),
        torch.from_numpy(trace.choice),
    )
    log_prob.sum().backward()
    for name in (
        "profit_weight",
        "hypernetwork.0.weight",
        "stop_head.0.weight",
        "attention_norm.weight",
    ):
        grad = policy.net.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
