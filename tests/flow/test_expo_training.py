"""The EXPO policy type, its pieces' densities, the per-agent transitions and the trainer."""

import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from fleetpilot.flow.expo import ExpoConfig, GaussianEditPolicy
from fleetpilot.flow.modeling_expo import ExpoPolicy
from fleetpilot.flow.nav_policy import collect_demonstrations, load_nav_policy
from fleetpilot.flow.nav_transitions import NavTransitionSource, demonstration_transitions
from fleetpilot.flow.registry import load_policy, make_config, make_policy
from fleetpilot.flow.train_expo import ReplayBuffer, mixed_batch
from fleetpilot.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "sim" / "scenarios"
BASE = ROOT / "policies" / "flow_nav"


def _small_base():
    config = make_config("flow", obs_dim=3, action_dim=2, hidden_dims=(16,))
    return make_policy("flow", config)


def test_expo_policy_keeps_its_base_and_round_trips(tmp_path):
    torch.manual_seed(0)
    base = _small_base()
    policy = ExpoPolicy.from_base(base, num_edited_samples=0, critic_hidden_dims=(8,))
    obs = torch.randn(4, 3)
    same = policy.base.predict_action_chunk(obs, torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        same, base.predict_action_chunk(obs, torch.Generator().manual_seed(1))
    )
    policy.save_pretrained(tmp_path / "expo")
    loaded = load_policy(tmp_path / "expo")
    assert isinstance(loaded, ExpoPolicy)
    torch.testing.assert_close(
        loaded.predict_action_chunk(obs, torch.Generator().manual_seed(2)),
        policy.predict_action_chunk(obs, torch.Generator().manual_seed(2)),
    )
    assert loaded.select_action(obs).shape == (4, 2)


def test_expo_policy_rejects_weights_of_another_size(tmp_path):
    base = _small_base()
    ExpoPolicy.from_base(base, critic_hidden_dims=(8,)).save_pretrained(tmp_path / "expo")
    config_path = tmp_path / "expo" / "config.json"
    document = json.loads(config_path.read_text())
    document["config"]["critic_hidden_dims"] = [12]
    config_path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"q\.members\.0\.0\.weight: shape"):
        load_policy(tmp_path / "expo")


def test_expo_policy_config_errors_name_the_field():
    with pytest.raises(ValueError, match="ExpoPolicyConfig.horizon must be 1"):
        make_config("expo", obs_dim=3, action_dim=2, horizon=4, n_action_steps=4)
    with pytest.raises(ValueError, match="ExpoConfig.q_aggregate must be 'min' or 'mean'"):
        make_config("expo", obs_dim=3, action_dim=2, q_aggregate="max")
    with pytest.raises(TypeError, match="base must be a flow policy"):
        ExpoPolicy.from_base(
            make_policy("gaussian", make_config("gaussian", obs_dim=3, action_dim=2))
        )


def test_edit_log_prob_is_the_squashed_gaussian_density():
    torch.manual_seed(0)
    edit = GaussianEditPolicy(3, 2, ExpoConfig(hidden_dims=(8,), edit_scale=0.5))
    obs, base_action = torch.randn(64, 3), torch.randn(64, 2)
    edited, log_prob = edit.sample_with_log_prob(obs, base_action)
    mean, log_std = edit.net(torch.cat([obs, base_action], -1)).chunk(2, -1)
    squashed = TransformedDistribution(
        Normal(mean, log_std.clamp(-5.0, 2.0).exp()), [TanhTransform(cache_size=1)]
    )
    expected = squashed.log_prob((edited - base_action) / 0.5).sum(-1)
    torch.testing.assert_close(log_prob, expected, atol=2e-3, rtol=1e-3)


def test_untrained_edit_barely_moves_the_base_action():
    torch.manual_seed(0)
    config = ExpoConfig(hidden_dims=(32,), edit_scale=0.2)
    edit = GaussianEditPolicy(5, 2, config)
    base_action = torch.randn(1000, 2)
    edits = edit(torch.randn(1000, 5), base_action) - base_action
    # Mean ~0 and std e^-2 before the tanh: typical edits are a seventh of the bound.
    assert edits.abs().mean() < 0.15 * config.edit_scale
    assert edits.mean(0).abs().max() < 0.02 * config.edit_scale


