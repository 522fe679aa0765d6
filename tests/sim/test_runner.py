"""The scenario runner in real PyBullet: robots reach goals, the unicycle filter keeps them apart,
contacts are counted as collisions, and the metrics have the training environment's keys."""

import math

import numpy as np
import pytest
import torch

from fleetpilot.envs.tuners import make_tuner
from fleetpilot.scenarios import parse_scenario
from fleetpilot.sim.lidar import LidarConfig
from fleetpilot.sim.runner import ScenarioRun, SimConfig
from fleetpilot.sim.scenario_world import build_world, control_substeps

FIXED = "fixed:alpha=1,gain=1"


def scenario_data(agents, **overrides) -> dict:
    data = {
        "version": 1,
        "name": "test_pair",
        "dt": 0.1,
        "horizon": 14.0,
        "sensing_radius": 2.0,
        "goal_tolerance": 0.1,
        "arena": {"x_min": -4.0, "y_min": -2.5, "x_max": 4.0, "y_max": 2.5},
        "robot": {"dynamics": "unicycle", "radius": 0.2, "max_speed": 1.0},
        "agents": agents,
    }
    data.update(overrides)
    return data


def instance_of(agents, **overrides):
    return parse_scenario(scenario_data(agents, **overrides), "<test>").sample()


def test_robots_reach_their_goals_in_an_empty_world():
    instance = instance_of(
        [
            {"start": [-3.0, -1.0], "goal": [2.0, -1.5]},
            {"start": [-3.0, 1.0], "goal": [1.0, 2.0], "heading": 0.0},  # must turn first
        ]
    )
    with ScenarioRun(instance, make_tuner(FIXED)) as run:
        run.run()
        metrics = run.episode()
    assert metrics.success and metrics.collisions == 0
    assert metrics.makespan is not None and metrics.makespan < 10.0
    assert metrics.agents["arrived"] == [True, True]
    assert 0.9 <= metrics.path_length_ratio < 1.3  # arrival counts within the tolerance


def test_unicycle_filter_keeps_two_robots_driving_head_on_apart():
    # Exactly head-on along one line: without the filter they collide (see test_world).
    instance = instance_of(
        [
            {"start": [-3.0, 0.0], "goal": [3.0, 0.0]},
            {"start": [3.0, 0.02], "goal": [-3.0, 0.02]},
        ]
    )
    distances = []
    with ScenarioRun(instance, make_tuner("fixed:alpha=2,gain=1")) as run:
        run.run(on_tick=lambda tick: distances.append(tick.min_distance))
        metrics = run.episode()
        contacts = list(run.world.contacts)
    assert contacts == [] and metrics.collisions == 0
    assert min(distances) >= instance.safety_distance - 0.02  # physics tracks the filter
    assert metrics.safety_modes["FILTERED"] > 0  # the filter did act


def test_pybullet_contacts_are_counted_as_collisions():
    instance = instance_of(
        [
            {"start": [-1.0, 0.0], "goal": [3.0, 0.0]},
            {"start": [1.0, 0.0], "goal": [-3.0, 0.0]},
        ],
        obstacles=[{"center": [0.0, -1.5], "radius": 0.3}],
    )
    with ScenarioRun(instance, make_tuner(FIXED)) as run:
        # Drive the robots into each other directly (no filter) in the run's own world.
        run.world.command(np.array([[0.6, 0.0], [0.6, 0.0]]))
        run.world.advance(2.0)
        run.world.command(np.array([[0.0, 0.0], [0.0, 0.0]]))
        run.world.advance(0.5)
        metrics = run.episode()
    assert metrics.agent_collisions == 1 and metrics.obstacle_collisions == 0
    assert metrics.collisions == 1 and metrics.agents["collisions"] == [1, 1]


def test_degraded_perception_runs_each_robot_on_what_it_perceives():
    instance = instance_of(
        [
            {"start": [-3.0, 0.0], "goal": [3.0, 0.0]},
            {"start": [3.0, 0.1], "goal": [-3.0, 0.1]},
        ],
        perception={"position_noise": 0.02, "dropout": 0.1, "latency": 0.1},
    )
    with ScenarioRun(instance, make_tuner(FIXED), SimConfig(max_steps=40)) as run:
        assert not run.filter.exact
        run.run()
        metrics = run.episode()
    assert run.steps == 40 and metrics.collisions == 0


