"""A unicycle's own barrier rows for its axle, beside the rows of its filtered point.

The unicycle filter keeps the point l ahead of the axle D/2 + l from walls and obstacles,
which keeps the body clear only while those rows hold exactly. A robot reversing in a hard
turn moves the point away from a wall while its axle swings toward it, and within a tick the
straight-line model of the point's motion misses that. These rows bound the axle's own
approach: the axle moves at (c . u) c for the point velocity u and heading c, so for a wall
with inward normal n

    (n . c)(c . u) >= -alpha max(h, 0),   h = n . x - offset - clearance,

and for a disc obstacle ``2 ((x - o) . c)(c . u) >= -alpha max(|x - o|^2 - (r + clearance)^2, 0)``.
Inside the margin they only forbid closing in (right-hand side 0), so u = 0 always satisfies
them and they never make the QP infeasible.

Real robots do not stop within a tick: a robot backing toward a wall keeps moving for a few
ticks after its command turns. With the axle's measured velocity v, the barrier is also
evaluated where the axle will be after ``drift = reaction_time * v`` (h = min(h(x), h(x +
drift))), so a robot already closing in fast is stopped from closing in further before it
reaches the margin.
"""

from __future__ import annotations

import numpy as np
import torch

AXLE_OBSTACLES = 2
"""Obstacles per robot (the nearest to its axle) that get an axle row: a disc robot can touch
at most two of the shelf-sized circles at once, and rows cost O(rows^3) in the 2-D QP."""


def wall_rows_numpy(axles, forward, alpha, walls, clearance, drift=None):
    """Axle rows for every wall.

    Args:
        axles: (N, 2) axle positions [m]; forward: (N, 2) unit heading vectors c.
        alpha: (N,) effective class-K gains [1/s]; walls: (W, 3) [nx, ny, offset].
        clearance: [m]; drift: (N, 2) where the measured velocity takes the axle before the
            robot can react [m], or None.

    Returns:
        A (N, W, 2), b (N, W).
    """
    gap = axles @ walls[:, :2].T - walls[None, :, 2]
    if drift is not None:
        gap = np.minimum(gap, gap + drift @ walls[:, :2].T)
    A = (forward @ walls[:, :2].T)[..., None] * forward[:, None, :]
    b = -alpha[:, None] * np.maximum(gap - clearance, 0.0)
    return A, b


def wall_rows_torch(axles, forward, alpha, walls, clearance, drift=None):
    """:func:`wall_rows_numpy` for (B, N, 2) axles, headings and drift, (B, N) alpha."""
    walls = torch.as_tensor(walls, dtype=axles.dtype, device=axles.device)
    gap = axles @ walls[:, :2].T - walls[:, 2]
    if drift is not None:
        gap = torch.minimum(gap, gap + drift @ walls[:, :2].T)
    A = (forward @ walls[:, :2].T).unsqueeze(-1) * forward.unsqueeze(-2)
    b = -alpha.unsqueeze(-1) * (gap - clearance).clamp(min=0.0)
    return A, b


def obstacle_rows_numpy(axles, forward, alpha, obstacles, clearance, drift=None):
    """Axle rows for the :data:`AXLE_OBSTACLES` disc obstacles nearest each axle.

    Args:
        obstacles: (M, 3) [x, y, r], M >= 1; the rest as for :func:`wall_rows_numpy`.

    Returns:
        A (N, K, 2), b (N, K), K = min(AXLE_OBSTACLES, M).
    """
    count = min(AXLE_OBSTACLES, len(obstacles))
    offsets = axles[:, None, :] - obstacles[None, :, :2]
    centre_distance2 = (offsets**2).sum(-1)
    nearest = np.argsort(np.sqrt(centre_distance2) - obstacles[None, :, 2], axis=1, kind="stable")
    nearest = nearest[:, :count]
    offsets = np.take_along_axis(offsets, nearest[..., None], axis=1)
    reach2 = (clearance + obstacles[nearest, 2]) ** 2
    h = np.take_along_axis(centre_distance2, nearest, axis=1) - reach2
    if drift is not None:
        h = np.minimum(h, ((offsets + drift[:, None, :]) ** 2).sum(-1) - reach2)
    A = 2.0 * (offsets * forward[:, None, :]).sum(-1)[..., None] * forward[:, None, :]
    b = -alpha[:, None] * np.maximum(h, 0.0)
    return A, b


def obstacle_rows_torch(axles, forward, alpha, obstacles, clearance, drift=None):
    """:func:`obstacle_rows_numpy` for (B, N, 2) axles and (B, M, 3) obstacles, where rows
    of radius <= 0 are padding (their rows are always satisfied)."""
    count = min(AXLE_OBSTACLES, obstacles.shape[1])
    offsets = axles.unsqueeze(-2) - obstacles[:, None, :, :2]
    centre_distance2 = (offsets**2).sum(-1)
    radius = obstacles[..., 2].unsqueeze(1).expand_as(centre_distance2)
    real = radius > 0
    gaps = torch.where(real, centre_distance2.sqrt() - radius, float("inf"))
    nearest = gaps.argsort(dim=-1, stable=True)[..., :count]
    offsets = offsets.gather(-2, nearest.unsqueeze(-1).expand(*nearest.shape, 2))
    reach2 = (clearance + radius.gather(-1, nearest)) ** 2
    h = centre_distance2.gather(-1, nearest) - reach2
    if drift is not None:
        h = torch.minimum(h, ((offsets + drift.unsqueeze(-2)) ** 2).sum(-1) - reach2)
    along = (offsets * forward.unsqueeze(-2)).sum(-1)
    kept = real.gather(-1, nearest)
    A = torch.where(kept.unsqueeze(-1), 2.0 * along.unsqueeze(-1) * forward.unsqueeze(-2), 0.0)
    b = torch.where(kept, -alpha.unsqueeze(-1) * h.clamp(min=0.0), -1.0)
    return A, b
