"""Per-agent observations as neighbour graphs, built for all B x N agents without Python loops.

One torch-geometric ``Batch`` holds one graph per environment; node ``b * N + i`` is agent i of
environment b, so a GNN's (B * N, P) output reshapes straight into the (B, N, P) action. An
edge j -> i (``edge_index[:, e] = [b * N + j, b * N + i]``) exists when agent j is within the
sensing radius of agent i; messages therefore flow from neighbours to the agent that sees them.
Every feature is a difference of positions or a velocity, so observations do not change when
the whole world is translated. Optionally each agent also gets a coarse range scan of the
obstacles around it (:func:`obstacle_ray_ranges`), in the frame of its goal direction.
"""

from __future__ import annotations

import math
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
RAY_FEATURE = "free_range_{}"
"""Name of ray k's node feature (ray 0 toward the goal, counter-clockwise)."""


def node_feature_names(obstacle_rays: int = 0) -> tuple[str, ...]:
    """:data:`NODE_FEATURES`, then one free range per obstacle ray."""
    return NODE_FEATURES + tuple(RAY_FEATURE.format(k) for k in range(obstacle_rays))


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


def goal_frame(goal_offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors (..., 2) toward the goal, and the distances (..., 1) to it, from goal
    offsets (..., 2). At the goal the direction is undefined; any fixed axis (+x) will do."""
    distance = torch.hypot(goal_offsets[..., 0], goal_offsets[..., 1]).unsqueeze(-1)
    fallback = torch.zeros_like(goal_offsets)
    fallback[..., 0] = 1.0
    return torch.where(
        distance > 1e-6, goal_offsets / distance.clamp_min(1e-6), fallback
    ), distance


def obstacle_ray_ranges(
    geometry: Geometry,
    positions: torch.Tensor,
    goals: torch.Tensor,
    ray_range: float,
    count: int,
) -> torch.Tensor:
    """A coarse range scan of the obstacle discs: ``count`` rays per agent, evenly spaced,
    ray 0 along the goal direction (any fixed axis at the goal), counter-clockwise.

    The nearest obstacle point alone does not show where a wall ends: an agent pushed against
    a wall beside a door sees the wall, never the door. The scan does, as a ray whose range
    jumps to the scan's reach.

    Args:
        ray_range: the scan's reach [m] (the sensing radius unless the tuner says otherwise).

    Returns:
        (B, N, count) free range along each ray divided by ``ray_range``, in [0, 1]
        (1: nothing within ``ray_range``; 0: the agent's centre is inside a disc).
    """
    offsets = geometry.obstacle_offsets  # (B, N, M, 2) obstacle centre - agent centre
    centre = torch.hypot(offsets[..., 0], offsets[..., 1])
    radius = centre - geometry.obstacle_gaps  # -inf on padding rows
    frame, _ = goal_frame(goals - positions)
    angles = torch.arange(count, dtype=positions.dtype, device=positions.device)
    angles = angles * (2 * math.pi / count)
    cos, sin = torch.cos(angles), torch.sin(angles)
    ray_x = frame[..., :1] * cos - frame[..., 1:] * sin  # (B, N, count)
    ray_y = frame[..., :1] * sin + frame[..., 1:] * cos
    along = offsets[..., :1] * ray_x.unsqueeze(2) + offsets[..., 1:] * ray_y.unsqueeze(2)
    across2 = centre.unsqueeze(-1) ** 2 - along**2  # (B, N, M, count)
    radius2 = radius.clamp_min(0.0).unsqueeze(-1) ** 2
    half_chord = torch.sqrt((radius2 - across2).clamp_min(0.0))
    # A hit where the ray's line crosses the disc and its far crossing lies ahead (a centre
    # inside a disc is blocked on every ray).
    hit = (across2 < radius2) & (along + half_chord > 0) & (radius.unsqueeze(-1) > 0)
    entry = (along - half_chord).clamp_min(0.0)
    entry = torch.where(hit, entry, torch.full_like(entry, ray_range))
    return entry.amin(dim=2).clamp(max=ray_range) / ray_range


def check_ray_range(ray_range: float | None) -> float | None:
    """``ray_range`` if it is None or a positive finite number; a clear error otherwise."""
    if ray_range is None:
        return None
    number = isinstance(ray_range, int | float) and not isinstance(ray_range, bool)
    if not (number and math.isfinite(ray_range) and ray_range > 0):
        raise ValueError(f"obstacle_ray_range: expected a positive number, got {ray_range!r}")
    return float(ray_range)


class NeighbourGraphBuilder:
    """Builds observations for a fixed B x N, with the pair index tables computed once.

    Args:
        num_envs: B.
        num_agents: N.
        sensing_radius: neighbours and obstacle surfaces farther than this are unseen [m].
        device: where the tables live.
        obstacle_rays: rays of the obstacle scan appended to each node
            (:func:`obstacle_ray_ranges`); 0 for none.
        obstacle_ray_range: reach of that scan [m]; None for ``sensing_radius``.
    """

    def __init__(
        self,
        num_envs: int,
        num_agents: int,
        sensing_radius: float,
        device: torch.device,
        obstacle_rays: int = 0,
        obstacle_ray_range: float | None = None,
    ) -> None:
        if not isinstance(obstacle_rays, int) or obstacle_rays < 0:
            raise ValueError(f"obstacle_rays: expected an integer >= 0, got {obstacle_rays!r}")
        self.num_envs, self.num_agents = num_envs, num_agents
        self.sensing_radius = sensing_radius
        self.obstacle_rays = obstacle_rays
        self.ray_range = check_ray_range(obstacle_ray_range) or sensing_radius
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
            Batch with ``x`` (B*N, len(node_feature_names(obstacle_rays))), ``edge_index``
            (2, E) long, ``edge_attr`` (E, len(EDGE_FEATURES)), ``batch`` (B*N,) and ``ptr``
            (B+1,); one graph per environment (``to_data_list`` works).
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
        parts = [
            goals - positions,
            velocities,
            torch.cos(headings).unsqueeze(-1),
            torch.sin(headings).unsqueeze(-1),
            surface,
            seen.to(dtype),
            arrived.unsqueeze(-1).to(dtype),
        ]
        if self.obstacle_rays:
            parts.append(
                obstacle_ray_ranges(
                    geometry, positions, goals, self.ray_range, self.obstacle_rays
                ).to(dtype)
            )
        nodes = torch.cat(parts, dim=-1).reshape(num_envs * count, -1)

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
