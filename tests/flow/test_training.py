"""The PPO training script: seeded runs are reproducible and write a loadable, carded policy."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from fleetpilot.flow.registry import load_policy
from fleetpilot.flow.train_flow_ppo import Args, reproduce_command, train


def short_args(tmp_path, name, **overrides):
    return Args(
        total_timesteps=2048,
        num_envs=32,
        num_steps=16,
        eval_episodes=20,
        output_dir=str(tmp_path / name),
        runs_dir=str(tmp_path / "runs"),
        progress=False,
        **overrides,
    )


@pytest.mark.parametrize("policy", ["flow", "gaussian"])
def test_same_seed_gives_the_same_policy(tmp_path, policy):
    first = train(short_args(tmp_path, "a", policy=policy, seed=3))
    second = train(short_args(tmp_path, "b", policy=policy, seed=3))
    weights_a = load_file(str(tmp_path / "a" / "model.safetensors"))
    weights_b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    assert first["evaluation"] == second["evaluation"]
    assert any((tmp_path / "runs").iterdir())  # TensorBoard logs


def test_warm_started_run_records_both_evaluations_and_its_command(tmp_path):
    args = short_args(tmp_path, "p", seed=5, bc_demos=16, bc_iterations=20)
    result = train(args)
    policy = load_policy(tmp_path / "p")
    assert policy.metadata["bc_evaluation"]["episodes"] == 500
    assert policy.metadata["train_args"]["bc_demos"] == 16
    card = (tmp_path / "p" / "README.md").read_text()
    assert reproduce_command(args) in card
    assert "--bc-demos 16" in reproduce_command(args)
    # The evaluation command reads the environment settings back from the saved metadata.
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetpilot.flow.eval_multigoal",
            "--policy",
            result["policy_dir"],
            "--episodes",
            "20",
            "--seed",
            str(args.seed + 10_000),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert output.returncode == 0, output.stderr
    assert json.loads(output.stdout)["goal_shares"] == result["evaluation"]["goal_shares"]


def test_demonstration_loss_needs_demonstrations(tmp_path):
    with pytest.raises(ValueError, match="bc_demos"):
        train(short_args(tmp_path, "x", bc_coef=0.5))


@pytest.mark.parametrize("policy", ["flow", "gaussian"])
def test_demonstration_loss_keeps_the_policy_near_the_expert(tmp_path, policy):
    """With ``bc_coef`` PPO fine-tuning keeps a lower imitation loss on the expert data."""
    from fleetpilot.envs.multigoal import MultiGoalConfig, generate_demonstrations

    common = dict(policy=policy, seed=4, bc_demos=32, bc_iterations=200, learning_rate=1e-3)
    plain = train(short_args(tmp_path, "plain", **common))
    anchored_args = short_args(tmp_path, "anchored", bc_coef=5.0, **common)
    anchored = train(anchored_args)
    assert "--bc-coef 5.0" in reproduce_command(anchored_args)
    obs, action = generate_demonstrations(MultiGoalConfig(), 64, seed=99)
    batch = {"obs": torch.as_tensor(obs), "action": torch.as_tensor(action)}
    losses = {}
    for name, result in (("plain", plain), ("anchored", anchored)):
        model = load_policy(result["policy_dir"])
        torch.manual_seed(0)
        with torch.no_grad():
            losses[name] = model(batch)[0].item()
    assert losses["anchored"] < losses["plain"]
