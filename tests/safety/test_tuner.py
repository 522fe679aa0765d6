"""The online CBF tuner (GNN): symmetries, bounds, safety by construction, saving and loading."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fleetpilot.envs import NavEnv, NavEnvConfig, make_tuner
from fleetpilot.envs.evaluate import evaluate, run_episodes
from fleetpilot.envs.graph import NODE_FEATURES, NeighbourGraphBuilder, compute_geometry
from fleetpilot.envs.tuners import observation_scan
from fleetpilot.safety.tuner import (
    CONFIG_FILE,
    CbfTunerNet,
    GnnTuner,
    load_net,
    save_pretrained,
)
from fleetpilot.safety.tuner_config import TunerConfig
from fleetpilot.scenarios import load_scenario

from .tuner_cases import ARTIFACT, saved_inputs

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies" / "cbf_tuner_gnn"
SENSING_RADIUS = 2.0


def random_net(seed: int = 0, scale: float = 1.0, obstacle_rays: int = 0) -> CbfTunerNet:
    """An untrained network with weights multiplied by ``scale`` (large: extreme outputs)."""
    torch.manual_seed(seed)
    net = CbfTunerNet(
        TunerConfig(
            init={"alpha": 1, "gain": 1, "tangential": 0.3, "responsibility": 0.7},
            obstacle_rays=obstacle_rays,
        )
    )
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter)).mul_(scale)
    return net.eval()


def observation(
    positions, goals, velocities, obstacles=None, arrived=None, obstacle_rays=0, ray_range=None
):
    """A one-environment observation Batch from (N, 2) float64 arrays."""
    positions = torch.as_tensor(positions, dtype=torch.float32)[None]
    goals = torch.as_tensor(goals, dtype=torch.float32)[None]
    velocities = torch.as_tensor(velocities, dtype=torch.float32)[None]
    n = positions.shape[1]
    if obstacles is None:
        obstacles = torch.tensor([[[1.0e4, 1.0e4, 1.0e-3]]])
        mask = torch.zeros((1, 1), dtype=torch.bool)
    else:
        obstacles = torch.as_tensor(obstacles, dtype=torch.float32)[None]
        mask = torch.ones(obstacles.shape[:2], dtype=torch.bool)
    headings = torch.atan2(velocities[..., 1], velocities[..., 0])
    arrived = torch.zeros((1, n), dtype=torch.bool) if arrived is None else arrived[None]
    builder = NeighbourGraphBuilder(
        1, n, SENSING_RADIUS, torch.device("cpu"), obstacle_rays, ray_range
    )
    geometry = compute_geometry(positions, obstacles, mask)
    return builder(geometry, positions, velocities, headings, goals, arrived)


def crowd(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    positions = rng.uniform(-2.5, 2.5, (n, 2))
    goals = rng.uniform(-4.0, 4.0, (n, 2))
    velocities = rng.uniform(-1.0, 1.0, (n, 2))
    obstacles = np.array([[0.5, 0.3, 0.4], [-1.0, 2.0, 0.3]])
    return positions, goals, velocities, obstacles


def test_outputs_are_permutation_equivariant():
    tuner = GnnTuner(random_net())
    positions, goals, velocities, obstacles = crowd(1)
    obs = observation(positions, goals, velocities, obstacles)
    assert obs.edge_index.shape[1] > 20  # the crowd is dense enough to have neighbours
    action, shares = tuner(obs)
    assert shares.std() > 0.01  # shares differ between pairs, so the check below has teeth
    perm = np.random.default_rng(2).permutation(len(positions))
    permuted_action, permuted_shares = tuner(
        observation(positions[perm], goals[perm], velocities[perm], obstacles)
    )
    index = torch.as_tensor(perm)
    assert torch.allclose(permuted_action[0], action[0][index], atol=1e-5)
    assert torch.allclose(permuted_shares[0], shares[0][index][:, index], atol=1e-5)


@pytest.mark.parametrize("rays", [0, 16])
def test_outputs_are_translation_invariant(rays):
    tuner = GnnTuner(random_net(obstacle_rays=rays))
    positions, goals, velocities, obstacles = crowd(3)
    action, shares = tuner(observation(positions, goals, velocities, obstacles, None, rays))
    shift = np.array([37.0, -12.5])
    moved = obstacles.copy()
    moved[:, :2] += shift
    shifted_action, shifted_shares = tuner(
        observation(positions + shift, goals + shift, velocities, moved, None, rays)
    )
    assert torch.allclose(shifted_action, action, atol=1e-4)
    assert torch.allclose(shifted_shares, shares, atol=1e-4)


def test_a_tuner_with_obstacle_rays_sees_where_a_wall_ends():
    """An agent beside a wall of discs, once by the wall's end and once beside its middle, with
    the same nearest wall point and goal offset: only the ray scan tells the two apart."""
    wall = np.array([[0.0, y, 0.2] for y in np.arange(-4.0, 0.01, 0.2)])

    def outputs(net, y, rays):
        position, goal = np.array([[-0.5, y]]), np.array([[4.5, y]])
        return GnnTuner(net)(observation(position, goal, np.zeros((1, 2)), wall, None, rays))[0]

    plain = random_net(seed=3)
    assert torch.allclose(outputs(plain, -0.4, 0), outputs(plain, -2.0, 0), atol=1e-6)
    scanning = random_net(seed=3, obstacle_rays=16)
    assert not torch.allclose(outputs(scanning, -0.4, 16), outputs(scanning, -2.0, 16), atol=1e-4)


def test_a_tuner_with_obstacle_rays_round_trips_and_runs_in_the_environment(tmp_path):
    save_pretrained(random_net(seed=5, obstacle_rays=8), tmp_path)
    manifest = yaml.safe_load((tmp_path / CONFIG_FILE).read_text())
    assert manifest["obstacle_rays"] == 8 and len(manifest["node_features"]) == 18
    tuner = make_tuner(str(tmp_path))
    scenario = load_scenario(ROOT / "sim/scenarios/doorway.yaml")
    metrics = evaluate(scenario, tuner, episodes=1, seed=0, max_steps=20)
    assert metrics["episodes"] == 1
    manifest["node_features"] = manifest["node_features"][:10]
    (tmp_path / CONFIG_FILE).write_text(yaml.safe_dump(manifest))
    with pytest.raises(ValueError, match=r"node_features: expected .*\(obstacle_rays 8\)"):
        make_tuner(str(tmp_path))


def test_a_tuner_s_ray_range_round_trips_and_reaches_the_environment_s_scan(tmp_path):
    """A doorway room is deeper than the 2 m sensing radius: with the tuner's 6 m scan, most
    agents that sense no wall within 2 m see it along some ray (ray 0, toward the goal, runs
    through the door)."""
    net = CbfTunerNet(TunerConfig(obstacle_rays=8, obstacle_ray_range=6.0))
    save_pretrained(net, tmp_path)
    assert yaml.safe_load((tmp_path / CONFIG_FILE).read_text())["obstacle_ray_range"] == 6.0
    tuner = make_tuner(str(tmp_path))
    assert observation_scan(tuner)["obstacle_ray_range"] == 6.0

    def first_observation(ray_range):
        env = NavEnv(
            NavEnvConfig(
                scenario=load_scenario(ROOT / "sim/scenarios/doorway.yaml"),
                action_parameters=tuner.action_parameters,
                obstacle_rays=8,
                obstacle_ray_range=ray_range,
            )
        )
        return env.reset(seed=0)[0].x

    near, far = (
        first_observation(None),
        first_observation(observation_scan(tuner)["obstacle_ray_range"]),
    )
    unseen = near[:, NODE_FEATURES.index("obstacle_seen")] == 0
    rays = slice(len(NODE_FEATURES), None)
    assert unseen.sum() >= 2
    assert torch.all(near[unseen, rays] == 1.0)
    seeing_the_wall = far[unseen, rays].amin(dim=1) < 1.0
    assert seeing_the_wall.float().mean() >= 0.75


def test_an_observation_without_the_tuner_s_rays_is_refused_by_name():
    positions, goals, velocities, obstacles = crowd(2)
    with pytest.raises(ValueError, match=r"x: expected 18 node features .* got 10"):
        GnnTuner(random_net(obstacle_rays=8))(observation(positions, goals, velocities, obstacles))


def test_an_agent_output_depends_only_on_what_it_senses():
    tuner = GnnTuner(random_net())
    positions, goals, velocities, _ = crowd(4, n=6)
    positions[5] = [30.0, 30.0]  # far outside everyone's sensing radius
    action, _ = tuner(observation(positions, goals, velocities))
    goals[5] = [-40.0, 7.0]
    velocities[5] = [0.9, -0.9]
    positions[5] = [31.0, 29.0]
    moved_action, _ = tuner(observation(positions, goals, velocities))
    assert torch.allclose(moved_action[0, :5], action[0, :5], atol=1e-6)
    assert not torch.allclose(moved_action[0, 5], action[0, 5], atol=1e-4)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_outputs_stay_in_their_bounds_for_any_weights(scale):
    net = random_net(seed=5, scale=scale)
    tuner = GnnTuner(net)
    positions, goals, velocities, obstacles = crowd(6, n=16)
    action, shares = tuner(observation(positions * 0.5, goals, velocities * 5, obstacles))
    for column, name in enumerate(net.config.node_outputs):
        low, high = net.config.bounds[name]
        values = action[..., column]
        assert values.min() >= low and values.max() <= high, name
    assert shares.min() >= 0.5 and shares.max() <= 1.0
    if scale > 1:  # extreme weights do reach the edges of the ranges, and stay inside them
        assert (shares > 0.99).any() or (shares < 0.51).any()


def test_extreme_untrained_tuner_keeps_a_crowd_collision_free():
    scenario = load_scenario(ROOT / "sim" / "scenarios" / "circle_swap_8.yaml")
    tuner = GnnTuner(random_net(seed=7, scale=30.0))
    env = NavEnv(
        NavEnvConfig(
            scenario=scenario,
            num_envs=2,
            action_parameters=tuner.action_parameters,
            max_steps=60,
        )
    )
    results = run_episodes(env, tuner, seed=0)
    assert all(result.collisions == 0 for result in results)
    assert all(result.min_distance >= env.safety_distance - 1e-3 for result in results)


def test_save_and_load_round_trip_through_make_tuner(tmp_path):
    net = random_net(seed=8)
    save_pretrained(net, tmp_path)
    manifest = yaml.safe_load((tmp_path / CONFIG_FILE).read_text())
    assert manifest["kind"] == "cbf_tuner_gnn"
    loaded = make_tuner(str(tmp_path))
    positions, goals, velocities, obstacles = crowd(9)
    obs = observation(positions, goals, velocities, obstacles)
    expected, expected_shares = GnnTuner(net)(obs)
    action, shares = loaded(obs)
    assert torch.equal(action, expected) and torch.equal(shares, expected_shares)


def test_loading_a_mismatched_config_names_the_tensor(tmp_path):
    save_pretrained(random_net(), tmp_path)
    manifest = yaml.safe_load((tmp_path / CONFIG_FILE).read_text())
    manifest["edge_hidden"] = 48
    (tmp_path / CONFIG_FILE).write_text(yaml.safe_dump(manifest))
    with pytest.raises(ValueError, match=r"tensor message\.0\.weight: expected shape \(48, 71\)"):
        load_net(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "flow", r"kind: expected a registered tuner kind \(cbf_tuner_gnn\), got 'flow'"),
        ("format_version", 7, "format_version: expected 1, got 7"),
        ("hidden", 0, "hidden: expected an integer >= 1, got 0"),
        (
            "bounds",
            {"alpha": [0.2, 50.0], "gain": [0.5, 2], "tangential": [-1, 1]},
            r"bounds.alpha: expected low < high within \[0.05, 10\], got \[0.2, 50.0\]",
        ),
        ("node_outputs", ["alpha", "speed"], "node_outputs\\[1\\]: expected one of"),
        ("edge_features", ["dx"], "edge_features: expected the environment's"),
        ("obstacle_rays", -1, "obstacle_rays: expected an integer >= 0, got -1"),
        ("colour", "red", r"unknown field\(s\) \['colour'\]"),
    ],
)
def test_bad_config_values_are_rejected_by_name(tmp_path, field, value, message):
    save_pretrained(random_net(), tmp_path)
    manifest = yaml.safe_load((tmp_path / CONFIG_FILE).read_text())
    manifest[field] = value
    (tmp_path / CONFIG_FILE).write_text(yaml.safe_dump(manifest))
    with pytest.raises(ValueError, match=message):
        make_tuner(str(tmp_path))


def test_overrides_replace_outputs_and_are_checked():
    net = random_net()
    positions, goals, velocities, obstacles = crowd(10)
    obs = observation(positions, goals, velocities, obstacles)
    action, shares = GnnTuner(net, {"tangential": 0.0, "responsibility": 0.5})(obs)
    assert torch.all(action[..., 2] == 0.0) and torch.all(shares == 0.5)
    with pytest.raises(ValueError, match=r"overrides.responsibility: expected a value in"):
        GnnTuner(net, {"responsibility": 0.2})


def test_constant_outputs_are_appended_to_the_action_and_saved(tmp_path):
    config = TunerConfig(constant_outputs={"make_way": 2.0})
    net = CbfTunerNet(config).eval()
    assert config.action_parameters == ("alpha", "gain", "tangential", "make_way")
    positions, goals, velocities, obstacles = crowd(13)
    obs = observation(positions, goals, velocities, obstacles)
    action, _ = GnnTuner(net)(obs)
    assert action.shape[-1] == 4 and torch.all(action[..., 3] == 2.0)
    no_way, _ = GnnTuner(net, {"make_way": 0.0})(obs)  # the ablation
    assert torch.all(no_way[..., 3] == 0.0) and torch.equal(no_way[..., :3], action[..., :3])
    save_pretrained(net, tmp_path)
    loaded = make_tuner(str(tmp_path))
    assert loaded.action_parameters == config.action_parameters
    assert torch.equal(loaded(obs)[0], action)


@pytest.mark.parametrize(
    ("constants", "message"),
    [
        ({"make_way": 9.0}, r"constant_outputs.make_way: expected a number in \[0, 4\], got 9.0"),
        ({"make_way": float("nan")}, r"constant_outputs.make_way: expected a number"),
        ({"make_way": "fast"}, r"constant_outputs.make_way: expected a number .*'fast'"),
        ({"alpha": 1.0}, r"constant_outputs.alpha: expected one of .* not a node output"),
        ({"speed": 1.0}, r"constant_outputs.speed: expected one of"),
        ([2.0], r"constant_outputs: expected a mapping name: value, got \[2.0\]"),
    ],
)
def test_bad_constant_outputs_are_rejected_by_name(constants, message):
    with pytest.raises(ValueError, match=message):
        TunerConfig(constant_outputs=constants)


def test_sampling_inference_is_seeded_bounded_and_not_the_mean():
    net = random_net(seed=11)
    positions, goals, velocities, obstacles = crowd(12)
    obs = observation(positions, goals, velocities, obstacles)
    mean_action, _ = GnnTuner(net, sample=False)(obs)
    first = GnnTuner(net, sample=True, seed=4)
    second = GnnTuner(net, sample=True, seed=4)
    action, shares = first(obs)
    again, again_shares = second(obs)
    assert torch.equal(action, again) and torch.equal(shares, again_shares)
    assert not torch.allclose(action, mean_action, atol=1e-3)
    assert shares.min() >= 0.5 and shares.max() <= 1.0
    next_action, _ = first(obs)  # the noise moves on each tick, and restarts on reset()
    assert not torch.equal(next_action, action)
    first.reset()
    assert torch.equal(first(obs)[0], action)


def test_shipped_tuner_outputs_on_saved_inputs_are_unchanged():
    with np.load(ARTIFACT, allow_pickle=False) as saved:
        saved = dict(saved)
    for name, value in saved_inputs().items():
        assert np.array_equal(saved[name], value), name
    net = load_net(SHIPPED)
    obs = observation(
        saved["positions"],
        saved["goals"],
        saved["velocities"],
        saved["obstacles"],
        obstacle_rays=net.config.obstacle_rays,
        ray_range=net.config.obstacle_ray_range,
    )
    mean_action, mean_shares = GnnTuner(net, sample=False)(obs)
    assert (mean_shares > 0.5).sum() > 10  # the case exercises the per-neighbour outputs
    assert np.allclose(mean_action.numpy(), saved["mean_action"], atol=1e-5)
    assert np.allclose(mean_shares.numpy(), saved["mean_responsibility"], atol=1e-5)
    shipped = make_tuner(str(SHIPPED))  # acts with its seeded noise, as its tuner.yaml says
    for tick in range(2):
        action, shares = shipped(obs)
        assert np.allclose(action.numpy(), saved["action"][tick], atol=1e-5)
        assert np.allclose(shares.numpy(), saved["responsibility"][tick], atol=1e-5)


def test_shipped_tuner_frees_the_unicycle_circle_swap_that_locks_a_fixed_cbf():
    """Six unicycles with the ROS fleet's settings: a fixed CBF leaves them locked in a ring
    around the centre, the shipped tuner gets every robot home (tuners with small sideways
    biases lock like the fixed one, see docs/results/cbf_tuner.md)."""
    scenario = load_scenario(ROOT / "sim" / "scenarios" / "circle_swap_unicycle.yaml")

    def episodes(tuner):
        env = NavEnv(
            NavEnvConfig(
                scenario=scenario,
                num_envs=2,
                action_parameters=tuner.action_parameters,
                **observation_scan(tuner),
            )
        )
        return run_episodes(env, tuner, seed=0)

    fixed = episodes(make_tuner("fixed:alpha=1,gain=1"))
    assert not any(result.success for result in fixed)
    learned = episodes(make_tuner(str(SHIPPED)))
    assert all(result.success and result.collisions == 0 for result in learned)
