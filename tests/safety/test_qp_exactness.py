"""The exact planar QP solvers against cvxpy, and numpy against torch."""

import cvxpy as cp
import numpy as np
import pytest
import torch

from fleetpilot.safety import SingleIntegratorCBF
from fleetpilot.safety.qp2d import solve_enumerated, solve_numpy, solve_torch

INSTANCES = 10_000
PER_PROBLEM = 1_000  # independent agents stacked into one separable cvxpy problem


def random_feasible_instances(rng, count):
    """QPs with 1..20 CBF-like rows plus a speed box, feasible by construction (u = 0 or a
    random interior point satisfies every row), nominal commands often outside."""
    rows = rng.integers(1, 21, count)
    K = 20 + 4
    A = np.zeros((count, K, 2))
    b = np.zeros((count, K))
    interior = rng.uniform(-0.3, 0.3, (count, 2))
    for i, k in enumerate(rows):
        A[i, :k] = rng.normal(size=(k, 2)) * rng.uniform(0.1, 5.0, (k, 1))
        b[i, :k] = A[i, :k] @ interior[i] - rng.exponential(0.3, k)
        A[i, k : k + 4] = [[1, 0], [-1, 0], [0, 1], [0, -1]]
        b[i, k : k + 4] = -1.0  # |u|_inf <= 1, active when the nominal is fast
    u0 = rng.normal(0.0, 1.5, (count, 2))
    return u0, A, b, rows + 4


def cvxpy_optimum(u0, A, b, counts):
    u = cp.Variable(u0.shape)
    constraints = [A[i, :c] @ u[i] >= b[i, :c] for i, c in enumerate(counts)]
    problem = cp.Problem(cp.Minimize(cp.sum_squares(u - u0)), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return u.value


def test_exact_solver_matches_cvxpy_on_10000_random_instances():
    rng = np.random.default_rng(3)
    for start in range(0, INSTANCES, PER_PROBLEM):
        u0, A, b, counts = random_feasible_instances(rng, PER_PROBLEM)
        u, feasible = solve_numpy(u0, A, b, counts)
        assert feasible.all()
        for i, c in enumerate(counts):
            violation = b[i, :c] - A[i, :c] @ u[i]
            assert violation.max() <= 1e-7, (start + i, violation.max())
        reference = cvxpy_optimum(u0, A, b, counts)
        ours = ((u - u0) ** 2).sum(1)
        theirs = ((reference - u0) ** 2).sum(1)
        # Ours is exact; a tiny cost below cvxpy's is its tolerance, never a worse optimum.
        assert np.all(ours <= theirs * (1 + 1e-6) + 1e-9), np.max(ours - theirs)


@pytest.mark.parametrize("solver", [solve_torch, solve_enumerated])
def test_torch_solvers_match_numpy(solver):
    """Both tensor paths, with inactive rows shuffled among the active ones."""
    rng = np.random.default_rng(4)
    u0, A, b, counts = random_feasible_instances(rng, 2000)
    mask = np.arange(A.shape[1])[None, :] < counts[:, None]
    u_np, ok_np = solve_numpy(u0, A, b, counts)
    shuffle = np.argsort(rng.random(mask.shape), axis=1)
    A_shuffled = np.take_along_axis(A, shuffle[..., None], axis=1)
    b_shuffled, mask_shuffled = (np.take_along_axis(x, shuffle, axis=1) for x in (b, mask))
    u_t, ok_t = solver(*(torch.tensor(x) for x in (u0, A_shuffled, b_shuffled, mask_shuffled)))
    assert (ok_t.numpy() == ok_np).all()
    np.testing.assert_allclose(u_t.numpy(), u_np, atol=1e-9)


@pytest.mark.parametrize("with_obstacles", [False, True])
def test_filter_rows_match_cvxpy_on_a_crowd(with_obstacles):
    """The whole filter (neighbour search + rows + solve) against cvxpy over the same rows."""
    rng = np.random.default_rng(5)
    n, D, R, vmax = 300, 0.4, 1.5, 1.0
    positions = rng.uniform(0, 12, (n, 2))
    keep = [0]
    for i in range(1, n):  # start from a safe state: every pair at least D apart
        if np.min(np.linalg.norm(positions[keep] - positions[i], axis=1)) >= D:
            keep.append(i)
    positions = positions[keep]
    n = len(positions)
    obstacles = np.array([[3.0, 3.0, 0.5], [8.0, 6.0, 0.8]]) if with_obstacles else None
    if with_obstacles:
        clear = np.linalg.norm(positions[:, None] - obstacles[None, :, :2], axis=-1) > (
            obstacles[:, 2] + D / 2
        )
        positions = positions[clear.all(1)]
        n = len(positions)
    u_nom = rng.normal(0, 1.0, (n, 2))
    alpha = rng.uniform(0.2, 5.0, n)
    cbf = SingleIntegratorCBF(D, R, vmax, dt=None, max_neighbors=n)
    u, status = cbf.filter(positions, u_nom, alpha=alpha, obstacles=obstacles)
    x = cp.Variable((n, 2))
    constraints = [cp.abs(x) <= vmax]
    for i in range(n):
        for j in range(n):
            d = positions[i] - positions[j]
            if i != j and np.linalg.norm(d) <= R:
                h = d @ d - D**2
                constraints.append(2 * d @ x[i] >= -alpha[i] / 2 * h)
                assert 2 * d @ u[i] >= -alpha[i] / 2 * h - 1e-7
        for cx, cy, r in obstacles if obstacles is not None else []:
            d = positions[i] - [cx, cy]
            if np.linalg.norm(d) - r <= R:
                h = d @ d - (D / 2 + r) ** 2
                constraints.append(2 * d @ x[i] >= -alpha[i] * h)
                assert 2 * d @ u[i] >= -alpha[i] * h - 1e-7
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - u_nom)), constraints)
    problem.solve(solver=cp.CLARABEL)
    assert np.abs(u).max() <= vmax + 1e-9
    ours = ((u - u_nom) ** 2).sum()
    assert ours == pytest.approx(problem.value, rel=1e-6, abs=1e-9)
    assert set(np.unique(status)) <= {0, 1}
