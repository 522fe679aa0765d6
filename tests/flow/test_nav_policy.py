"""The navigation observation, a learned nominal under the CBF filter, and `eval nav --policy`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fleetpilot.envs.nav_observation import NavObservationConfig, nav_observation
from fleetpilot.flow.nav_policy import (
    collect_demonstrations,
    evaluate_policy,
    load_nav_policy,
    observation_metadata,
)
from fleetpilot.flow.registry import make_config, make_policy
from fleetpilot.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[2]
HEAD_ON = ROOT / "sim" / "scenarios" / "head_on_pair.yaml"
SHIPPED = ROOT / "policies" / "flow_nav"


def _state(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    positions = torch.rand(3, 5, 2, generator=g, dtype=torch.float64) * 4
    velocities = torch.randn(3, 5, 2, generator=g, dtype=torch.float64)
    goals = torch.rand(3, 5, 2, generator=g, dtype=torch.float64) * 4
    obstacles = torch.cat(
        [torch.rand(3, 3, 2, generator=g, dtype=torch.float64) * 4, torch.full((3, 3, 1), 0.3)],
        dim=-1,
    )
    mask = torch.tensor([[True, True, False]] * 3)
    return positions, velocities, goals, obstacles, mask


def test_observation_shape_and_padding():
    config = NavObservationConfig(k_neighbours=6, k_obstacles=3)
    positions, velocities, goals, obstacles, mask = _state()
    obs = nav_observation(positions, velocities, goals, obstacles, mask, 2.0, 1.0, config)
    assert obs.shape == (3, 5, config.obs_dim) == (3, 5, 4 + 5 * 6 + 4 * 3)
    assert obs.dtype == torch.float32
    neighbour_flags = obs[..., 4 : 4 + 30].reshape(3, 5, 6, 5)[..., 4]
    assert (neighbour_flags.sum(-1) <= 4).all()  # only 4 others exist
    obstacle_flags = obs[..., 34:].reshape(3, 5, 3, 4)[..., 3]
    assert (obstacle_flags[..., 2] == 0).all()  # only 2 real obstacles
    # A lone agent far from everything sees nothing.
    far = nav_observation(
        torch.tensor([[[0.0, 0.0], [50.0, 0.0]]]),
        torch.zeros(1, 2, 2),
        torch.ones(1, 2, 2),
        None,
        None,
        2.0,
        1.0,
        NavObservationConfig(),
    )
    assert (far[..., 4:] == 0).all()


def test_observation_translation_invariant():
    config = NavObservationConfig()
    positions, velocities, goals, obstacles, mask = _state(1)
    shift = torch.tensor([123.4, -56.7], dtype=torch.float64)
    shifted_obstacles = obstacles.clone()
    shifted_obstacles[..., :2] += shift
    a = nav_observation(positions, velocities, goals, obstacles, mask, 2.0, 1.0, config)
    b = nav_observation(
        positions + shift, velocities, goals + shift, shifted_obstacles, mask, 2.0, 1.0, config
    )
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_demonstrations_are_executed_velocities():
    scenario = load_scenario(HEAD_ON)
    obs, action, summary = collect_demonstrations(scenario, NavObservationConfig(), 2, 0)
    assert obs.shape[0] == action.shape[0] > 100
    assert action.norm(dim=-1).max() <= 1.0 + 1e-4
    assert summary["success_rate"] == 1.0 and summary["collisions"] == 0


def _save_tiny_policy(directory: Path) -> None:
    obs_config = NavObservationConfig()
    config = make_config("flow", obs_dim=obs_config.obs_dim, action_dim=2, hidden_dims=(16,))
    torch.manual_seed(0)
    make_policy("flow", config).save_pretrained(
        directory, metadata=observation_metadata(obs_config)
    )


def test_random_policy_under_filter_never_collides(tmp_path):
    _save_tiny_policy(tmp_path / "p")
    policy, obs_config = load_nav_policy(tmp_path / "p")
    scenario = load_scenario(HEAD_ON)
    summary = evaluate_policy(scenario, policy, obs_config, episodes=4, seed=0, max_steps=80)
    assert summary["collisions"] == 0
    assert summary["episodes"] == 4


def test_eval_nav_policy_cli(tmp_path):
    _save_tiny_policy(tmp_path / "p")
    command = [
        sys.executable,
        "-m",
        "fleetpilot.cli",
        "eval",
        "nav",
        "--scenario",
        str(HEAD_ON),
        "--policy",
        str(tmp_path / "p"),
        "--episodes",
        "2",
        "--max-steps",
        "60",
        "--json",
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    summary = json.loads(out.stdout)
    assert summary["collisions"] == 0
    for key in ("success_rate", "deadlock_rate", "makespan", "min_distance", "policy"):
        assert key in summary


def test_eval_nav_policy_rejects_non_nav_policy(tmp_path):
    config = make_config("flow", obs_dim=3, action_dim=2, hidden_dims=(8,))
    make_policy("flow", config).save_pretrained(tmp_path / "p")
    with pytest.raises(ValueError, match="nav_observation"):
        load_nav_policy(tmp_path / "p")


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="not shipped")
def test_shipped_nav_policy_round_trip(tmp_path):
    policy, obs_config = load_nav_policy(SHIPPED)
    policy.save_pretrained(tmp_path / "copy", metadata=observation_metadata(obs_config))
    copy, copy_config = load_nav_policy(tmp_path / "copy")
    assert copy_config == obs_config
    obs = torch.randn(7, obs_config.obs_dim)
    noise = policy.sample_noise(7, torch.Generator().manual_seed(0))
    torch.testing.assert_close(policy.transport(obs, noise), copy.transport(obs, noise))
