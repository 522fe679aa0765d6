"""The GNN CBF tuner's mean policy as an export-friendly module (TorchScript, ONNX).

:class:`TunerMeanGraph` shares :class:`~fleetpilot.safety.tuner.CbfTunerNet`'s weights and
computes the same deterministic outputs from plain tensors::

    (x [N, 10], edge_index [2, E] int64, edge_attr [E, 5]) -> (params [N, P], responsibility [E])

``params`` are the node outputs (``config.node_outputs``, e.g. alpha, gain, tangential) squashed
into their bounds; ``responsibility`` is agent ``edge_index[1, e]``'s share of the pair's
barrier condition for edge e, in [1/2, 1] (zeros when the tuner has no per-neighbour output).
N and E are dynamic; a robot with no neighbour is fine (its pooled messages are zero, as in the
eager network). Build the inputs with :class:`fleetpilot.envs.graph.NeighbourGraphBuilder`
(one environment) or the same feature definitions on the robot.

Three operators of the eager forward pass do not export, so this module re-implements them with
the same arithmetic (checked to ~1e-6 by the tests):

* torch-geometric's ``scatter(reduce="max")`` uses ``scatter_reduce(include_self=False)``, which
  ONNX cannot express: here the max starts from -inf (``include_self=True``, ONNX
  ScatterElements with ``reduction="max"``, opset 18) and rows without messages are set to 0;
* ``torch.hypot`` has no ONNX symbolic: ``sqrt(x^2 + y^2)`` instead (inputs are metres, far from
  overflow);
* the goal-frame fallback axis is built from the input instead of a captured constant.

The sampling noise of ``inference: sample`` is left out: the export is the mean policy.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from fleetpilot.envs.graph import EDGE_FEATURES
from fleetpilot.export.formats import ExportSpec
from fleetpilot.safety.tuner import (
    BASE_NODE_FEATURES,
    EDGE_INPUTS,
    CbfTunerNet,
    _rotate_into,
    _split_linear,
)

ONNX_OPSET = 18
"""ScatterElements with ``reduction="max"`` (the max aggregation) needs opset 18."""

INPUT_NAMES = ["x", "edge_index", "edge_attr"]
OUTPUT_NAMES = ["params", "responsibility"]
DYNAMIC_AXES = {
    "x": {0: "robots"},
    "edge_index": {1: "edges"},
    "edge_attr": {0: "edges"},
    "params": {0: "robots"},
    "responsibility": {0: "edges"},
}


def export_goal_frame_features(
    x: torch.Tensor,
    edge_index: torch.Tensor,
    edge_attr: torch.Tensor,
    goal_scale: float,
    obstacle_rays: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fleetpilot.safety.tuner.goal_frame_features` with exportable operators."""
    goal = x[:, 0:2]
    distance = torch.sqrt(goal[:, 0:1] * goal[:, 0:1] + goal[:, 1:2] * goal[:, 1:2])
    fallback = torch.cat([torch.ones_like(distance), torch.zeros_like(distance)], dim=-1)
    frame = torch.where(distance > 1e-6, goal / distance.clamp_min(1e-6), fallback)
    nodes = torch.cat(
        [
            distance.clamp(max=goal_scale) / goal_scale,
            _rotate_into(frame, x[:, 2:4]),
            _rotate_into(frame, x[:, 4:6]),
            _rotate_into(frame, x[:, 6:8]),
            x[:, 8:BASE_NODE_FEATURES],
            x[:, BASE_NODE_FEATURES : BASE_NODE_FEATURES + obstacle_rays],
        ],
        dim=-1,
    )
    target_frame = frame.index_select(0, edge_index[1])
    offset = _rotate_into(target_frame, edge_attr[:, 0:2])
    gap = edge_attr[:, 4:5]
    edges = torch.cat(
        [offset, offset / gap.clamp_min(1e-6), _rotate_into(target_frame, edge_attr[:, 2:4]), gap],
        dim=-1,
    )
    return nodes, edges


def mean_and_max_pool(
    messages: torch.Tensor, target: torch.Tensor, like_nodes: torch.Tensor
) -> torch.Tensor:
    """``cat([scatter mean, scatter max])`` of ``messages`` per target node, 0 without messages.

    Args:
        messages: (E, C) per-edge messages.
        target: (E,) int64 receiving node of each message.
        like_nodes: any (N, ...) tensor; only its row count is used (keeps N dynamic in traces).
    """
    rows = like_nodes[:, :1]
    width = messages.shape[1]
    index = target.unsqueeze(-1).expand(-1, width)
    zeros = torch.zeros_like(rows).expand(-1, width)
    sums = zeros.scatter_add(0, index, messages)
    counts = torch.zeros_like(rows).scatter_add(
        0, target.unsqueeze(-1), torch.ones_like(messages[:, :1])
    )
    mean = sums / counts.clamp_min(1.0)
    lowest = torch.full_like(zeros, float("-inf"))
    largest = lowest.scatter_reduce(0, index, messages, reduce="amax", include_self=True)
    largest = torch.where(counts > 0, largest, zeros)
    return torch.cat([mean, largest], dim=-1)


@torch.onnx.symbolic_helper.parse_args("v", "i", "v", "v", "s", "b")
def scatter_max_symbolic(graph, data, dim, index, updates, reduce, include_self):
    """``scatter_reduce(..., "amax", include_self=True)`` as one ScatterElements node.

    The exporter's own translation wraps it in two rank-0 ``If`` branches whose declared shapes
    are wrong (onnxruntime warns on every run; TensorRT prefers graphs without ``If``).
    """
    if reduce != "amax" or not include_self:
        raise ValueError(f"scatter_reduce: only amax with include_self=True, got {reduce!r}")
    return graph.op("ScatterElements", data, index, updates, axis_i=dim, reduction_s="max")


