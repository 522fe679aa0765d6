"""The GNN tuner for one world in compiled code: its observation and mean outputs in one pass.

For one fleet (tens of robots, tens of obstacle discs) the tuner's arithmetic is small and
torch's per-operator overhead sets its cost: about a hundred operators of 5-20 us each, 3-4 ms a
tick, a third of a 16-robot warehouse tick. This kernel builds the observation of
:class:`~fleetpilot.envs.graph.NeighbourGraphBuilder` (from the same float64 geometry, rounded
to float32 where the torch path rounds it, so its discrete parts, which pairs are edges and which
obstacle is nearest, come out the same) and runs :class:`~fleetpilot.safety.tuner.CbfTunerNet`'s
forward pass in float32 (products through BLAS, so that thousands of edges stay cheap) up to the
pre-squash means. Noise, squashing and
overrides stay with :class:`~fleetpilot.safety.tuner.GnnTuner`, so the noise stream is the same.
The tests check both paths agree.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from fleetpilot.agent_states import as_float_array
from fleetpilot.envs.graph import EDGE_FEATURES, NODE_FEATURES
from fleetpilot.safety.tuner import EDGE_INPUTS, NODE_INPUTS, CbfTunerNet

_BASE = len(NODE_FEATURES)
_EDGE_FEATURES = len(EDGE_FEATURES)
# Positions in the weight and bias tuples (weights are stored (in, out), as the kernel reads them).
_ENCODE_1, _ENCODE_2, _MESSAGE_EDGE, _MESSAGE_NODE, _MESSAGE_2 = range(5)
_UPDATE_1, _UPDATE_2, _NODE_HEAD, _EDGE_HEAD_MESSAGE, _EDGE_HEAD_NODE, _EDGE_HEAD_2 = range(5, 11)


@numba.njit(cache=True, nogil=True)
def _observe(positions, velocities, headings, goals, arrived, obstacles, sensing, reach, rays):
    """The observation graph of one world (see NeighbourGraphBuilder): node features (N, F),
    edge sources and targets (E,) ordered by (target, source), edge features (E, 5)."""
    count, discs = positions.shape[0], obstacles.shape[0]
    sensing32, reach32 = np.float32(sensing), np.float32(reach)
    x = np.zeros((count, _BASE + rays), np.float32)
    position32 = positions.astype(np.float32)
    velocity32 = velocities.astype(np.float32)
    ray_cos = np.empty(rays, np.float32)
    ray_sin = np.empty(rays, np.float32)
    step = np.float32(2.0 * math.pi / max(rays, 1))
    for k in range(rays):
        ray_cos[k] = np.cos(np.float32(k) * step)
        ray_sin[k] = np.sin(np.float32(k) * step)
    offset_x = np.empty(discs, np.float32)
    offset_y = np.empty(discs, np.float32)
    gap = np.empty(discs, np.float32)
    centre = np.empty(discs, np.float32)
    for i in range(count):
        goal_x = np.float32(goals[i, 0]) - position32[i, 0]
        goal_y = np.float32(goals[i, 1]) - position32[i, 1]
        x[i, 0], x[i, 1] = goal_x, goal_y
        x[i, 2], x[i, 3] = velocity32[i, 0], velocity32[i, 1]
        heading = np.float32(headings[i])
        x[i, 4], x[i, 5] = np.cos(heading), np.sin(heading)
        x[i, 9] = 1.0 if arrived[i] else 0.0
        nearest, nearest_gap = -1, np.float32(np.inf)
        for k in range(discs):
            dx = obstacles[k, 0] - positions[i, 0]
            dy = obstacles[k, 1] - positions[i, 1]
            offset_x[k], offset_y[k] = dx, dy
            gap[k] = math.hypot(dx, dy) - obstacles[k, 2]
            centre[k] = math.hypot(offset_x[k], offset_y[k])
            if gap[k] < nearest_gap:
                nearest, nearest_gap = k, gap[k]
        if nearest >= 0 and nearest_gap <= sensing32:
            scale = nearest_gap / max(centre[nearest], np.float32(1e-9))
            x[i, 6], x[i, 7] = offset_x[nearest] * scale, offset_y[nearest] * scale
            x[i, 8] = 1.0
        if rays == 0:
            continue
        distance = np.float32(math.hypot(goal_x, goal_y))
        frame_x, frame_y = np.float32(1.0), np.float32(0.0)
        if distance > 1e-6:
            frame_x, frame_y = goal_x / distance, goal_y / distance
        for r in range(rays):
            ray_x = frame_x * ray_cos[r] - frame_y * ray_sin[r]
            ray_y = frame_x * ray_sin[r] + frame_y * ray_cos[r]
            entry_min = reach32
            for k in range(discs):
                radius = centre[k] - gap[k]
                if radius <= 0:
                    continue
                along = offset_x[k] * ray_x + offset_y[k] * ray_y
                across2 = centre[k] * centre[k] - along * along
                radius2 = radius * radius
                half_chord = np.float32(math.sqrt(max(radius2 - across2, 0.0)))
                if across2 < radius2 and along + half_chord > 0:
                    entry_min = min(entry_min, max(along - half_chord, np.float32(0.0)))
            x[i, _BASE + r] = min(entry_min, reach32) / reach32
    pairs = 0
    source = np.empty(count * count, np.int64)
    target = np.empty(count * count, np.int64)
    distances = np.empty(count * count, np.float32)
    for i in range(count):
        for j in range(count):
            if i == j:
                continue
            between = np.float32(
                math.hypot(positions[j, 0] - positions[i, 0], positions[j, 1] - positions[i, 1])
            )
            if between <= sensing32:
                source[pairs], target[pairs], distances[pairs] = j, i, between
                pairs += 1
    edge_attr = np.empty((pairs, _EDGE_FEATURES), np.float32)
    for e in range(pairs):
        j, i = source[e], target[e]
        edge_attr[e, 0] = position32[j, 0] - position32[i, 0]
        edge_attr[e, 1] = position32[j, 1] - position32[i, 1]
        edge_attr[e, 2] = velocity32[j, 0] - velocity32[i, 0]
        edge_attr[e, 3] = velocity32[j, 1] - velocity32[i, 1]
        edge_attr[e, 4] = distances[e]
    return x, source[:pairs].copy(), target[:pairs].copy(), edge_attr


@numba.njit(cache=True, nogil=True)
def _silu(values):
    """SiLU in place."""
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            values[row, col] = values[row, col] / (1.0 + np.exp(-values[row, col]))
    return values


@numba.njit(cache=True, nogil=True)
def _linear(inputs, weight, bias, silu):
    """``inputs @ weight + bias`` (weight (in, out)), then SiLU if ``silu``."""
    out = np.dot(inputs, weight) + bias
    return _silu(out) if silu else out


@numba.njit(cache=True, nogil=True)
def _edge_linear(edge_inputs, edge_weight, per_node, target, silu):
    """``cat([edge_inputs, node_inputs[target]]) @ W + b`` from ``per_node`` = the node half
    (with the bias) computed once per node: CbfTunerNet's split linear layer."""
    out = np.dot(edge_inputs, edge_weight)
    for e in range(out.shape[0]):
        out[e] += per_node[target[e]]
    return _silu(out) if silu else out


