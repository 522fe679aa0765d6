"""The exact planar QP solvers against cvxpy, and numpy against torch."""

import cvxpy as cp
import numpy as np
import pytest
import torch

from fleetpilot.safety import SingleIntegratorCBF
from fleetpilot.safety.qp2d import solve_enumerated, solve_numpy

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


def test_torch_solver_matches_numpy():
    """Both tensor paths, with inactive rows shuffled among the active ones."""
    rng = np.random.default_rng(4)
    u0, A, b, counts = random_feasible_instances(rng, 2000)
    mask = np.arange(A.shape[1])[None, :] < counts[:, None]
    u_np, ok_np = solve_numpy(u0, A, b, counts)
    shuffle = np.argsort(rng.random(mask.shape), axis=1)
    A_shuffled = np.take_along_axis(A, shuffle[..., None], axis=1)
    b_shuffled, mask_shuffled = (np.take_along_axis(x, shuffle, axis=1) for x in (b, mask))
    u_t, ok_t = solve_enumerated(
        *(torch.tensor(x) for x in (u0, A_shuffled, b_shuffled, mask_shuffled))
    )
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


@pytest.mark.parametrize("seed", range(4))
def test_fused_pass_matches_explicit_rows(seed):
    """The compiled pass (spatial hash, rows, solve, relaxation) gives what the explicit row
    arrays (KD-tree neighbours) give, overlaps, obstacles and responsibilities included."""
    from fleetpilot.safety import constraints as rows
    from fleetpilot.safety.fused import filter_points

    rng = np.random.default_rng(seed)
    n = 400
    positions = rng.uniform(-6, 6, (n, 2))  # dense: some pairs overlap (relaxed, braking)
    u_nom = rng.normal(0, 1.0, (n, 2))
    alpha = rng.uniform(0.0, 8.0, n)
    obstacles = np.c_[rng.uniform(-6, 6, (5, 2)), rng.uniform(0.2, 1.0, 5)]
    responsibility = rng.uniform(0.5, 1.0, (n, n)) if seed % 2 else None
    cbf = SingleIntegratorCBF(0.4, 1.2, 1.0, max_neighbors=6)
    box = rows.box_rows_numpy(n, 1.0)
    args = (positions, u_nom, alpha, obstacles, 0.4, 0.2, box, responsibility)
    expected = cbf._solve_rows(*args, solve=solve_numpy)
    fused = filter_points(
        positions, u_nom, alpha, 0.4, 1.2, 6, responsibility, obstacles, 0.2, box
    )
    np.testing.assert_allclose(fused[0], expected[0], atol=1e-12)
    for got, want in zip(fused[1:], expected[1:], strict=True):
        np.testing.assert_array_equal(got, want)
    assert len(set(fused[1])) >= 3  # the instance exercises filtered, relaxed and braking paths


def test_batched_compiled_pass_matches_dense_tensor_path():
    """filter_batch on the CPU (compiled, grouped) equals the dense tensor path used on
    accelerators: B worlds that never see each other, inactive agents, padded obstacles."""
    rng = np.random.default_rng(9)
    B, N = 6, 24
    positions = torch.tensor(rng.uniform(-3, 3, (B, N, 2)))
    positions[1] = positions[0]  # identical worlds side by side must not interact
    u_nom = torch.tensor(rng.normal(0, 1, (B, N, 2)))
    alpha = torch.tensor(rng.uniform(0.1, 5.0, (B, N)))
    active = torch.tensor(rng.random((B, N)) > 0.15)
    obstacles = torch.tensor(np.c_[rng.uniform(-3, 3, (B * 3, 2)), rng.uniform(-0.5, 0.8, B * 3)])
    obstacles = obstacles.reshape(B, 3, 3)  # radius <= 0 rows are padding
    responsibility = torch.tensor(rng.uniform(0.5, 1.0, (B, N, N)))
    cbf = SingleIntegratorCBF(0.4, 1.5, 1.0, dt=0.05, max_neighbors=10)
    u, status = cbf.filter_batch(positions, u_nom, alpha, obstacles, active, responsibility)
    box = (
        torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]).expand(B, N, 4, 2),
        torch.full((B, N, 4), -1.0, dtype=torch.float64),
    )
    u_dense, status_dense = cbf._dense_torch(
        positions, u_nom, alpha.clamp(max=20.0), obstacles, active, 0.4, 0.2, box, responsibility
    )
    np.testing.assert_allclose(u.numpy(), u_dense.numpy(), atol=1e-9)
    assert torch.equal(status, status_dense)
    assert (u[~active] == 0).all()
    alone, _ = cbf.filter_batch(
        positions[1:2], u_nom[1:2], alpha[1:2], obstacles[1:2], active[1:2], responsibility[1:2]
    )
    torch.testing.assert_close(alone[0], u[1], rtol=0, atol=0)  # world 0 never leaks in
