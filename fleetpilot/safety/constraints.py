"""The CBF constraint rows of every agent's QP, built in one vectorised pass (numpy or torch).

Row convention: ``A[i, k] . u_i >= b[i, k]``. For agent i and neighbour j (within the sensing
radius, nearest ``max_neighbors`` kept) with p_ij = p_i - p_j and h_ij = |p_ij|^2 - D^2:

    2 p_ij . u_i >= -(1 - rho_ij) * alpha_i * h_ij

where rho_ij in [1/2, 1] is agent i's responsibility for the pair (default 1/2: half each).
Each agent picks its own rho without asking the other; because both are >= 1/2 the two decay
budgets (1 - rho_ij) + (1 - rho_ji) never exceed 1, so the pair's full condition
2 p_ij . (u_i - u_j) >= -alpha h_ij (alpha the larger of the two) holds whatever they choose.
rho = 1 means "I yield entirely": agent i does not close in on j at all.

and for an obstacle (c, r) with h = |p_i - c|^2 - (D/2 + r)^2:  2 (p_i - c) . u_i >= -alpha_i h.

Discrete time (``dt`` set): alpha is capped at 1/dt. Under single-integrator motion over one
tick, h(s) = h + 2 s p_ij.du + s^2 |du|^2 >= h + 2 s p_ij.du, a bound linear in s. When both
agents hold their halves, 2 p_ij.du >= -alpha h, so the bound at s = dt is (1 - alpha dt) h,
which is >= 0 for alpha <= 1/dt; a linear function that is >= 0 at both ends of [0, dt] is
>= 0 in between, so the distance stays >= D during the whole tick, not only at the ticks.
The same argument holds for obstacles.

Numerical contact: agents pressing against each other converge to h = 0, where the solver's
feasibility tolerance (1e-9) can leave h at -1e-10. Barriers in [-CONTACT_TOLERANCE, 0) count
as contact (h = 0: "do not close in"), not as violations, so such agents stay FILTERED and
distances stay within ~1e-8 m of D instead of triggering the relaxed problem.

This discrete-time condition is exact for a zero-order hold, costs nothing (no extra
constraint) and reduces to the continuous one as dt -> 0.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

MIN_RESPONSIBILITY = 0.5
"""Smallest responsibility an agent may take for a pair; two halves make the full condition."""


CONTACT_TOLERANCE = 1e-8
"""Barriers h in [-CONTACT_TOLERANCE, 0) [m^2] are round-off at contact and treated as 0."""


def _contact(h):
    """h with numerical-contact values snapped to 0 (numpy or torch)."""
    return h.clip(min=0.0) * (h >= -CONTACT_TOLERANCE) + h * (h < -CONTACT_TOLERANCE)


def effective_alpha(alpha, dt: float | None):
    """alpha capped at 1/dt (discrete-time condition); unchanged when dt is None."""
    if dt is None:
        return alpha
    if isinstance(alpha, torch.Tensor):
        return alpha.clamp(max=1.0 / dt)
    return np.minimum(alpha, 1.0 / dt)


def decay_share_numpy(responsibility: np.ndarray | None, index: np.ndarray) -> np.ndarray | float:
    """1 - rho_ij for each agent's kept neighbours (index (N, K), padded with any valid id)."""
    if responsibility is None:
        return 1.0 - MIN_RESPONSIBILITY
    return 1.0 - np.take_along_axis(responsibility, index, axis=1)


def box_rows_numpy(n: int, max_speed: float) -> tuple[np.ndarray, np.ndarray]:
    """|u_x|, |u_y| <= max_speed as 4 rows per agent: (N, 4, 2), (N, 4)."""
    normals = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    return np.broadcast_to(normals, (n, 4, 2)).copy(), np.full((n, 4), -max_speed)