def test_world_matches_the_instance():
    instance = instance_of(
        [{"start": [-3.0, 0.0], "goal": [3.0, 0.0]}, {"start": [3.0, 1.0], "goal": [-3.0, 1.0]}],
        obstacles=[{"center": [0.0, -1.5], "radius": 0.3}],
        perception={"latency": 0.2},
        sensing_radius=2.5,
    )
    world, perception = build_world(instance)
    with world:
        np.testing.assert_allclose(world.poses()[:, :2], instance.starts, atol=1e-3)
        assert world.poses()[1, 2] == pytest.approx(math.pi, abs=1e-3)
        np.testing.assert_allclose(world.obstacles, instance.obstacles)
    assert perception.config.sensing_radius == 2.5 and perception.config.latency == 0.2
    assert control_substeps(instance, 0.01) == 10
    with pytest.raises(ValueError, match="dt: expected a multiple of the physics step 0.03"):
        control_substeps(instance, 0.03)


def test_mixed_robot_limits_are_refused_with_the_agent_named():
    agents = [
        {"start": [-3.0, 0.0], "goal": [3.0, 0.0]},
        {"start": [3.0, 1.0], "goal": [-3.0, 1.0], "max_speed": 0.5},
    ]
    instance = instance_of(agents)
    with pytest.raises(ValueError, match=r"agents\[1\]\.max_speed"):
        build_world(instance)


class NeighbourCountTuner:
    """A tuner that reads its observation: alpha = 1 + the number of neighbours in range."""

    action_parameters = ("alpha", "gain")

    def __init__(self) -> None:
        self.edge_counts = []
        self.dtypes = set()

    def __call__(self, observation):
        count = observation.num_nodes
        incoming = torch.bincount(observation.edge_index[1], minlength=count).double()
        self.edge_counts.append(observation.edge_index.shape[1])
        self.dtypes.add(observation.x.dtype)
        return torch.stack([1.0 + incoming, torch.ones(count, dtype=torch.float64)], -1)[None]


def test_learned_tuners_get_the_neighbour_graph_and_set_per_robot_alpha():
    instance = instance_of(
        [
            {"start": [-3.0, 0.0], "goal": [3.0, 0.0]},
            {"start": [3.0, 0.1], "goal": [-3.0, 0.1]},
            {"start": [0.0, 2.0], "goal": [0.0, -2.0]},
        ],
        arena={"x_min": -4.0, "y_min": -3.0, "x_max": 4.0, "y_max": 3.0},
    )
    tuner = NeighbourCountTuner()
    alphas = []
    with ScenarioRun(instance, tuner, SimConfig(max_steps=30)) as run:
        run.run(on_tick=lambda tick: alphas.append(tick.alpha.copy()))
    assert tuner.edge_counts[0] == 0  # all farther apart than the 2 m sensing radius
    assert max(tuner.edge_counts) >= 2  # they meet in the middle
    assert np.max(alphas) >= 2.0 and np.min(alphas) == 1.0
    assert tuner.dtypes == {torch.float32}  # the training environment's observation dtype


def test_lidar_only_robots_avoid_a_pillar_a_wall_and_a_silent_robot():
    """With a lidar the filters get no obstacle list, no walls and, for the silent robot, no
    neighbour entry: every robot still keeps clear of all of them."""
    instance = instance_of(
        [
            {"start": [-3.0, 0.0], "goal": [3.0, 0.0]},
            {"start": [3.0, 0.6], "goal": [-3.0, 0.6]},  # silent: reports nothing
        ],
        obstacles=[{"center": [0.0, -0.1], "radius": 0.35}],
        horizon=20.0,
    )
    config = SimConfig(lidar=LidarConfig(range_max=3.0, noise_sigma=0.005), silent_robots=1)
    with ScenarioRun(instance, make_tuner("fixed:alpha=1,gain=1,tangential=0.3"), config) as run:
        assert run.filter.silent == {instance_ids(run)[1]}
        seen_rows = []
        run.run(on_tick=lambda tick: seen_rows.append(tick.num_constraints.copy()))
        metrics = run.episode()
    assert metrics.collisions == 0, run.contact_counts()
    assert max(rows[0] for rows in seen_rows) >= 2  # scan discs stood in for pillar and robot
    assert metrics.min_distance >= 0.4 - 0.02


