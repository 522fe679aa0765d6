"""Fixed-size, translation-invariant observations for a learned nominal controller.

Per agent, in the world frame's axes but relative to the agent (no absolute position enters):

* goal offset ``goal - p`` (2), scaled by ``1 / scale``, its norm clipped to ``goal_clip``;
* own velocity ``v`` (2), scaled by ``1 / max_speed``;
* the ``k_neighbours`` nearest other agents within ``sensing_radius``: relative position (2,
  ``/ sensing_radius``), relative velocity (2, ``/ max_speed``), a valid flag (1);
* the ``k_obstacles`` nearest obstacles within ``sensing_radius``: offset to the centre (2,
  ``/ sensing_radius``), radius (1, ``/ sensing_radius``), a valid flag (1).

Missing neighbours or obstacles are zero rows with flag 0. The action paired with it is the
nominal planar velocity divided by the robot's max speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NavObservationConfig:
    """Shape of the nominal-controller observation.

    Attributes:
        k_neighbours: nearest agents described, >= 0.
        k_obstacles: nearest obstacles described, >= 0.
        scale: length unit of the goal offset [m].
        goal_clip: largest goal-offset norm after scaling.
        own_velocity: include the agent's own velocity (zeros when False: imitation copies
            the last executed action from it and stalls, the "copycat" problem).
    """

    k_neighbours: int = 4
    k_obstacles: int = 2
    scale: float = 2.0
    goal_clip: float = 3.0
    own_velocity: bool = True

    def __post_init__(self) -> None:
        for name in ("k_neighbours", "k_obstacles"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"NavObservationConfig.{name} must be an integer >= 0")
        if self.scale <= 0 or self.goal_clip <= 0:
            raise ValueError("NavObservationConfig.scale and goal_clip must be > 0")

    @property
    def obs_dim(self) -> int:
        """Length of one agent's observation vector."""
        return 4 + 5 * self.k_neighbours + 4 * self.k_obstacles


def _nearest(
    offsets: torch.Tensor, valid: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (B, N, k) of the k smallest-distance valid entries and their validity."""
    distance = torch.linalg.vector_norm(offsets, dim=-1).masked_fill(~valid, float("inf"))
    count = distance.shape[-1]
    if count < k:
        pad = distance.new_full((*distance.shape[:-1], k - count), float("inf"))
        distance = torch.cat([distance, pad], dim=-1)
    values, index = torch.topk(distance, k, dim=-1, largest=False)
    return index.clamp(max=max(count - 1, 0)), torch.isfinite(values)


def nav_observation(
    positions: torch.Tensor,
    velocities: torch.Tensor,
    goals: torch.Tensor,
    obstacles: torch.Tensor | None,
    obstacle_mask: torch.Tensor | None,
    sensing_radius: float,
    max_speed: float,
    config: NavObservationConfig,
) -> torch.Tensor:
    """The per-agent observation.

    Args:
        positions: (B, N, 2) float, world frame [m].
        velocities: (B, N, 2) float [m/s].
        goals: (B, N, 2) float, world frame [m].
        obstacles: (B, M, 3) float ``[x, y, r]`` [m], or None.
        obstacle_mask: (B, M) bool, real rows of ``obstacles``, or None.
        sensing_radius: neighbours and obstacles beyond it are not seen [m].
        max_speed: the robot's speed limit [m/s].
        config: the observation's shape.

    Returns:
        (B, N, config.obs_dim) float32.
    """
    B, N, _ = positions.shape
    goal = (goals - positions) / config.scale
    norm = torch.linalg.vector_norm(goal, dim=-1, keepdim=True).clamp_min(1e-9)
    goal = goal * torch.clamp(config.goal_clip / norm, max=1.0)
    own = velocities / max_speed if config.own_velocity else torch.zeros_like(velocities)
    parts = [goal, own]
    if config.k_neighbours:
        offsets = positions.unsqueeze(1) - positions.unsqueeze(2)  # (B, i, j, 2): p_j - p_i
        relvel = velocities.unsqueeze(1) - velocities.unsqueeze(2)
        eye = torch.eye(N, dtype=torch.bool, device=positions.device)
        valid = ~eye & (torch.linalg.vector_norm(offsets, dim=-1) <= sensing_radius)
        index, ok = _nearest(offsets, valid, config.k_neighbours)
        gather = index.unsqueeze(-1).expand(-1, -1, -1, 2)
        rel_p = torch.gather(offsets, 2, gather) / sensing_radius
        rel_v = torch.gather(relvel, 2, gather) / max_speed
        flag = ok.unsqueeze(-1).to(positions.dtype)
        parts.append((torch.cat([rel_p, rel_v, flag], dim=-1) * flag).flatten(2))
    if config.k_obstacles:
        if obstacles is None:
            parts.append(positions.new_zeros(B, N, 4 * config.k_obstacles))
        else:
            mask = (
                obstacle_mask
                if obstacle_mask is not None
                else torch.ones(obstacles.shape[:2], dtype=torch.bool, device=obstacles.device)
            )
            offsets = obstacles[:, None, :, :2] - positions.unsqueeze(2)  # (B, N, M, 2)
            gap = torch.linalg.vector_norm(offsets, dim=-1) - obstacles[:, None, :, 2]
            valid = mask.unsqueeze(1) & (gap <= sensing_radius)
            index, ok = _nearest(offsets, valid, config.k_obstacles)
            rel_p = torch.gather(offsets, 2, index.unsqueeze(-1).expand(-1, -1, -1, 2))
            radius = torch.gather(obstacles[:, None, :, 2].expand(B, N, -1), 2, index)
            flag = ok.unsqueeze(-1).to(positions.dtype)
            rows = torch.cat(
                [rel_p / sensing_radius, radius.unsqueeze(-1) / sensing_radius, flag], -1
            )
            parts.append((rows * flag).flatten(2))
    return torch.cat(parts, dim=-1).to(torch.float32)


def env_observation(env, config: NavObservationConfig) -> torch.Tensor:
    """:func:`nav_observation` of a :class:`~fleetpilot.envs.nav_env.NavEnv`'s current state."""
    return nav_observation(
        env.positions,
        env.velocities,
        env.goals,
        env.obstacles,
        env.obstacle_mask,
        env.sensing_radius,
        env.robot.max_speed,
        config,
    )