def test_replay_buffer_wraps_around_and_samples_stored_rows():
    buffer = ReplayBuffer(capacity=5, obs_dim=1, action_dim=1)

    class Rows:
        def __init__(self, start, count):
            values = torch.arange(start, start + count, dtype=torch.float32)
            self.obs = values[:, None]
            self.action = values[:, None]
            self.reward = values
            self.next_obs = values[:, None] + 0.5
            self.terminated = torch.zeros(count, dtype=torch.bool)

        def __len__(self):
            return self.obs.shape[0]

    buffer.add(Rows(0, 3), torch.full((3,), 0.9))
    buffer.add(Rows(3, 4), torch.full((4,), 0.5))  # 7 rows into 5 slots: rows 0, 1 overwritten
    assert buffer.size == 5
    assert sorted(buffer.data["reward"].tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert sorted(buffer.data["discount"].tolist()) == [0.5, 0.5, 0.5, 0.5, 0.8999999761581421]
    batch = buffer.sample(50, torch.Generator().manual_seed(0))
    torch.testing.assert_close(batch["next_obs"][:, 0], batch["obs"][:, 0] + 0.5)


def test_mixed_batches_draw_their_share_from_the_demonstrations():
    def filled(value, count):
        buffer = ReplayBuffer(capacity=count, obs_dim=1, action_dim=1)
        buffer.data["reward"][:] = value
        buffer.size = count
        return buffer

    online, demos, empty = filled(0.0, 50), filled(1.0, 20), filled(0.0, 0)
    generator = torch.Generator().manual_seed(0)
    assert mixed_batch(online, demos, 64, 0.25, generator)["reward"].sum() == 16
    assert mixed_batch(online, None, 64, 0.25, generator)["reward"].sum() == 0
    # Before any online transition the batch is all demonstrations (the offline phase).
    assert mixed_batch(empty, demos, 64, 0.25, generator)["reward"].sum() == 64


def test_demonstration_transitions_are_the_imitation_data_with_rewards():
    _, obs_config = load_nav_policy(BASE)
    scenario = load_scenario(SCENARIOS / "head_on_pair.yaml")
    demos = demonstration_transitions({"head_on_pair": scenario}, obs_config, episodes=2, seed=5)
    obs, action, summary = collect_demonstrations(scenario, obs_config, episodes=2, seed=5)
    assert summary["success_rate"] == 1.0
    torch.testing.assert_close(demos.obs, obs, rtol=0, atol=0)
    torch.testing.assert_close(demos.action, action, rtol=0, atol=0)
    # Two agents in each of two episodes arrive once each; every arrival pays the bonus (5).
    assert int(demos.terminated.sum()) == 4
    assert torch.all(demos.reward[demos.terminated] > 4.0)
    assert torch.all(demos.reward[~demos.terminated] < 1.0)


def test_transitions_come_from_acting_agents_and_end_at_arrival():
    policy, obs_config = load_nav_policy(BASE)
    scenario = load_scenario(SCENARIOS / "head_on_pair.yaml")
    source = NavTransitionSource({"head_on_pair": scenario}, obs_config, num_envs=1, seed=3)
    env = source.envs["head_on_pair"]
    generator = torch.Generator().manual_seed(0)
    terminations, ticks = 0, 0
    while not source.finished_episodes["head_on_pair"]:
        acting_before = int((env.running.unsqueeze(-1) & ~env.arrived).sum())
        batch = source.step(lambda obs: policy.predict_action_chunk(obs, generator)[:, 0])
        ticks += 1
        assert len(batch) == acting_before
        assert batch.obs.shape == (acting_before, obs_config.obs_dim)
        terminations += int(batch.terminated.sum())
        # One row per acting agent, each its own slot; the env's end is flagged on its last tick.
        assert len(set(source.last_slots.tolist())) == len(batch)
        assert bool(source.last_episode_ended.all()) == bool(
            source.finished_episodes["head_on_pair"]
        )
    # The episode ended with success: each of the two agents terminated exactly once.
    (episode,) = source.finished_episodes["head_on_pair"]
    assert episode.success
    assert terminations == 2
    assert ticks < scenario.horizon / scenario.dt


def test_train_expo_cli_saves_a_loadable_policy_and_its_curve(tmp_path):
    out = tmp_path / "expo"
    command = [
        sys.executable, "-m", "fleetpilot.cli", "train", "expo",
        "--scenarios", "head_on_pair", "--num-envs", "2", "--total-samples", "300",
        "--learning-starts", "100", "--base-only-samples", "200", "--updates-per-tick", "1",
        "--batch-size", "32", "--demo-episodes", "1", "--offline-q-updates", "2",
        "--critic-hidden", "16", "--eval-interval", "200", "--eval-episodes", "2",
        "--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--progress", "false",
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["samples"] >= 300
    assert result["updates"] > 0
    # EXPO's offline data: one demonstration episode per family, said in the model card.
    assert result["demonstration_transitions"] > 0
    card = (out / "README.md").read_text()
    assert f"Offline data: {result['demonstration_transitions']} demonstration" in card
    assert "--demo-episodes 1" in card
    curve = json.loads((out / "curve.json").read_text())
    assert [point["samples"] for point in curve][0] == 0
    assert curve[-1]["samples"] == result["samples"]
    assert all(0.0 <= point["mean_success"] <= 1.0 for point in curve)
    policy, obs_config = load_nav_policy(out)
    assert isinstance(policy, ExpoPolicy)
    assert policy.metadata["seed"] == 1
    assert not math.isnan(policy.select_action(torch.zeros(3, obs_config.obs_dim)).sum().item())


def test_train_expo_rejects_a_budget_below_learning_starts(tmp_path):
    command = [
        sys.executable, "-m", "fleetpilot.cli", "train", "expo",
        "--total-samples", "10", "--learning-starts", "100", "--out", str(tmp_path / "x"),
        "--runs-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert completed.returncode == 2
    assert "total_samples (10) must be >= learning_starts (100)" in completed.stderr


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("explore_noise", -0.1, "Args.explore_noise must be >= 0, got -0.1"),
        ("demo_episodes", -1, "Args.demo_episodes must be >= 0, got -1"),
        ("demo_fraction", 1.5, "Args.demo_fraction must be in [0, 1], got 1.5"),
    ],
)
def test_train_expo_names_a_bad_option(tmp_path, field, value, message):
    from fleetpilot.flow.train_expo import Args, train

    args = Args(out=str(tmp_path / "x"), runs_dir=str(tmp_path / "runs"), progress=False)
    with pytest.raises(ValueError, match=re.escape(message)):
        train(dataclasses.replace(args, **{field: value}))


def test_while_the_base_acts_alone_only_the_q_ensemble_learns(tmp_path):
    from fleetpilot.flow.train_expo import Args, train

    args = Args(
        scenarios="head_on_pair",
        num_envs=2,
        total_samples=300,
        learning_starts=100,
        base_only_samples=10_000,
        updates_per_tick=1,
        batch_size=32,
        critic_hidden=16,
        eval_interval=10_000,
        eval_episodes=1,
        # EXPO's offline data, exploring around the base and multi-step targets change what Q
        # sees, not who learns.
        demo_episodes=1,
        offline_q_updates=2,
        explore_noise=0.1,
        n_step=3,
        out=str(tmp_path / "expo"),
        runs_dir=str(tmp_path / "runs"),
        progress=False,
    )
    result = train(args)
    assert result["updates"] > 0
    trained, _ = load_nav_policy(tmp_path / "expo")
    base, _ = load_nav_policy(BASE)
    for name, tensor in base.state_dict().items():
        torch.testing.assert_close(trained.base.state_dict()[name], tensor, rtol=0, atol=0)
    untouched_edit = ExpoPolicy.from_base(base, critic_hidden_dims=(16, 16)).edit
    # The edit policy's last layer starts at zero weights' scale and was never stepped.
    assert trained.edit.net[-1].bias.tolist() == untouched_edit.net[-1].bias.tolist()


def test_shipped_expo_policy_loads_and_drives_safely():
    from fleetpilot.flow.nav_policy import evaluate_policy

    policy, obs_config = load_nav_policy(ROOT / "policies" / "expo_nav")
    assert isinstance(policy, ExpoPolicy)
    assert policy.metadata["result"]["samples"] >= 30_000
    scenario = load_scenario(SCENARIOS / "head_on_pair.yaml")
    result = evaluate_policy(scenario, policy, obs_config, episodes=4, seed=5)
    assert result["collisions"] == 0
    assert result["success_rate"] == 1.0
