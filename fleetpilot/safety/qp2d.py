"""Exact solvers for the small planar QPs of the CBF filter, many at once.

Each agent i solves  min_u ||u - u0_i||^2  s.t.  A_ik . u >= b_ik  for its active rows k.
In two dimensions the optimum is u0 itself, the projection of u0 onto one constraint line, or
the intersection of two constraint lines; the solvers enumerate those candidates and keep the
cheapest feasible one. That is exact (no iterations, no tolerance-driven termination) and
vectorises: a compiled per-agent kernel for numpy (which the CPU filter uses, through
:mod:`.fused`), tensor enumeration for torch (the filter's accelerator path).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

FEASIBILITY_TOLERANCE = 1e-12
"""Largest constraint violation a candidate may have [same units as b] to count as feasible."""


@numba.njit(cache=True, nogil=True)
def _satisfies(A, b, count, x, y, tol):
    for k in range(count):
        if A[k, 0] * x + A[k, 1] * y < b[k] - tol:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _solve_one(u0x, u0y, A, b, count, tol):
    best_cost = np.inf
    best_x = 0.0
    best_y = 0.0
    # Candidate 0: the nominal command.
    if _satisfies(A, b, count, u0x, u0y, tol):
        return u0x, u0y, True
    # Candidates 1..K: projections onto a line that u0 violates. Every feasible point lies in
    # that half-plane, whose closest point to u0 is the projection, so a feasible projection
    # is the optimum (KKT also says a lone active row must be violated by u0).
    for k in range(count):
        norm2 = A[k, 0] * A[k, 0] + A[k, 1] * A[k, 1]
        step = (b[k] - A[k, 0] * u0x - A[k, 1] * u0y) / max(norm2, 1e-300)
        if norm2 <= 1e-300 or step <= 0.0:
            continue
        x = u0x + step * A[k, 0]
        y = u0y + step * A[k, 1]
        if _satisfies(A, b, count, x, y, tol):
            return x, y, True
    # Candidates: vertices where two constraint lines meet.
    for k in range(count):
        for m in range(k + 1, count):
            det = A[k, 0] * A[m, 1] - A[k, 1] * A[m, 0]
            if abs(det) <= 1e-12 * (abs(A[k, 0]) + abs(A[k, 1])) * (abs(A[m, 0]) + abs(A[m, 1])):
                continue
            x = (b[k] * A[m, 1] - A[k, 1] * b[m]) / det
            y = (A[k, 0] * b[m] - b[k] * A[m, 0]) / det
            cost = (x - u0x) ** 2 + (y - u0y) ** 2
            if cost < best_cost and _satisfies(A, b, count, x, y, tol):
                best_cost, best_x, best_y = cost, x, y
    return best_x, best_y, best_cost < np.inf


@numba.njit(cache=True, nogil=True)
def _solve_all(u0, A, b, counts, tol):
    n = u0.shape[0]
    u = np.zeros((n, 2))
    feasible = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        x, y, ok = _solve_one(u0[i, 0], u0[i, 1], A[i], b[i], counts[i], tol)
        u[i, 0] = x
        u[i, 1] = y
        feasible[i] = ok
    return u, feasible


def solve_numpy(
    u0: np.ndarray, A: np.ndarray, b: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solves N planar QPs with a compiled kernel.

    Args:
        u0: (N, 2) float64 nominal commands.
        A: (N, K, 2) float64 constraint normals; rows beyond ``counts[i]`` are ignored.
        b: (N, K) float64 right-hand sides.
        counts: (N,) int64 number of active rows per agent (active rows come first).

    Returns:
        u: (N, 2) minimisers (zeros where infeasible), feasible: (N,) bool.
    """
    return _solve_all(
        np.ascontiguousarray(u0, dtype=np.float64),
        np.ascontiguousarray(A, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64),
        np.ascontiguousarray(counts, dtype=np.int64),
        FEASIBILITY_TOLERANCE,
    )


def _pair_indices(rows: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    first, second = torch.triu_indices(rows, rows, offset=1, device=device)
    return first, second


def solve_enumerated(
    u0: torch.Tensor, A: torch.Tensor, b: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solves a batch of planar QPs by tensor enumeration of the candidate set (any device).

    Args:
        u0: (..., 2) nominal commands.
        A: (..., K, 2) constraint normals.
        b: (..., K) right-hand sides.
        mask: (..., K) bool, True for active rows.

    Returns:
        u: (..., 2) minimisers (zeros where infeasible), feasible: (...) bool.
    """
    # Inactive rows become 0 . u >= -1, always satisfied and never a candidate line.
    A = torch.where(mask.unsqueeze(-1), A, torch.zeros_like(A))
    b = torch.where(mask, b, torch.full_like(b, -1.0))
    norm2 = (A * A).sum(-1)
    slack0 = b - (A * u0.unsqueeze(-2)).sum(-1)  # (..., K) how far u0 is from each line
    projections = u0.unsqueeze(-2) + (slack0 / norm2.clamp_min(1e-300)).unsqueeze(-1) * A
    projection_valid = mask & (norm2 > 1e-300)
    first, second = _pair_indices(A.shape[-2], A.device)
    a1, a2 = A[..., first, :], A[..., second, :]
    b1, b2 = b[..., first], b[..., second]
    det = a1[..., 0] * a2[..., 1] - a1[..., 1] * a2[..., 0]
    scale = a1.abs().sum(-1) * a2.abs().sum(-1)
    vertex_valid = mask[..., first] & mask[..., second] & (det.abs() > 1e-12 * scale)
    safe_det = torch.where(vertex_valid, det, torch.ones_like(det))
    vertices = torch.stack(
        [
            (b1 * a2[..., 1] - a1[..., 1] * b2) / safe_det,
            (a1[..., 0] * b2 - b1 * a2[..., 0]) / safe_det,
        ],
        dim=-1,
    )
    candidates = torch.cat([u0.unsqueeze(-2), projections, vertices], dim=-2)  # (..., C, 2)
    valid = torch.cat([torch.ones_like(mask[..., :1]), projection_valid, vertex_valid], dim=-1)
    lhs = torch.einsum("...ck,...rk->...cr", candidates, A)
    feasible = valid & (lhs >= b.unsqueeze(-2) - FEASIBILITY_TOLERANCE).all(-1)
    cost = ((candidates - u0.unsqueeze(-2)) ** 2).sum(-1)
    cost = torch.where(feasible, cost, torch.full_like(cost, float("inf")))
    best = cost.argmin(-1, keepdim=True)
    u = torch.gather(candidates, -2, best.unsqueeze(-1).expand(*best.shape, 2)).squeeze(-2)
    any_feasible = feasible.any(-1)
    return torch.where(any_feasible.unsqueeze(-1), u, torch.zeros_like(u)), any_feasible
