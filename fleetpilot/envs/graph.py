"""Per-agent observations as neighbour graphs, built for all B x N agents without Python loops.

One torch-geometric ``Batch`` holds one graph per environment; node ``b * N + i`` is agent i of
environment b, so a GNN's (B * N, P) output reshapes straight into the (B, N, P) action. An
edge j -> i (``edge_index[:, e] = [b * N + j, b * N + i]``) exists when agent j is within the
sensing radius of agent i; messages therefore flow from neighbours to the agent that sees them.
Every feature is a difference of positions or a velocity, so observations do not change when
the whole world is translated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Batch

NODE_FEATURES = (
    "goal_dx",  # goal - own position [m]
    "goal_dy",
    "velocity_x",  # own velocity over the last step [m/s]
    "velocity_y",
    "heading_cos",  # own heading (single integrators: direction of the last motion)
    "heading_sin",
    "obstacle_dx",  # own centre -> nearest point of the nearest obstacle in range [m]
    "obstacle_dy",
    "obstacle_seen",  # 1 when an obstacle surface is within the sensing radius, else 0
    "arrived",  # 1 once the agent has reached its goal
)
EDGE_FEATURES = (
    "dx",  # neighbour position - own position [m]
    "dy",
    "dvx",  # neighbour velocity - own velocity [m/s]
    "dvy",
    "distance",  # centre distance [m]
)


@dataclass(frozen=True)
class Geometry:
    """Pairwise geometry of one tick, computed once and shared by observations and metrics.

    Attributes:
        distances: (B, N, N) float centre distances [m] (the diagonal is +inf).
        obstacle_offsets: (B, N, M, 2) float, obstacle centre - agent centre [m].
        obstacle_gaps: (B, N, M) float, agent centre to obstacle surface [m] (+inf for padding).
    """

    distances: torch.Tensor
    obstacle_offsets: torch.Tensor
    obstacle_gaps: torch.Tensor


def compute_geometry(
    positions: torch.Tensor, obstacles: torch.Tensor, obstacle_mask: torch.Tensor
) -> Geometry:
    """Pairwise offsets and distances.

    Args:
        positions: (B, N, 2) float agent centres [m].
        obstacles: (B, M, 3) float [x, y, r] [m].
        obstacle_mask: (B, M) bool, False for padding rows.
    """
    x, y = positions[..., 0], positions[..., 1]
    # hypot is elementwise; a norm over a length-2 axis is a slow generic reduction.
    distances = torch.hypot(x.unsqueeze(1) - x.unsqueeze(2), y.unsqueeze(1) - y.unsqueeze(2))
    distances.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    obstacle_offsets = obstacles[:, None, :, :2] - positions[:, :, None, :]
    gaps = torch.hypot(obstacle_offsets[..., 0], obstacle_offsets[..., 1])
    gaps = gaps - obstacles[:, None, :, 2]
    gaps = gaps.masked_fill(~obstacle_mask[:, None, :], float("inf"))
    return Geometry(distances, obstacle_offsets, gaps)


class NeighbourGraphBuilder:
    """Builds observations for a fixed B x N, with the pair index tables computed once.

    Args:
        num_envs: B.
        num_agents: N.
        sensing_radius: neighbours and obstacle surfaces farther than this are unseen [m].
        device: where the tables live.
    """

    def __init__(
        self, num_envs: int, num_agents: int, sensing_radius: float, device: torch.device
    ) -> None:
        self.num_envs, self.num_agents = num_envs, num_agents
        self.sensing_radius = sensing_radius
        nodes = torch.arange(num_envs * num_agents, device=device)
        # For the flat pair index f = (b * N + i) * N + j: node b * N + i and node b * N + j.
        self._pair_target = nodes.repeat_interleave(num_agents)
        self._pair_source = (
            (nodes.view(num_envs, 1, num_agents))
            .expand(num_envs, num_agents, num_agents)
            .reshape(-1)
        )
        self._env_starts = torch.arange(num_envs + 1, device=device) * num_agents * num_agents
        self._node_ptr = torch.arange(num_envs + 1, device=device) * num_agents
        self._node_batch = torch.arange(num_envs, device=device).repeat_interleave(num_agents)
        self._zeros = torch.zeros(num_envs, dtype=torch.long, device=device)

    def __call__(
        self,
        geometry: Geometry,
        positions: torch.Tensor,
        velocities: torch.Tensor,
        headings: torch.Tensor,
        goals: torch.Tensor,
        arrived: torch.Tensor,
    ) -> Batch:
        """The observation of every agent of every environment.

        Args:
            geometry: this tick's pairwise geometry (see :func:`compute_geometry`).
            positions: (B, N, 2) float [m].
            velocities: (B, N, 2) float [m/s].
            headings: (B, N) float [rad].
            goals: (B, N, 2) float [m].
            arrived: (B, N) bool.

        Returns:
            Batch with ``x`` (B*N, len(NODE_FEATURES)), ``edge_index`` (2, E) long,
            ``edge_attr`` (E, len(EDGE_FEATURES)), ``batch`` (B*N,) and ``ptr`` (B+1,); one
            graph per environment (``to_data_list`` works).
        """
        num_envs, count = self.num_envs, self.num_agents
        dtype, device = positions.dtype, positions.device

        nearest_gap, nearest = geometry.obstacle_gaps.min(dim=-1, keepdim=True)  # (B, N, 1)
        seen = nearest_gap <= self.sensing_radius
        centre_offset = torch.gather(
            geometry.obstacle_offsets, 2, nearest.unsqueeze(-1).expand(-1, -1, -1, 2)
        ).squeeze(2)
        centre_distance = torch.hypot(centre_offset[..., :1], centre_offset[..., 1:])
        surface = centre_offset * (nearest_gap / centre_distance.clamp_min(1e-9))
        surface = torch.where(seen, surface, torch.zeros_like(surface))
        nodes = torch.cat(
            [
                goals - positions,
                velocities,
                torch.cos(headings).unsqueeze(-1),
                torch.sin(headings).unsqueeze(-1),
                surface,
                seen.to(dtype),
                arrived.unsqueeze(-1).to(dtype),
            ],
            dim=-1,
        ).reshape(num_envs * count, len(NODE_FEATURES))

        pairs = torch.nonzero((geometry.distances <= self.sensing_radius).view(-1)).squeeze(1)
        target = self._pair_target.index_select(0, pairs)
        source = self._pair_source.index_select(0, pairs)
        flat_positions, flat_velocities = positions.reshape(-1, 2), velocities.reshape(-1, 2)
        edge_attr = torch.empty((len(pairs), len(EDGE_FEATURES)), dtype=dtype, device=device)
        torch.sub(
            flat_positions.index_select(0, source),
            flat_positions.index_select(0, target),
            out=edge_attr[:, 0:2],
        )
        torch.sub(
            flat_velocities.index_select(0, source),
            flat_velocities.index_select(0, target),
            out=edge_attr[:, 2:4],
        )
        edge_attr[:, 4] = geometry.distances.reshape(-1).index_select(0, pairs)
        edge_ptr = torch.searchsorted(pairs, self._env_starts)  # pairs are sorted

        batch = Batch(
            x=nodes,
            edge_index=torch.stack([source, target]),
            edge_attr=edge_attr,
            batch=self._node_batch,
            ptr=self._node_ptr,
        )
        # What Batch.from_data_list records, so that to_data_list() and get_example() work.
        batch._num_graphs = num_envs
        batch._slice_dict = {"x": self._node_ptr, "edge_index": edge_ptr, "edge_attr": edge_ptr}
        batch._inc_dict = {
            "x": self._zeros,
            "edge_index": self._node_ptr[:-1],
            "edge_attr": self._zeros,
        }
        return batch