class TunerMeanGraph(nn.Module):
    """The tuner's deterministic outputs from plain tensors, sharing ``net``'s weights."""

    def __init__(self, net: CbfTunerNet) -> None:
        super().__init__()
        self.net = net.eval()
        self.goal_scale = float(net.config.goal_scale)
        self.obstacle_rays = int(net.config.obstacle_rays)
        self.num_outputs = len(net.config.node_outputs)
        self.responsibility = bool(net.config.per_neighbour_responsibility)
        self.edge_hidden = int(net.config.edge_hidden)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.net
        nodes, edges = export_goal_frame_features(
            x, edge_index, edge_attr, self.goal_scale, self.obstacle_rays
        )
        embedding = net.node_encoder(nodes)
        target = edge_index[1]
        messages = net.message[1:](
            _split_linear(net.message[0], edges, embedding, target, EDGE_INPUTS)
        )
        pooled = mean_and_max_pool(messages, target, embedding)
        state = net.update(torch.cat([embedding, pooled], dim=-1))
        params = net.squash_node(net.node_head(state)[:, : self.num_outputs])
        if not self.responsibility:
            return params, edge_attr[:, 0] * 0.0  # shaped (E,): keeps the output list fixed
        hidden = _split_linear(net.edge_head[0], messages, state, target, self.edge_hidden)
        shares = net.squash_edge(net.edge_head[1:](hidden).squeeze(-1))
        return params, shares


def eager_mean_outputs(
    net: CbfTunerNet, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: the eager network's squashed mean outputs (torch-geometric scatter)."""
    with torch.no_grad():
        out = net(x, edge_index, edge_attr)
        params = net.squash_node(out.node_mean)
        if not net.config.per_neighbour_responsibility:
            return params, edge_attr[:, 0] * 0.0
        return params, net.squash_edge(out.edge_mean)


def random_graph(
    num_robots: int,
    seed: int,
    isolated: int = 1,
    sensing_radius: float = 2.0,
    obstacle_rays: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A realistic observation graph of ``num_robots`` robots from the environment's builder.

    Robots are scattered in a square sized so that most sense a few neighbours; the last
    ``isolated`` robots are moved far away, so they have no neighbour (no incoming edge).

    Returns:
        ``(x [N, 10 + obstacle_rays], edge_index [2, E], edge_attr [E, 5])``.
    """
    from fleetpilot.envs.graph import NeighbourGraphBuilder, compute_geometry

    generator = torch.Generator().manual_seed(seed)
    side = 1.5 * max(num_robots, 1) ** 0.5
    positions = (torch.rand(1, num_robots, 2, generator=generator) - 0.5) * side
    for offset in range(min(isolated, num_robots)):
        positions[0, num_robots - 1 - offset] = torch.tensor([100.0 + 10.0 * offset, 100.0])
    goals = positions + (torch.rand(1, num_robots, 2, generator=generator) - 0.5) * 8.0
    goals[0, 0] = positions[0, 0]  # one robot sits on its goal: the frame's fallback axis
    velocities = torch.rand(1, num_robots, 2, generator=generator) * 2.0 - 1.0
    headings = torch.rand(1, num_robots, generator=generator) * 6.28
    arrived = torch.zeros(1, num_robots, dtype=torch.bool)
    arrived[0, 0] = True
    obstacles = torch.tensor([[[0.5, 0.3, 0.4], [-1.0, 1.5, 0.3]]])
    geometry = compute_geometry(positions, obstacles, torch.ones(1, 2, dtype=torch.bool))
    builder = NeighbourGraphBuilder(
        1, num_robots, sensing_radius, torch.device("cpu"), obstacle_rays
    )
    batch = builder(geometry, positions, velocities, headings, goals, arrived)
    return batch.x, batch.edge_index, batch.edge_attr


CHECK_SIZES = (1, 3, 8, 16, 64)
"""Robot counts the exports are checked on (1: a graph with no edge at all)."""


def tuner_export_spec(net: CbfTunerNet, seed: int = 0) -> ExportSpec:
    """The tuner's mean graph, traced on 5 robots and checked on :data:`CHECK_SIZES`.

    The check compares against the eager network (torch-geometric aggregation), so the reported
    differences include the export path's own re-implementation error.
    """
    config = net.config
    return ExportSpec(
        module=TunerMeanGraph(net).eval(),
        stem="tuner",
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        dynamic_axes=DYNAMIC_AXES,
        trace_inputs=random_graph(5, seed=seed + 1000, obstacle_rays=config.obstacle_rays),
        check_inputs=[
            random_graph(size, seed=seed + size, obstacle_rays=config.obstacle_rays)
            for size in CHECK_SIZES
        ],
        opset=ONNX_OPSET,
        reference=partial(eager_mean_outputs, net),
        onnx_symbolics={"aten::scatter_reduce": scatter_max_symbolic},
        description={
            "type": "cbf_tuner_gnn",
            "inputs": {
                "x": ["robots", len(config.node_features)],
                "edge_index": [2, "edges"],
                "edge_attr": ["edges", len(EDGE_FEATURES)],
            },
            "outputs": {
                "params": ["robots", len(config.action_parameters)],
                "responsibility": ["edges"],
            },
            "node_outputs": list(config.action_parameters),
            "node_features": list(config.node_features),
            "edge_features": list(config.edge_features),
            "policy": "mean (no sampling noise)",
        },
    )
