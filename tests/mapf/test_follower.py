"""The learned Follower: observations, the policy's save/load, the planner and training smoke."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fleetpilot.mapf.collisions import resolve_moves
from fleetpilot.mapf.follower_policy import FollowerNet, FollowerNetConfig, FollowerPolicy
from fleetpilot.mapf.generators import generate_map
from fleetpilot.mapf.grid_map import MOVES
from fleetpilot.mapf.observations import (
    follower_observations,
    local_observations,
    occupancy_windows,
    valid_action_mask,
)
from fleetpilot.mapf.planners import make_planner
from fleetpilot.mapf.planners.base import flat_cells
from fleetpilot.mapf.simulator import LifelongSim, SimConfig
from fleetpilot.mapf.string_maps import parse_string_map

ROOT = Path(__file__).resolve().parents[2]


def test_local_observation_channels_on_a_hand_made_map():
    grid = parse_string_map("#....\n.....\n..#..\n.....")
    free, width = grid.free.reshape(-1), 5
    positions = np.array([1 * 5 + 1, 1 * 5 + 2])  # agents at (1,1) and (1,2)
    # Agent 0's path: (1,1) -> (0,1) -> (0,2) -> (0,3) [outside r=1] -> (0,2); agent 1 stays.
    paths = np.array([[6, 1, 2, 3, 2], [7, -1, -1, -1, -1]])
    obs = local_observations(free, width, positions, paths, 1)
    assert obs.shape == (2, 2, 3, 3)
    assert obs[0, 0].tolist() == [[-1, 1, 1], [0, 0, 0], [0, 0, -1]]
    assert obs[0, 1].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 0]]
    # Agent 1 at (1,2): obstacle (2,2) below it, agent 0 to its left, no path.
    assert obs[1, 0].tolist() == [[0, 0, 0], [0, 0, 0], [0, -1, 0]]
    assert obs[1, 1].tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    corner = local_observations(free, width, np.array([19]), np.full((1, 2), -1), 1)
    assert corner[0, 0].tolist() == [[0, 0, -1], [0, 0, -1], [-1, -1, -1]]
    mask = valid_action_mask(free, width, np.array([1, 7]))
    assert mask.tolist() == [[True, False, True, False, True], [True, True, False, True, True]]


def test_previous_agents_channel_shows_where_agents_stood_one_step_earlier():
    grid = parse_string_map("#....\n.....\n..#..\n.....")
    free, width = grid.free.reshape(-1), 5
    positions = np.array([1 * 5 + 1, 1 * 5 + 2])  # agents at (1,1) and (1,2)
    previous = np.array([0 * 5 + 1, 1 * 5 + 3])  # one step earlier: (0,1) and (1,3)
    paths = np.full((2, 2), -1)
    without = follower_observations(free, width, positions, previous, paths, 1, False)
    assert np.array_equal(without, local_observations(free, width, positions, paths, 1))
    obs = follower_observations(free, width, positions, previous, paths, 1, True)
    assert obs.shape == (2, 3, 3, 3)
    assert np.array_equal(obs[:, :2], without)
    # Agent 0 came down from (0,1); agent 1's earlier cell (1,3) is outside agent 0's window.
    assert obs[0, 2].tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    # Agent 1 came from its right; agent 0's earlier cell (0,1) is its upper-left corner.
    assert obs[1, 2].tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_a_previous_agents_policy_reads_three_channels_and_round_trips(tmp_path):
    torch.manual_seed(0)
    config = FollowerNetConfig(obs_radius=2, hidden=16, previous_agents=True)
    policy = FollowerPolicy(FollowerNet(config))
    assert config.channels == 3
    policy.save_pretrained(tmp_path)
    loaded = FollowerPolicy.from_pretrained(tmp_path)
    assert loaded.config == config
    obs = np.random.default_rng(0).uniform(-1, 1, (6, 3, 5, 5)).astype(np.float32)
    with torch.no_grad():
        expected = policy.net(torch.from_numpy(obs))[0].numpy()
    assert np.allclose(loaded.logits(obs), expected, atol=1e-5)
    # The third channel matters to the network (it is not silently dropped).
    changed = obs.copy()
    changed[:, 2] = 0.0
    assert not np.allclose(loaded.logits(changed), expected, atol=1e-5)
    with pytest.raises(ValueError, match="previous_agents must be true or false, got 'yes'"):
        FollowerNetConfig(previous_agents="yes")


def test_policy_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    policy = FollowerPolicy(FollowerNet(FollowerNetConfig(obs_radius=2, hidden=16)))
    policy.save_pretrained(tmp_path, card="# card\n")
    loaded = FollowerPolicy.from_pretrained(tmp_path)
    obs = np.random.default_rng(0).uniform(-1, 1, (6, 2, 5, 5)).astype(np.float32)
    mask = np.ones((6, 5), dtype=bool)
    with torch.no_grad():
        expected = policy.net(torch.from_numpy(obs))[0]
        got = loaded.net(torch.from_numpy(obs))[0]
    assert torch.equal(expected, got)
    assert loaded.config == FollowerNetConfig(obs_radius=2, hidden=16)
    assert (tmp_path / "README.md").read_text() == "# card\n"
    mask[:, 1:] = False
    assert np.all(loaded.select_action(obs, mask) == 0)
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        FollowerPolicy.from_pretrained(tmp_path / "missing")


@pytest.mark.parametrize("previous_agents", [False, True])
def test_follower_planner_with_any_weights_keeps_agents_on_free_cells(tmp_path, previous_agents):
    torch.manual_seed(1)
    config = FollowerNetConfig(previous_agents=previous_agents)
    FollowerPolicy(FollowerNet(config)).save_pretrained(tmp_path)
    grid = generate_map("maze:15x15", 3)
    sim = LifelongSim(grid, SimConfig(num_agents=20, max_steps=30, seed=3))
    planner = make_planner("follower", policy_dir=str(tmp_path))
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 3)
    while not sim.done:
        actions = planner.act(sim.positions.copy(), sim.goals.copy())
        assert np.all(grid.is_free(sim.positions + MOVES[actions]))
        sim.step(actions)


@pytest.mark.parametrize("spec", ["random:16x16:0.25", "warehouse"])
def test_the_shielded_follower_proposes_conflict_free_moves(spec):
    grid = generate_map(spec, 4)
    agents = 120 if spec == "warehouse" else 70
    sim = LifelongSim(grid, SimConfig(num_agents=agents, max_steps=40, seed=4))
    planner = make_planner("follower-pibt")
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 4)
    occupant = np.full(grid.free.size, -1, dtype=np.int64)
    while not sim.done:
        actions = planner.act(sim.positions.copy(), sim.goals.copy())
        current = flat_cells(sim.positions, grid.width)
        target = sim.positions + MOVES[actions]
        assert np.all(grid.is_free(target))
        proposed = flat_cells(target, grid.width)
        # The simulator's collision rule keeps every proposed move: no vertex or swap conflict.
        resolved = resolve_moves(current, proposed, grid.free.reshape(-1), occupant)
        assert np.array_equal(resolved, proposed)
        sim.step(actions)
    assert sim.goals_reached > 0


def test_without_a_cost_to_go_a_lone_shielded_agent_takes_the_policy_move():
    grid = generate_map("random:16x16:0.2", 5)
    sim = LifelongSim(grid, SimConfig(num_agents=1, max_steps=30, seed=5))
    shielded = make_planner("follower-pibt", shield_heuristic_weight=0.0)
    plain = make_planner("follower")
    for planner in (shielded, plain):
        planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 5)
    while not sim.done:
        actions = shielded.act(sim.positions.copy(), sim.goals.copy())
        assert np.array_equal(actions, plain.act(sim.positions.copy(), sim.goals.copy()))
        sim.step(actions)
    assert sim.goals_reached > 0


def test_shield_settings_are_checked():
    with pytest.raises(
        ValueError, match="shield_heuristic_weight must be finite and >= 0, got -1"
    ):
        make_planner("follower-pibt", shield_heuristic_weight=-1.0)
    with pytest.raises(ValueError, match="sample and collision_shield cannot both be set"):
        make_planner("follower-pibt", sample=True)


def test_the_follower_planner_observes_the_cells_of_the_step_before(tmp_path):
    torch.manual_seed(1)
    config = FollowerNetConfig(obs_radius=2, previous_agents=True)
    FollowerPolicy(FollowerNet(config)).save_pretrained(tmp_path)
    grid = generate_map("maze:15x15", 3)
    sim = LifelongSim(grid, SimConfig(num_agents=20, max_steps=30, seed=3))
    planner = make_planner("follower", policy_dir=str(tmp_path))
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 3)
    before = flat_cells(sim.positions, grid.width)
    first, mask = planner.observe(sim.positions.copy(), sim.goals.copy())
    # On the first step the earlier cells are the start cells.
    expected = occupancy_windows(grid.height, grid.width, before, before, 2)
    assert np.array_equal(first[:, 2:], expected)
    sim.step(planner.policy.select_action(first, mask))
    now = flat_cells(sim.positions, grid.width)
    assert not np.array_equal(before, now)
    second, _ = planner.observe(sim.positions.copy(), sim.goals.copy())
    assert np.array_equal(
        second[:, 2:], occupancy_windows(grid.height, grid.width, now, before, 2)
    )


def test_train_follower_smoke(tmp_path):
    export = tmp_path / "policy"
    result = subprocess.run(
        [
            sys.executable, "-m", "fleetpilot.mapf.train_follower",
            "--total-agent-steps", "1200", "--num-envs", "2", "--agents-per-env", "6",
            "--map-specs", "random:10x10:0.1", "--imitation-updates", "2",
            "--rollout-steps", "8", "--episode-steps", "20", "--obs-radius", "2", "--hidden", "8",
            "--out-dir", str(tmp_path / "runs"), "--export-dir", str(export),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # 1200 // (8 rollout steps x 12 agents) = 12 updates of 96 agent-steps each.
    assert summary["updates"] == 12 and summary["agent_steps"] == 12 * 96
    assert any((tmp_path / "runs").iterdir())  # a TensorBoard run was written
    planner = make_planner("follower", policy_dir=str(export))
    assert planner.policy.config == FollowerNetConfig(obs_radius=2, hidden=8)
    bad = subprocess.run(
        [sys.executable, "-m", "fleetpilot.mapf.train_follower", "--time-budget-minutes", "90"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "time_budget_minutes must be in (0, 60], got 90" in bad.stderr


def test_neighbour_reward_share_mixes_in_the_mean_reward_inside_the_window():
    from fleetpilot.mapf.train_follower import FollowerTrainingEnvs, TrainFollowerConfig

    config = TrainFollowerConfig(
        num_envs=1, agents_per_env="3", map_specs="random:10x10:0.1", obs_radius=2,
        neighbour_reward_share=0.5,
    )  # fmt: skip
    envs = FollowerTrainingEnvs(config, np.random.default_rng(0))
    positions = np.array([[0, 0], [2, 2], [0, 5]])
    own = np.array([0.01, 0.0, 0.0], dtype=np.float32)
    # Agents 0 and 1 see each other (Chebyshev distance 2); agent 2 sees nobody.
    shared = envs._share_with_neighbours(positions, own)
    np.testing.assert_allclose(shared, [0.0075, 0.0025, 0.0], atol=1e-9)
    assert shared.sum() == pytest.approx(own.sum())  # only redistributed here
    with pytest.raises(ValueError, match="neighbour_reward_share must be in \\[0, 1\\], got 1.5"):
        TrainFollowerConfig(neighbour_reward_share=1.5)


def test_numpy_inference_matches_the_torch_network():
    torch.manual_seed(2)
    policy = FollowerPolicy(FollowerNet(FollowerNetConfig(obs_radius=3, hidden=32)))
    obs = np.random.default_rng(1).uniform(-1, 1, (40, 2, 7, 7)).astype(np.float32)
    with torch.no_grad():
        expected = policy.net(torch.from_numpy(obs))[0].numpy()
    assert np.allclose(policy.logits(obs), expected, atol=1e-5)


def test_sampled_actions_are_valid_and_follow_the_policy_probabilities():
    torch.manual_seed(3)
    policy = FollowerPolicy(FollowerNet(FollowerNetConfig(obs_radius=1, hidden=8)))
    obs = np.zeros((20000, 2, 3, 3), dtype=np.float32)
    mask = np.ones((20000, 5), dtype=bool)
    mask[:, 2] = False
    actions = policy.select_action(obs, mask, np.random.default_rng(0))
    assert not np.any(actions == 2)
    logits = policy.logits(obs[:1])[0]
    logits[2] = -np.inf
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    frequencies = np.bincount(actions, minlength=5) / len(actions)
    assert np.allclose(frequencies, probs, atol=0.015)
