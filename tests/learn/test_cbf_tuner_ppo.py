"""A tiny-budget PPO run of the online CBF tuner: it completes, learns and saves a tuner."""

import argparse

import numpy as np
import pytest

from fleetpilot.envs import make_tuner
from fleetpilot.learn.train_cbf_tuner import Args, add_arguments, load_yaml_config, train

# Every rollout is one whole 1.6 s episode from reset, so iterations are comparable; the prior
# (a sideways bias) costs progress toward the goal, which PPO should learn to reduce.
TINY = dict(
    families="head_on_pair:2:8",
    iterations=10,
    num_steps=16,
    max_episode_seconds=1.6,
    learning_rate=1e-2,
    progress=False,
)
TINY_TUNER = {"init": {"alpha": 1.0, "gain": 1.0, "tangential": 0.5, "responsibility": 0.6}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cbf_tuner")
    args = Args(seed=3, output_dir=str(out / "policy"), runs_dir=str(out / "runs"), **TINY)
    return out, train(args, TINY_TUNER)


def test_tiny_training_improves_its_reward(tiny_run):
    _, summary = tiny_run
    rewards = [row["mean_reward"] for row in summary["history"]]
    assert len(rewards) == TINY["iterations"]
    assert np.mean(rewards[-3:]) > np.mean(rewards[:3])
    tangential = [row["mean_tangential"] for row in summary["history"]]
    assert tangential[-1] < tangential[0]


def test_tiny_training_writes_a_loadable_tuner_and_a_log(tiny_run):
    out, summary = tiny_run
    tuner = make_tuner(str(out / "policy"))
    assert tuner.action_parameters == ("alpha", "gain", "tangential")
    log = (out / "runs" / summary["run_name"] / "progress.csv").read_text().splitlines()
    assert log[0].startswith("iteration,") and len(log) == 1 + TINY["iterations"]


def test_yaml_config_sets_fields_and_rejects_unknown_ones(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    path = tmp_path / "train.yaml"
    path.write_text("iterations: 7\nnum_steps: 9\ntuner: {hidden: 16}\n")
    namespace = parser.parse_args(["--config", str(path), "--num-steps", "5"])
    args = Args(**vars(namespace))
    args, tuner = load_yaml_config(args)
    assert (args.iterations, args.num_steps, tuner) == (7, 5, {"hidden": 16})
    path.write_text("iterashuns: 7\n")
    with pytest.raises(ValueError, match="iterashuns: unknown field"):
        load_yaml_config(Args(config=str(path)))


def test_bad_families_are_rejected_by_name():
    with pytest.raises(ValueError, match="families: 'nowhere' is not a file in sim/scenarios/"):
        train(Args(families="nowhere:4:2", progress=False))


def test_reward_shaping_charges_stalls_and_sideways_bias_and_shares_with_the_team():
    import torch

    from fleetpilot.learn.train_cbf_tuner import shape_reward

    reward = torch.tensor([[1.0, 0.0, -1.0]])
    stalled = torch.tensor([[False, True, False]])
    sideways = torch.tensor([[0.5, 0.0, 0.0]])
    plain = Args(stall_penalty=0.0, tangential_cost=0.0, team_reward=0.0)
    assert torch.equal(shape_reward(reward, 0.1, stalled, sideways, plain), reward)
    costs = Args(stall_penalty=2.0, tangential_cost=4.0, team_reward=0.0)
    # 1 - 4 * 0.1 * 0.5 for the sideways agent, 0 - 2 * 0.1 for the stalled one.
    expected = torch.tensor([[0.8, -0.2, -1.0]])
    assert torch.allclose(shape_reward(reward, 0.1, stalled, sideways, costs), expected)
    assert torch.allclose(shape_reward(reward, 0.1, stalled, None, costs)[0, 0], reward[0, 0])
    team = Args(stall_penalty=2.0, tangential_cost=4.0, team_reward=0.5)
    shared = shape_reward(reward, 0.1, stalled, sideways, team)
    assert torch.allclose(shared, 0.5 * expected + 0.5 * expected.mean())
    assert torch.allclose(shared.sum(), expected.sum()), "sharing moves reward, adds none"


def test_sideways_bias_is_charged_to_travelling_agents_where_the_scope_says():
    import torch

    from fleetpilot.learn.train_cbf_tuner import charged_sideways

    tangential = torch.tensor([[-0.5, 0.25, 1.0]])
    arrived = torch.tensor([[False, False, True]])
    everywhere = charged_sideways(tangential, arrived, torch.ones(1, 3, dtype=torch.bool))
    assert torch.equal(everywhere, torch.tensor([[0.5, 0.25, 0.0]]))
    near_walls = charged_sideways(tangential, arrived, torch.tensor([[True, False, True]]))
    assert torch.equal(near_walls, torch.tensor([[0.5, 0.0, 0.0]]))


def test_an_obstacle_is_ahead_only_when_its_nearest_point_lies_toward_the_goal():
    import torch

    from fleetpilot.envs.graph import NODE_FEATURES
    from fleetpilot.learn.sideways_scopes import obstacle_ahead

    def node(goal, point, seen=True):
        x = torch.zeros(len(NODE_FEATURES))
        x[NODE_FEATURES.index("goal_dx") : NODE_FEATURES.index("goal_dy") + 1] = torch.tensor(goal)
        x[NODE_FEATURES.index("obstacle_dx") : NODE_FEATURES.index("obstacle_dy") + 1] = (
            torch.tensor(point)
        )
        x[NODE_FEATURES.index("obstacle_seen")] = float(seen)
        return x

    nodes = torch.stack(
        [
            node([5.0, 0.0], [1.0, 0.0]),  # a wall across the way (beside a door)
            node([5.0, 0.0], [0.0, 0.6]),  # a corridor wall alongside
            node([5.0, 0.0], [0.5, 0.9]),  # 61 degrees off the goal direction: alongside
            node([5.0, 0.0], [0.5, 0.8]),  # 58 degrees: ahead
            node([5.0, 0.0], [-1.0, 0.0]),  # behind
            node([5.0, 0.0], [1.0, 0.0], seen=False),  # out of range (the feature is zero)
        ]
    )
    assert obstacle_ahead(nodes).tolist() == [True, False, False, True, False, False]


def test_sideways_cost_scopes_refuse_settings_they_cannot_apply(tmp_path):
    import pytest

    from fleetpilot.learn.train_cbf_tuner import Args, train

    args = Args(
        families="corridor:2:1",
        iterations=1,
        tangential_cost=0.5,
        tangential_cost_obstacle_ahead_only=True,
        output_dir=str(tmp_path / "out"),
        runs_dir=str(tmp_path / "runs"),
        progress=False,
    )
    with pytest.raises(ValueError, match="tangential_cost_obstacle_ahead_only"):
        train(args, {"node_outputs": ["alpha", "gain", "tangential"]})
    args.tangential_cost_obstacle_ahead_only = False
    args.tangential_cost_unless_between_walls = True
    with pytest.raises(ValueError, match="obstacle_rays a multiple of 4, got 6"):
        train(args, {"node_outputs": ["alpha", "gain", "tangential"], "obstacle_rays": 6})


def test_an_oncoming_neighbour_is_ahead_and_moves_against_the_goal_direction():
    import torch

    from fleetpilot.envs.graph import NeighbourGraphBuilder, compute_geometry
    from fleetpilot.learn.sideways_scopes import oncoming_neighbour

    # 0 and 2 head east, 1 and 3 west (all within 2 m of one another but 1 and 3).
    positions = torch.tensor([[[0.0, 0.0], [1.0, 0.2], [0.8, -0.6], [-1.0, 0.0]]])
    velocities = torch.tensor([[[0.8, 0.0], [-1.0, 0.0], [0.8, 0.0], [-0.4, 0.0]]])
    goals = positions + torch.tensor([[[5.0, 0.0], [-5.0, 0.0], [5.0, 0.0], [-5.0, 0.0]]])
    far_obstacle = torch.tensor([[[50.0, 50.0, 0.5]]])
    geometry = compute_geometry(positions, far_obstacle, torch.ones((1, 1), dtype=torch.bool))
    no_one_arrived = torch.zeros((1, 4), dtype=torch.bool)
    graph = NeighbourGraphBuilder(1, 4, 2.0, torch.device("cpu"))(
        geometry, positions, velocities, torch.zeros((1, 4)), goals, no_one_arrived
    )
    found = oncoming_neighbour(graph.x, graph.edge_index, graph.edge_attr)
    # 0: 1 comes at it from ahead. 1: 0 and 2 (ahead of it, to the west) come east at 0.8 m/s.
    # 2: 1 is ahead of it (x 1.0 > 0.8) coming west. 3: 0 and 2 lie behind it (east).
    assert found.tolist() == [True, True, True, False]
    # Slower than 0.5 m/s against one's goal direction is not oncoming (queues get pushed back).
    velocities[0, 1] = torch.tensor([-0.4, 0.0])
    graph = NeighbourGraphBuilder(1, 4, 2.0, torch.device("cpu"))(
        geometry, positions, velocities, torch.zeros((1, 4)), goals, no_one_arrived
    )
    found = oncoming_neighbour(graph.x, graph.edge_index, graph.edge_attr)
    assert found.tolist() == [False, True, False, False]


def test_between_walls_needs_walls_on_both_sides_of_the_goal_direction():
    import torch

    from fleetpilot.envs.graph import NeighbourGraphBuilder, compute_geometry
    from fleetpilot.learn.sideways_scopes import between_walls

    def wall(y0: float, x_from: float, x_to: float) -> list[list[float]]:
        return [[x, y0, 0.2] for x in torch.arange(x_from, x_to, 0.2).tolist()]

    # Agent 0 in a 2 m corridor heading along it; agent 1 beside a single wall, heading along
    # it; agent 2 heading straight at a wall (a door's); all with a 6 m scan.
    corridor = wall(1.2, -5.0, 5.0) + wall(-1.2, -5.0, 5.0)
    single = wall(20.4, -5.0, 5.0)
    across = [[30.0, y, 0.2] for y in torch.arange(-4.0, 4.0, 0.2).tolist()]
    obstacles = torch.tensor([corridor + single + across])
    positions = torch.tensor([[[0.0, 0.6], [0.0, 20.0], [29.0, 0.0]]])
    goals = positions + torch.tensor([[[5.0, 0.0], [5.0, 0.0], [5.0, 0.0]]])
    mask = torch.ones(obstacles.shape[:2], dtype=torch.bool)
    geometry = compute_geometry(positions, obstacles, mask)
    graph = NeighbourGraphBuilder(1, 3, 2.0, torch.device("cpu"), 16, 6.0)(
        geometry,
        positions,
        torch.zeros((1, 3, 2)),
        torch.zeros((1, 3)),
        goals,
        torch.zeros((1, 3), dtype=torch.bool),
    )
    assert between_walls(graph.x, 16, 6.0).tolist() == [True, False, False]


def test_corridor_lanes_go_uncharged_when_the_cost_spares_agents_between_walls(tmp_path):
    """Same seed, same first rollout (the untrained policy acts alike): only the charge differs,
    and in a corridor nearly every agent is between walls."""
    tuner = {"node_outputs": ["alpha", "gain", "tangential"], "obstacle_rays": 16}
    rewards = {}
    for spare in (False, True):
        args = Args(
            families="corridor:4:2",
            iterations=1,
            num_steps=8,
            tangential_cost=2.0,
            tangential_cost_near_obstacles_only=True,
            tangential_cost_unless_between_walls=spare,
            output_dir=str(tmp_path / f"out_{spare}"),
            runs_dir=str(tmp_path / f"runs_{spare}"),
            progress=False,
        )
        rewards[spare] = train(args, tuner)["history"][0]["mean_reward"]
    # Identical rollouts would give identical rewards; the spared charge is a clear gain.
    assert rewards[True] > rewards[False] + 0.01
