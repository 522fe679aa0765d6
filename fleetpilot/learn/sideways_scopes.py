"""Where PPO's cost on the tuner's sideways bias applies: tests on one tick's observation graph.

The bias frees swaps in open space and makes lanes in corridors, but pushes agents off a door's
line; each test picks out agents of one of those situations from what they sense
(``fleetpilot.learn.train_cbf_tuner``'s ``tangential_cost_*`` options).
"""

from __future__ import annotations

import torch

from fleetpilot.envs.graph import EDGE_FEATURES, NODE_FEATURES

AHEAD_COSINE = 0.5
"""An obstacle point is ahead when its direction is within 60 degrees of the goal's."""


def obstacle_seen(nodes):
    """(B * N,) bool: the agents sense an obstacle, from their (B * N, F) node features
    (:data:`~fleetpilot.envs.graph.NODE_FEATURES` first)."""
    return nodes[:, NODE_FEATURES.index("obstacle_seen")] > 0.5


def obstacle_ahead(nodes):
    """(B * N,) bool: the nearest sensed obstacle point lies ahead, toward the goal, from the
    agents' (B * N, F) node features (:data:`~fleetpilot.envs.graph.NODE_FEATURES` first)."""
    goal = nodes[:, [NODE_FEATURES.index("goal_dx"), NODE_FEATURES.index("goal_dy")]]
    point = nodes[:, [NODE_FEATURES.index("obstacle_dx"), NODE_FEATURES.index("obstacle_dy")]]
    cosine = (goal * point).sum(-1) / (goal.norm(dim=-1) * point.norm(dim=-1)).clamp_min(1e-9)
    return obstacle_seen(nodes) & (cosine > AHEAD_COSINE)


SIDE_WALL_REACH = 3.0
"""[m] a wall this close on both sides (square to the goal direction) is a corridor's."""


def between_walls(nodes, rays: int, ray_range: float):
    """(B * N,) bool: both side rays of the agents' obstacle scans (rays ``rays / 4`` and
    ``3 rays / 4``, left and right of the goal direction) end within :data:`SIDE_WALL_REACH`."""
    first = len(NODE_FEATURES)
    left, right = nodes[:, first + rays // 4], nodes[:, first + 3 * rays // 4]
    reach = SIDE_WALL_REACH / ray_range
    return (left < reach) & (right < reach)


ONCOMING_SPEED = 0.5
"""[m/s] a neighbour ahead that moves against an agent's goal direction faster than this is
oncoming (slower ones are mostly pushed back in a queue)."""


def oncoming_neighbour(nodes, edge_index, edge_attr):
    """(B * N,) bool: the agent senses a neighbour ahead of it (toward its goal) that moves
    against its goal direction faster than :data:`ONCOMING_SPEED`, from one tick's observation
    graph (edges neighbour -> agent, :data:`~fleetpilot.envs.graph.EDGE_FEATURES`)."""
    goal = nodes[:, [NODE_FEATURES.index("goal_dx"), NODE_FEATURES.index("goal_dy")]]
    heading = goal / goal.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    velocity = nodes[:, [NODE_FEATURES.index("velocity_x"), NODE_FEATURES.index("velocity_y")]]
    agent = edge_index[1]
    offset = edge_attr[:, [EDGE_FEATURES.index("dx"), EDGE_FEATURES.index("dy")]]
    relative = edge_attr[:, [EDGE_FEATURES.index("dvx"), EDGE_FEATURES.index("dvy")]]
    ahead = (offset * heading[agent]).sum(-1) > 0
    against = ((velocity[agent] + relative) * heading[agent]).sum(-1) < -ONCOMING_SPEED
    found = torch.zeros(len(nodes), dtype=torch.bool, device=nodes.device)
    return found.index_fill_(0, agent[ahead & against], True)
