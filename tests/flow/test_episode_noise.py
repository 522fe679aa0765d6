"""Per-episode flow noise, the acting-noise schedule and the decaying demonstration weight."""

import pytest
import torch
from safetensors.torch import load_file

from fleetpilot.flow import policyflow
from fleetpilot.flow.registry import load_policy, make_config, make_policy
from fleetpilot.flow.train_flow_ppo import Args, acting_noise_std, reproduce_command, train
from tests.flow.test_training import short_args


def flow_policy(**overrides):
    torch.manual_seed(0)
    config = make_config(
        "flow", obs_dim=2, action_dim=2, hidden_dims=(16, 16), action_noise_std=0.3, **overrides
    )
    return make_policy("flow", config)


def test_episode_noise_holds_the_start_noise_until_reset():
    policy = flow_policy(episode_noise=True)
    generator = torch.Generator().manual_seed(0)
    obs = torch.randn(8, 2, generator=generator)
    policy.reset()
    first = policy.select_action(obs, generator=generator)
    again = policy.select_action(obs, generator=generator)
    torch.testing.assert_close(first, again)  # same observation, same noise: same action
    moved = policy.select_action(obs + 0.5, generator=generator)
    expected = policy.transport(obs + 0.5, policy._episode_noise)
    torch.testing.assert_close(moved, expected)
    policy.reset()
    assert not torch.allclose(policy.select_action(obs, generator=generator), first)
    # A batch of another size starts a new episode batch instead of failing.
    assert policy.select_action(obs[:3], generator=generator).shape == (3, 2)


def test_fresh_noise_is_the_default():
    policy = flow_policy()
    generator = torch.Generator().manual_seed(0)
    obs = torch.randn(8, 2, generator=generator)
    policy.reset()
    first = policy.select_action(obs, generator=generator)
    assert not torch.allclose(policy.select_action(obs, generator=generator), first)


def test_episode_noise_survives_save_and_load(tmp_path):
    policy = flow_policy(episode_noise=True)
    policy.save_pretrained(tmp_path / "p")
    assert load_policy(tmp_path / "p").config.episode_noise is True


def test_rollout_and_ratio_use_the_given_sigma():
    policy = flow_policy()
    generator = torch.Generator().manual_seed(1)
    obs = torch.randn(4096, 2, generator=generator)
    sample = policyflow.sample_for_rollout(policy, obs, generator, sigma=0.05)
    noise = sample.noise
    jitter_std = (sample.action - sample.flow_action).std().item()
    assert jitter_std == pytest.approx(0.05, rel=0.05)
    recorded = {
        "noise": sample.noise,
        "flow_action": sample.flow_action,
        "action": sample.action,
        "path_velocities": sample.path_velocities,
    }
    shifted = flow_policy()
    with torch.no_grad():
        shifted.field.mlp[-1].bias.add_(0.01)
    ratio = policyflow.policyflow_log_ratio(shifted, obs, recorded, sigma=0.05)
    default = policyflow.policyflow_log_ratio(shifted, obs, recorded)
    new_mean = policyflow.approximate_end_point(
        shifted, obs, noise, sample.flow_action, sample.path_velocities
    )
    expected = policyflow.gaussian_log_ratio(sample.action, new_mean, sample.flow_action, 0.05)
    torch.testing.assert_close(ratio, expected)
    assert not torch.allclose(ratio, default)


def test_acting_noise_schedule():
    constant = Args(action_noise_std=0.3)
    assert acting_noise_std(constant, 0.0) == acting_noise_std(constant, 0.9) == 0.3
    annealed = Args(action_noise_std=0.3, final_action_noise_std=0.1)
    assert acting_noise_std(annealed, 0.0) == pytest.approx(0.3)
    assert acting_noise_std(annealed, 0.5) == pytest.approx(0.2)
    assert acting_noise_std(annealed, 1.0) == pytest.approx(0.1)


def test_negative_final_noise_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="final_action_noise_std"):
        train(short_args(tmp_path, "x", final_action_noise_std=-0.1))
    with pytest.raises(ValueError, match="final_action_noise_std must be >= 0, got nan"):
        train(short_args(tmp_path, "y", final_action_noise_std=float("nan")))


def test_inference_settings_ship_with_the_policy_and_leave_training_alone(tmp_path):
    common = dict(
        seed=2,
        bc_demos=16,
        bc_iterations=20,
        bc_coef=1.0,
        anneal_bc_coef=True,
        final_action_noise_std=0.1,
    )
    held_args = short_args(tmp_path, "a", episode_noise=True, noise_radius=1.5, **common)
    held = train(held_args)
    again = train(short_args(tmp_path, "b", episode_noise=True, noise_radius=1.5, **common))
    assert held["evaluation"] == again["evaluation"]
    policy = load_policy(tmp_path / "a")
    assert policy.config.episode_noise is True and policy.config.noise_radius == 1.5
    command = reproduce_command(held_args)
    assert "--episode-noise True" in command and "--noise-radius 1.5" in command
    assert "--anneal-bc-coef True" in command
    card = (tmp_path / "a" / "README.md").read_text()
    assert "noise drawn once per episode, its norm clipped to 1.5" in card
    assert "stays in every PPO minibatch (weight 1.0, decayed to 0 over training)" in card
    # Without them the same seed trains the same weights but acts (and scores) differently.
    fresh = train(short_args(tmp_path, "c", **common))
    weights_a = load_file(str(tmp_path / "a" / "model.safetensors"))
    weights_c = load_file(str(tmp_path / "c" / "model.safetensors"))
    assert all(torch.equal(weights_a[name], weights_c[name]) for name in weights_a)
    assert load_policy(tmp_path / "c").config.episode_noise is False
    assert fresh["evaluation"] != held["evaluation"]


def test_noise_radius_clips_the_norm_and_keeps_the_direction():
    policy = flow_policy(noise_radius=1.0)
    noise = policy.inference_noise(4096, torch.Generator().manual_seed(3))
    assert noise.norm(dim=-1).max().item() <= 1.0 + 1e-5
    reference = flow_policy().sample_noise(4096, torch.Generator().manual_seed(3))
    cosine = torch.nn.functional.cosine_similarity(noise, reference, dim=-1)
    torch.testing.assert_close(cosine, torch.ones_like(cosine))
    short = reference.norm(dim=-1) <= 1.0
    torch.testing.assert_close(noise[short], reference[short])
    with pytest.raises(ValueError, match="noise_radius must be >= 0, got -1.0"):
        flow_policy(noise_radius=-1.0)
    with pytest.raises(ValueError, match="noise_radius must be >= 0, got nan"):
        flow_policy(noise_radius=float("nan"))
