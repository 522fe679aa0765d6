"""Gaussian PPO for the nominal navigation controller: it learns, records its curve, reloads."""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from fleetpilot.envs.nav_observation import NavObservationConfig
from fleetpilot.flow.nav_policy import load_nav_policy, make_env, run_policy_episodes
from fleetpilot.flow.registry import make_config, make_policy
from fleetpilot.flow.train_nav_ppo import CURVE_FILE, Args, reproduce_command, train
from fleetpilot.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[2]
HEAD_ON = ROOT / "sim" / "scenarios" / "head_on_pair.yaml"


def short_args(tmp_path, name, **overrides):
    values = dict(
        scenarios="head_on_pair",
        total_timesteps=2048,
        num_envs=16,
        num_steps=32,
        eval_interval=1024,
        eval_episodes=2,
        output_dir=str(tmp_path / name),
        runs_dir=str(tmp_path / "runs"),
        progress=False,
    )
    values.update(overrides)
    return Args(**values)


def final_goal_distance(policy, obs_config) -> float:
    """Mean distance to the goal at the end of head_on_pair episodes driven by ``policy``."""
    env = make_env(load_scenario(HEAD_ON), 8, seed=123)
    run_policy_episodes(env, policy, obs_config, seed=123)
    return torch.linalg.vector_norm(env.goals - env.positions, dim=-1).mean().item()


def test_same_seed_gives_the_same_curve_and_policy(tmp_path):
    torch.set_num_threads(1)
    first = train(short_args(tmp_path, "a", seed=3))
    second = train(short_args(tmp_path, "b", seed=3))
    assert first["curve"] == second["curve"]
    # Evaluated at 0, at every eval_interval samples and at the end.
    samples = [point["samples"] for point in first["curve"]]
    assert samples[0] == 0 and samples[-1] == first["samples"] >= 2048 and len(samples) >= 3
    assert samples == sorted(samples)
    for point in first["curve"]:
        assert set(point["success"]) == {"head_on_pair"}
        assert 0.0 <= point["mean_success"] <= 1.0
    weights_a = load_file(str(tmp_path / "a" / "model.safetensors"))
    weights_b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    assert any((tmp_path / "runs").iterdir())  # TensorBoard logs


def test_ppo_learns_to_drive_to_the_goal_and_saves_a_nav_policy(tmp_path):
    torch.set_num_threads(1)
    args = short_args(tmp_path, "p", seed=0, total_timesteps=16384, eval_interval=8192)
    result = train(args)

    # The saved folder is a nav policy: it loads with its observation config and curve.
    policy, obs_config = load_nav_policy(tmp_path / "p")
    assert obs_config == NavObservationConfig(scale=1.0, own_velocity=False)
    assert policy.config.sample_at_inference is False  # evaluation uses the mean action
    assert policy.metadata["seed"] == 0
    assert policy.metadata["command"] == reproduce_command(args)
    assert policy.metadata["result"]["curve"] == result["curve"]
    curve = json.loads((tmp_path / "p" / CURVE_FILE).read_text())
    assert curve == result["curve"]
    assert [point["samples"] for point in curve][0] == 0
    assert "fleetpilot train nav-ppo --seed 0" in (tmp_path / "p" / "README.md").read_text()

    # Real behaviour: the untrained policy (mean near zero) barely leaves its start, 6 m from
    # the goal; after PPO the agents end their episodes close to their goals.
    untrained = make_policy(
        "gaussian",
        make_config(
            "gaussian",
            obs_dim=obs_config.obs_dim,
            action_dim=2,
            hidden_dims=(args.hidden, args.hidden),
            sample_at_inference=False,
        ),
    )
    before = final_goal_distance(untrained, obs_config)
    after = final_goal_distance(policy, obs_config)
    assert before > 4.0
    assert after < 0.25 * before, (before, after)
