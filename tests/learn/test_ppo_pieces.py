"""The clipped surrogate, the rollout buffer and the dataclass command-line helper."""

import argparse
from dataclasses import dataclass

import pytest
import torch

from fleetpilot.learn.cli_args import add_dataclass_arguments, dataclass_from_args
from fleetpilot.learn.ppo_loss import clipped_policy_loss
from fleetpilot.learn.rollout_buffer import RolloutBuffer


def test_clipping_stops_the_gradient_beyond_the_trust_region():
    log_ratio = torch.log(torch.tensor([1.5, 1.05, 0.5, 0.95])).requires_grad_()
    advantages = torch.tensor([1.0, 1.0, -1.0, -1.0])
    loss, info = clipped_policy_loss(log_ratio, advantages, clip_coef=0.2)
    loss.backward()
    # Ratio 1.5 with A > 0 and ratio 0.5 with A < 0 are clipped: no gradient to push further.
    assert log_ratio.grad[0] == 0.0 and log_ratio.grad[2] == 0.0
    assert log_ratio.grad[1] < 0.0 and log_ratio.grad[3] > 0.0
    assert info["clip_fraction"] == pytest.approx(0.5)


def test_minibatches_cover_every_sample_once():
    buffer = RolloutBuffer(4, 3, {"obs": (2,)})
    for step in range(4):
        buffer.add(
            obs=torch.full((3, 2), float(step)),
            reward=torch.arange(3.0) + 10 * step,
            value=torch.zeros(3),
            next_value=torch.zeros(3),
            terminated=torch.zeros(3),
            episode_end=torch.zeros(3),
        )
    assert buffer.full
    flat = buffer.flat()
    seen = torch.cat(
        [mb["reward"] for mb in buffer.minibatches(flat, 5, torch.Generator().manual_seed(0))]
    )
    assert sorted(seen.tolist()) == sorted(
        (torch.arange(3.0) + 10 * torch.arange(4.0)[:, None]).flatten().tolist()
    )


def test_buffer_names_missing_fields():
    buffer = RolloutBuffer(2, 1, {"obs": (2,)})
    with pytest.raises(KeyError, match=r"missing fields \['episode_end'"):
        buffer.add(obs=torch.zeros(1, 2), reward=torch.zeros(1))


@dataclass
class ExampleArgs:
    seed: int = 1
    """seed of the experiment"""
    fast: bool = False
    """go fast"""
    name: str = "x"
    """a name"""


def test_dataclass_flags_carry_docstrings_and_types():
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, ExampleArgs)
    assert "seed of the experiment" in parser.format_help()
    args = dataclass_from_args(ExampleArgs, parser.parse_args(["--seed", "7", "--fast", "true"]))
    assert args == ExampleArgs(seed=7, fast=True, name="x")