def instance_ids(run):
    return run.perception.ids


def test_silent_robots_need_a_lidar():
    with pytest.raises(ValueError, match="silent_robots"):
        SimConfig(silent_robots=2)


def test_lidar_runs_record_every_robots_scans_in_the_bag(tmp_path):
    from rosbags.rosbag2 import Reader

    from fleetpilot.sim.bag import fleetpilot_typestore
    from fleetpilot.sim.recorder import RunRecorder

    instance = instance_of(
        [{"start": [-1.0, 0.0], "goal": [1.0, 0.0]}, {"start": [1.0, 1.0], "goal": [-1.0, 1.0]}],
        obstacles=[{"center": [0.0, -1.2], "radius": 0.3}],
    )
    config = SimConfig(lidar=LidarConfig(beams=90, range_max=3.0), max_steps=5)
    recorder = RunRecorder(tmp_path / "run", instance)
    with ScenarioRun(instance, make_tuner(FIXED), config) as run:
        run.run(on_tick=recorder)
    recorder.finish()
    store = fleetpilot_typestore()
    with Reader(tmp_path / "run" / "bag") as reader:
        scans = [
            store.deserialize_cdr(raw, connection.msgtype)
            for connection, _, raw in reader.messages()
            if connection.topic == "/robot_0/scan"
        ]
    assert len(scans) == 5
    assert scans[0].header.frame_id == "robot_0/base_scan" and len(scans[0].ranges) == 90
    assert np.isfinite(scans[0].ranges).any()  # it sees the arena walls, the pillar, robot_1


def test_a_sampling_tuner_acts_with_the_noise_seed_of_the_run():
    """The shipped tuner samples its outputs: the run's noise seed decides the draws, so runs
    with one seed repeat and runs with two seeds differ (``fleetpilot sim`` gives each episode
    its own, else every episode of a symmetric swap repeats the first)."""
    instance = instance_of(
        [
            {"start": [-1.0, 0.0], "goal": [1.0, 0.0]},
            {"start": [1.0, 0.1], "goal": [-1.0, 0.1]},
        ]
    )
    tuner = make_tuner("policies/cbf_tuner_gnn")

    def first_alphas(seed):
        ticks = []
        with ScenarioRun(instance, tuner, SimConfig(max_steps=3, tuner_noise_seed=seed)) as run:
            run.run(on_tick=ticks.append)
        return np.stack([tick.alpha for tick in ticks])

    configured = first_alphas(None)
    assert np.array_equal(configured, first_alphas(tuner.config.noise_seed))
    assert np.array_equal(first_alphas(5), first_alphas(5))
    assert not np.allclose(first_alphas(5), first_alphas(6))
    for bad in (-1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="tuner_noise_seed: expected an integer >= 0"):
            SimConfig(tuner_noise_seed=bad)


def test_a_robot_meeting_a_silent_robot_head_on_at_alpha_8_does_not_touch_it():
    """The perception benchmark's crossing, seed 2, at the top of the tuner's alpha range: a
    reporting robot sees a silent one only by lidar and once drove into it (both filters spent
    the pair's barrier, 1.5 alpha h per tick). Returns that may be robots now get half the rate."""
    from fleetpilot.scenarios import load_scenario
    from fleetpilot.sim.run import perception_seed

    scenario = load_scenario("sim/scenarios/lidar_crossing.yaml")
    instance = scenario.sample(seed=(2, 0, 0))
    config = SimConfig(
        max_steps=40,  # they met at 3.3 s
        perception_seed=perception_seed(2, 0),
        nominal=scenario.nominal,
        lidar=LidarConfig(range_max=1.5 * instance.sensing_radius),
        silent_robots=3,
    )
    with ScenarioRun(instance, make_tuner("fixed:alpha=8,gain=3"), config) as run:
        run.run()
        assert run.contact_counts() == {"robot": 0, "obstacle": 0, "wall": 0}
        assert run.episode().min_distance > 0.4  # two body radii