@numba.njit(cache=True, nogil=True)
def _rotate(frame_x, frame_y, vx, vy):
    return frame_x * vx + frame_y * vy, frame_x * vy - frame_y * vx


@numba.njit(cache=True, nogil=True)
def _forward(x, target, edge_attr, goal_scale, rays, weights, biases, outputs, edge_head):
    """CbfTunerNet.forward on one observation: node means (N, outputs), edge means (E,)."""
    count, edges = x.shape[0], edge_attr.shape[0]
    frames = np.empty((count, 2), np.float32)
    nodes = np.empty((count, NODE_INPUTS + rays), np.float32)
    scale = np.float32(goal_scale)
    for i in range(count):
        distance = np.float32(math.hypot(x[i, 0], x[i, 1]))
        frame_x, frame_y = np.float32(1.0), np.float32(0.0)
        if distance > 1e-6:
            frame_x, frame_y = x[i, 0] / distance, x[i, 1] / distance
        frames[i, 0], frames[i, 1] = frame_x, frame_y
        nodes[i, 0] = min(distance, scale) / scale
        for column in range(3):  # velocity, heading, nearest-obstacle offset
            nodes[i, 1 + 2 * column], nodes[i, 2 + 2 * column] = _rotate(
                frame_x, frame_y, x[i, 2 + 2 * column], x[i, 3 + 2 * column]
            )
        nodes[i, 7], nodes[i, 8] = x[i, 8], x[i, 9]
        for r in range(rays):
            nodes[i, NODE_INPUTS + r] = x[i, _BASE + r]
    edge_inputs = np.empty((edges, EDGE_INPUTS), np.float32)
    for e in range(edges):
        frame_x, frame_y = frames[target[e], 0], frames[target[e], 1]
        along, left = _rotate(frame_x, frame_y, edge_attr[e, 0], edge_attr[e, 1])
        gap = edge_attr[e, 4]
        edge_inputs[e, 0], edge_inputs[e, 1] = along, left
        edge_inputs[e, 2] = along / max(gap, np.float32(1e-6))
        edge_inputs[e, 3] = left / max(gap, np.float32(1e-6))
        edge_inputs[e, 4], edge_inputs[e, 5] = _rotate(
            frame_x, frame_y, edge_attr[e, 2], edge_attr[e, 3]
        )
        edge_inputs[e, 6] = gap
    embedding = _linear(
        _linear(nodes, weights[_ENCODE_1], biases[_ENCODE_1], True),
        weights[_ENCODE_2],
        biases[_ENCODE_2],
        False,
    )
    per_node = _linear(embedding, weights[_MESSAGE_NODE], biases[_MESSAGE_NODE], False)
    hidden = _edge_linear(edge_inputs, weights[_MESSAGE_EDGE], per_node, target, True)
    messages = _linear(hidden, weights[_MESSAGE_2], biases[_MESSAGE_2], False)
    width = messages.shape[1]
    update_in = np.zeros((count, embedding.shape[1] + 2 * width), np.float32)
    update_in[:, : embedding.shape[1]] = embedding
    received = np.zeros(count, np.int64)
    maximum = np.full((count, width), -np.inf, np.float32)
    sums = np.zeros((count, width), np.float64)
    for e in range(edges):
        i = target[e]
        received[i] += 1
        for col in range(width):
            sums[i, col] += messages[e, col]
            maximum[i, col] = max(maximum[i, col], messages[e, col])
    mean_at, max_at = embedding.shape[1], embedding.shape[1] + width
    for i in range(count):
        if received[i] == 0:
            continue  # no neighbour: both pools stay 0, as torch-geometric's scatter leaves them
        for col in range(width):
            update_in[i, mean_at + col] = sums[i, col] / received[i]
            update_in[i, max_at + col] = maximum[i, col]
    state = _linear(
        _linear(update_in, weights[_UPDATE_1], biases[_UPDATE_1], True),
        weights[_UPDATE_2],
        biases[_UPDATE_2],
        False,
    )
    node_mean = _linear(state, weights[_NODE_HEAD], biases[_NODE_HEAD], False)[:, :outputs]
    if not edge_head:
        return node_mean.copy(), np.zeros(0, np.float32)
    per_state = _linear(state, weights[_EDGE_HEAD_NODE], biases[_EDGE_HEAD_NODE], False)
    edge_hidden = _edge_linear(messages, weights[_EDGE_HEAD_MESSAGE], per_state, target, True)
    edge_mean = _linear(edge_hidden, weights[_EDGE_HEAD_2], biases[_EDGE_HEAD_2], False)
    return node_mean.copy(), edge_mean[:, 0].copy()


