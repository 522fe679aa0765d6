"""Neighbour-graph observations agree with a plain per-agent loop and ignore translations."""

import math

import pytest
import torch

from fleetpilot.envs.graph import (
    EDGE_FEATURES,
    NODE_FEATURES,
    NeighbourGraphBuilder,
    compute_geometry,
    node_feature_names,
    obstacle_ray_ranges,
)

RADIUS = 1.5


def random_world(seed: int, num_envs=3, num_agents=5, num_obstacles=2):
    generator = torch.Generator().manual_seed(seed)

    def uniform(*shape, scale=3.0):
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) - 0.5) * 2 * scale

    obstacles = torch.cat(
        [
            uniform(num_envs, num_obstacles, 2),
            torch.full((num_envs, num_obstacles, 1), 0.3, dtype=torch.float64),
        ],
        dim=-1,
    )
    mask = torch.ones(num_envs, num_obstacles, dtype=torch.bool)
    mask[0, 1] = False  # a padding row
    return dict(
        positions=uniform(num_envs, num_agents, 2),
        velocities=uniform(num_envs, num_agents, 2, scale=1.0),
        headings=uniform(num_envs, num_agents, scale=math.pi),
        goals=uniform(num_envs, num_agents, 2),
        arrived=torch.rand(num_envs, num_agents, generator=generator) < 0.3,
        obstacles=obstacles,
        obstacle_mask=mask,
    )


def observe(world, obstacle_rays=0):
    num_envs, num_agents = world["positions"].shape[:2]
    geometry = compute_geometry(world["positions"], world["obstacles"], world["obstacle_mask"])
    builder = NeighbourGraphBuilder(
        num_envs, num_agents, RADIUS, torch.device("cpu"), obstacle_rays
    )
    return builder(
        geometry,
        world["positions"],
        world["velocities"],
        world["headings"],
        world["goals"],
        world["arrived"],
    )


def test_graph_matches_a_per_agent_loop():
    world = random_world(seed=0)
    batch = observe(world)
    num_envs, num_agents = world["positions"].shape[:2]
    assert batch.num_graphs == num_envs
    assert batch.x.shape == (num_envs * num_agents, len(NODE_FEATURES))
    assert batch.edge_attr.shape[1] == len(EDGE_FEATURES)
    expected_edges = {}
    for b in range(num_envs):
        p, v = world["positions"][b], world["velocities"][b]
        for i in range(num_agents):
            node = b * num_agents + i
            features = batch.x[node]
            torch.testing.assert_close(features[0:2], world["goals"][b, i] - p[i])
            torch.testing.assert_close(features[2:4], v[i])
            assert features[9].item() == float(world["arrived"][b, i])
            # Nearest obstacle surface point, among real obstacles within the sensing radius.
            best = None
            for m in range(world["obstacles"].shape[1]):
                if not world["obstacle_mask"][b, m]:
                    continue
                centre, r = world["obstacles"][b, m, :2], world["obstacles"][b, m, 2]
                gap = torch.linalg.vector_norm(centre - p[i]) - r
                if gap <= RADIUS and (best is None or gap < best[0]):
                    best = (gap, (centre - p[i]) * gap / (gap + r))
            if best is None:
                assert features[8].item() == 0.0 and torch.all(features[6:8] == 0)
            else:
                assert features[8].item() == 1.0
                torch.testing.assert_close(features[6:8], best[1])
            for j in range(num_agents):
                distance = torch.linalg.vector_norm(p[j] - p[i])
                if j != i and distance <= RADIUS:
                    expected_edges[(b * num_agents + j, node)] = torch.cat(
                        [p[j] - p[i], v[j] - v[i], distance.reshape(1)]
                    )
    edges = {
        (int(s), int(t)): attr
        for (s, t), attr in zip(batch.edge_index.T.tolist(), batch.edge_attr, strict=True)
    }
    assert edges.keys() == expected_edges.keys() and len(edges) == batch.num_edges
    for key, attr in expected_edges.items():
        torch.testing.assert_close(edges[key], attr)


def test_batch_splits_into_per_environment_graphs():
    world = random_world(seed=1)
    batch = observe(world)
    graphs = batch.to_data_list()
    assert len(graphs) == 3
    assert sum(g.num_edges for g in graphs) == batch.num_edges > 0
    for b, graph in enumerate(graphs):
        assert graph.num_nodes == 5
        assert torch.all(graph.edge_index < 5)  # indices are local to the graph
        torch.testing.assert_close(graph.x, batch.x[b * 5 : (b + 1) * 5])


def test_observation_is_translation_invariant():
    world = random_world(seed=2)
    shifted = dict(world)
    offset = torch.tensor([10.0, -7.0], dtype=torch.float64)
    for key in ("positions", "goals"):
        shifted[key] = world[key] + offset
    shifted["obstacles"] = world["obstacles"].clone()
    shifted["obstacles"][..., :2] += offset
    a, b = observe(world), observe(shifted)
    torch.testing.assert_close(a.x, b.x)
    assert torch.equal(a.edge_index, b.edge_index)
    torch.testing.assert_close(a.edge_attr, b.edge_attr)