def neighbour_rows_numpy(
    points: np.ndarray,
    alpha: np.ndarray,
    distance: float,
    sensing_radius: float,
    max_neighbors: int,
    responsibility: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour rows from a KD-tree query (N log N); ``responsibility`` is (N, N) or None.

    Returns A (N, K, 2), b (N, K), mask (N, K), barrier h (N, K) (inf where masked).
    """
    n = len(points)
    k = min(max_neighbors, max(n - 1, 0))
    if k == 0:
        return np.zeros((n, 0, 2)), np.zeros((n, 0)), np.zeros((n, 0), bool), np.zeros((n, 0))
    _, index = cKDTree(points).query(points, k=k + 1, distance_upper_bound=sensing_radius)
    index = index[:, 1:]  # the nearest hit is the agent itself
    mask = index < n
    safe_index = np.where(mask, index, 0)
    offsets = points[:, None, :] - points[safe_index]
    h = (offsets**2).sum(-1) - distance**2
    A = np.where(mask[..., None], 2.0 * offsets, 0.0)
    share = decay_share_numpy(responsibility, safe_index)
    b = np.where(mask, -share * alpha[:, None] * _contact(h), -1.0)
    return A, b, mask, np.where(mask, h, np.inf)


def obstacle_rows_numpy(
    points: np.ndarray,
    alpha: np.ndarray,
    obstacles: np.ndarray,
    clearance: float,
    sensing_radius: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows for every obstacle whose surface is within the sensing radius: (N, M, ...)."""
    offsets = points[:, None, :] - obstacles[None, :, :2]
    centre_distance2 = (offsets**2).sum(-1)
    reach = clearance + obstacles[None, :, 2]
    h = centre_distance2 - reach**2
    mask = np.sqrt(centre_distance2) - obstacles[None, :, 2] <= sensing_radius
    A = np.where(mask[..., None], 2.0 * offsets, 0.0)
    b = np.where(mask, -alpha[:, None] * _contact(h), -1.0)
    return A, b, mask, np.where(mask, h, np.inf)


def neighbour_rows_torch(
    points: torch.Tensor,
    alpha: torch.Tensor,
    active: torch.Tensor,
    distance: float,
    sensing_radius: float,
    max_neighbors: int,
    responsibility: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-environment neighbour rows for (B, N, 2) points; agents of different envs never meet.
    ``responsibility`` is (B, N, N) or None (1/2 everywhere)."""
    B, N, _ = points.shape
    k = min(max_neighbors, max(N - 1, 0))
    offsets_all = points.unsqueeze(2) - points.unsqueeze(1)  # (B, N, N, 2): p_i - p_j
    dist2 = (offsets_all**2).sum(-1)
    eye = torch.eye(N, dtype=torch.bool, device=points.device)
    visible = (dist2 <= sensing_radius**2) & ~eye & active.unsqueeze(1) & active.unsqueeze(2)
    ranked = torch.where(visible, dist2, torch.full_like(dist2, float("inf")))
    nearest, index = ranked.topk(k, dim=-1, largest=False)  # (B, N, K)
    mask = torch.isfinite(nearest)
    offsets = torch.gather(offsets_all, 2, index.unsqueeze(-1).expand(B, N, k, 2))
    h = nearest - distance**2
    A = torch.where(mask.unsqueeze(-1), 2.0 * offsets, torch.zeros_like(offsets))
    share = (
        1.0 - MIN_RESPONSIBILITY
        if responsibility is None
        else 1.0 - torch.gather(responsibility, 2, index)
    )
    b = torch.where(mask, -share * alpha.unsqueeze(-1) * _contact(h), torch.full_like(h, -1.0))
    return A, b, mask, torch.where(mask, h, torch.full_like(h, float("inf")))


def obstacle_rows_torch(
    points: torch.Tensor,
    alpha: torch.Tensor,
    obstacles: torch.Tensor,
    clearance: float,
    sensing_radius: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Obstacle rows for (B, N, 2) points and (B, M, 3) obstacles (radius <= 0 = padding)."""
    offsets = points.unsqueeze(2) - obstacles[:, None, :, :2]
    centre_distance2 = (offsets**2).sum(-1)
    radius = obstacles[:, None, :, 2]
    h = centre_distance2 - (clearance + radius) ** 2
    mask = (radius > 0) & (centre_distance2.sqrt() - radius <= sensing_radius)
    A = torch.where(mask.unsqueeze(-1), 2.0 * offsets, torch.zeros_like(offsets))
    b = torch.where(mask, -alpha.unsqueeze(-1) * _contact(h), torch.full_like(h, -1.0))
    return A, b, mask, torch.where(mask, h, torch.full_like(h, float("inf")))


def arena_walls(arena) -> np.ndarray:
    """(x_min, y_min, x_max, y_max) [m] -> its four walls as half-planes (4, 3)
    [nx, ny, offset], unit normals pointing inside (inside: n . p >= offset)."""
    x_min, y_min, x_max, y_max = (float(v) for v in arena)
    return np.array(
        [[1.0, 0.0, x_min], [-1.0, 0.0, -x_max], [0.0, 1.0, y_min], [0.0, -1.0, -y_max]]
    )


def wall_rows_numpy(points, alpha, walls, clearance, sensing_radius):
    """Rows ``n . u >= -alpha (n . p - offset - clearance)`` for walls within the sensing
    radius: (N, W, ...). The barrier is linear in p (metres), so the discrete-time bound is
    exact: h after one tick is h + dt n . u >= (1 - alpha dt) h."""
    gap = points @ walls[:, :2].T - walls[None, :, 2]
    h = gap - clearance
    mask = gap <= sensing_radius
    A = np.where(mask[..., None], np.broadcast_to(walls[None, :, :2], (*gap.shape, 2)), 0.0)
    b = np.where(mask, -alpha[:, None] * _contact(h), -1.0)
    return A, b, mask, np.where(mask, h, np.inf)


def wall_rows_torch(points, alpha, walls, clearance, sensing_radius):
    """:func:`wall_rows_numpy` for (B, N, 2) points and (W, 3) walls."""
    walls = torch.as_tensor(walls, dtype=points.dtype, device=points.device)
    gap = points @ walls[:, :2].T - walls[:, 2]
    h = gap - clearance
    mask = gap <= sensing_radius
    A = torch.where(mask.unsqueeze(-1), walls[:, :2].expand(*gap.shape, 2), 0.0)
    b = torch.where(mask, -alpha.unsqueeze(-1) * _contact(h), torch.full_like(h, -1.0))
    return A, b, mask, torch.where(mask, h, torch.full_like(h, float("inf")))