def _transposed(weight: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(weight.detach().cpu().numpy().T, dtype=np.float32)


def _bias(bias: torch.Tensor | None, width: int) -> np.ndarray:
    if bias is None:
        return np.zeros(width, np.float32)
    return np.ascontiguousarray(bias.detach().cpu().numpy(), dtype=np.float32)


class TunerKernel:
    """``node_mean, edge_mean, edge_index = kernel(positions, ...)`` for one world.

    Args:
        net: the trained network (its weights are copied now).
        sensing_radius: of the observation graph [m]; also the obstacle scan's reach unless
            the tuner's config sets ``obstacle_ray_range`` (as in NeighbourGraphBuilder).
    """

    def __init__(self, net: CbfTunerNet, sensing_radius: float) -> None:
        config = net.config
        self.sensing_radius = float(sensing_radius)
        self.ray_range = float(config.obstacle_ray_range or sensing_radius)
        self.rays, self.goal_scale = int(config.obstacle_rays), float(config.goal_scale)
        self.outputs = len(config.node_outputs)
        self.edge_head = bool(config.per_neighbour_responsibility)
        message, edge_head = net.message[0], net.edge_head[0]
        layers = [
            (net.node_encoder[0].weight, net.node_encoder[0].bias),
            (net.node_encoder[2].weight, net.node_encoder[2].bias),
            (message.weight[:, :EDGE_INPUTS], None),
            (message.weight[:, EDGE_INPUTS:], message.bias),
            (net.message[2].weight, net.message[2].bias),
            (net.update[0].weight, net.update[0].bias),
            (net.update[2].weight, net.update[2].bias),
            (net.node_head.weight, net.node_head.bias),
            (edge_head.weight[:, : config.edge_hidden], None),
            (edge_head.weight[:, config.edge_hidden :], edge_head.bias),
            (net.edge_head[2].weight, net.edge_head[2].bias),
        ]
        self._weights = tuple(_transposed(weight) for weight, _ in layers)
        self._biases = tuple(_bias(bias, weight.shape[0]) for weight, bias in layers)

    def __call__(
        self,
        positions: np.ndarray,
        velocities: np.ndarray,
        headings: np.ndarray,
        goals: np.ndarray,
        arrived: np.ndarray,
        obstacles: np.ndarray,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-squash means of one world.

        Args:
            positions, velocities, goals: (N, 2) float64 [m, m/s, m].
            headings: (N,) float64 yaw [rad].
            arrived: (N,) bool, robots at rest at their goal.
            obstacles: (M, 3) float64 discs [x, y, r] [m] (M may be 0).

        Returns:
            ``node_mean`` (N, len(node_outputs)) and ``edge_mean`` (E,) float32 (empty without
            per-neighbour outputs), and ``edge_index`` (2, E) int64 [source j, target i].

        Raises:
            ValueError: naming the input and the entry that is non-finite or misshapen.
        """
        positions = as_float_array("positions", positions, (None, 2))
        count = len(positions)
        arrived = np.asarray(arrived)
        if arrived.shape != (count,) or arrived.dtype != np.bool_:
            raise ValueError(
                f"arrived: expected ({count},) bool, got {arrived.shape} {arrived.dtype}"
            )
        x, source, target, edge_attr = _observe(
            np.ascontiguousarray(positions),
            np.ascontiguousarray(as_float_array("velocities", velocities, (count, 2))),
            np.ascontiguousarray(as_float_array("headings", headings, (count,))),
            np.ascontiguousarray(as_float_array("goals", goals, (count, 2))),
            np.ascontiguousarray(arrived),
            np.ascontiguousarray(as_float_array("obstacles", obstacles, (None, 3))),
            self.sensing_radius,
            self.ray_range,
            self.rays,
        )
        node_mean, edge_mean = _forward(
            x,
            target,
            edge_attr,
            self.goal_scale,
            self.rays,
            self._weights,
            self._biases,
            self.outputs,
            self.edge_head,
        )
        edge_index = torch.from_numpy(np.stack([source, target]))
        return torch.from_numpy(node_mean), torch.from_numpy(edge_mean), edge_index