def ray_scan(positions, goals, obstacles, count=8, radius=2.0):
    """Obstacle ray ranges of the first agent of one environment from nested lists."""
    positions = torch.tensor([positions], dtype=torch.float64)
    goals = torch.tensor([goals], dtype=torch.float64)
    obstacles = torch.tensor([obstacles], dtype=torch.float64)
    mask = torch.ones(obstacles.shape[:2], dtype=torch.bool)
    geometry = compute_geometry(positions, obstacles, mask)
    return obstacle_ray_ranges(geometry, positions, goals, radius, count)[0, 0]


def test_obstacle_rays_measure_free_range_in_the_goal_frame():
    """Ray 0 points at the goal, rays go counter-clockwise; a disc 0.8 m ahead and one whose
    surface is 0.5 m to the left show on rays 0 and 2 of 8; the rest see nothing in 2 m."""
    scene = [[0.0, 0.0]], [[5.0, 0.0]], [[1.0, 0.0, 0.2], [0.0, 1.0, 0.5]]
    ranges = ray_scan(*scene)
    expected = torch.ones(8, dtype=torch.float64)
    expected[0], expected[2] = 0.8 / 2.0, 0.5 / 2.0
    assert torch.allclose(ranges, expected)
    # The same scene turned by 90 degrees about the agent (goal now +y): the same scan.
    turned = [[0.0, 0.0]], [[0.0, 5.0]], [[0.0, 1.0, 0.2], [-1.0, 0.0, 0.5]]
    assert torch.allclose(ray_scan(*turned), ranges)
    inside = ray_scan([[1.0, 0.05]], [[5.0, 0.0]], [[1.0, 0.0, 0.2]])
    assert torch.all(inside == 0.0)  # the centre inside a disc: every ray blocked at once


def test_obstacle_rays_are_appended_to_the_node_features():
    world = random_world(6)
    batch = observe(world, obstacle_rays=12)
    assert batch.x.shape[1] == len(node_feature_names(12)) == len(NODE_FEATURES) + 12
    assert torch.equal(batch.x[:, : len(NODE_FEATURES)], observe(world).x)
    geometry = compute_geometry(world["positions"], world["obstacles"], world["obstacle_mask"])
    rays = obstacle_ray_ranges(geometry, world["positions"], world["goals"], RADIUS, 12)
    assert torch.equal(batch.x[:, len(NODE_FEATURES) :], rays.reshape(-1, 12))
    assert 0.0 < rays.min() and rays.max() == 1.0  # some rays hit, some see nothing


def test_a_longer_ray_range_sees_a_wall_beyond_the_sensing_radius():
    """A wall 3.8 m ahead: invisible to a scan reaching the 1.5 m sensing radius, at range
    3.8 / 6 on ray 0 of a 6 m scan; the neighbour graph itself keeps the sensing radius."""
    wall = torch.tensor([[[4.0, y, 0.2] for y in (-0.4, 0.0, 0.4)]], dtype=torch.float64)
    world = dict(
        positions=torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 3.0]]], dtype=torch.float64),
        velocities=torch.zeros(1, 3, 2, dtype=torch.float64),
        headings=torch.zeros(1, 3, dtype=torch.float64),
        goals=torch.tensor([[[8.0, 0.0], [1.0, 5.0], [0.0, 6.0]]], dtype=torch.float64),
        arrived=torch.zeros(1, 3, dtype=torch.bool),
        obstacles=wall,
        obstacle_mask=torch.ones(1, 3, dtype=torch.bool),
    )
    geometry = compute_geometry(world["positions"], wall, world["obstacle_mask"])
    inputs = [world[k] for k in ("positions", "velocities", "headings", "goals", "arrived")]

    def build(ray_range):
        builder = NeighbourGraphBuilder(1, 3, RADIUS, torch.device("cpu"), 8, ray_range)
        return builder(geometry, *inputs)

    near, far = build(None), build(6.0)
    rays = len(NODE_FEATURES)
    assert near.x[0, rays] == 1.0
    assert math.isclose(far.x[0, rays].item(), 3.8 / 6.0, rel_tol=1e-9)
    assert torch.equal(near.edge_index, far.edge_index)  # only agents 0 and 1 are neighbours
    assert near.edge_index.shape[1] == 2
    assert torch.equal(near.x[:, :rays], far.x[:, :rays])


def test_a_bad_ray_range_is_refused_by_name():
    for bad in (0.0, -1.0, float("nan"), float("inf"), "6", True):
        with pytest.raises(ValueError, match="obstacle_ray_range"):
            NeighbourGraphBuilder(1, 2, RADIUS, torch.device("cpu"), 8, bad)
