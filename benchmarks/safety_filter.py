"""Speed of the safety filter: the batched exact filter against per-agent solver loops.

For N = 10, 100, 1,000 and 10,000 agents in a crowd (every agent at least D from every other,
one agent per ~1 m^2 and a 1.5 m sensing radius, so agents see ~7 neighbours; k <= 8 kept),
one run times, on one core:

* ``filter`` — the whole public call: input checks, neighbour search, rows, exact solve;
* ``filter_batch`` — the torch path on the same crowd (one environment);
* the OSQP loop — one warm-started raw OSQP workspace per row count, solving agent by agent
  over rows prepared beforehand (the solves alone, as the target states), at OSQP's usual
  working accuracy (eps 1e-5, no polishing);
* cvxpy — one parametrised problem per row count, re-solved agent by agent (a sample of agents;
  its cost per agent does not depend on N).

Every figure is microseconds per agent; speed-ups are ratios measured in the same run. The
filter's answers are checked against the OSQP loop's (max difference reported).

    .venv/bin/python benchmarks/safety_filter.py            # full run
    .venv/bin/python benchmarks/safety_filter.py --quick    # small sizes, few repeats

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cvxpy as cp
import numpy as np
import osqp
import torch
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.safety import SingleIntegratorCBF  # noqa: E402
from fleetpilot.safety import constraints as rows  # noqa: E402
from fleetpilot.safety.osqp_backend import OsqpLoop  # noqa: E402

SIZES = (10, 100, 1_000, 10_000)
SAFETY_DISTANCE, SENSING_RADIUS, MAX_SPEED, DT, MAX_NEIGHBOURS = 0.4, 1.5, 1.0, 0.05, 8
TARGET_SPEEDUP_VS_OSQP = 25.0
CVXPY_SAMPLE = 60
OSQP_EPS = 1e-5


def crowd(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points, pairwise >= D apart, about one per square metre."""
    side = np.sqrt(n)
    candidates = rng.uniform(0, side, (6 * n + 20, 2))
    tree = cKDTree(candidates)
    taken = np.zeros(len(candidates), bool)
    keep = []
    for i in range(len(candidates)):
        if taken[i]:
            continue
        keep.append(i)
        taken[tree.query_ball_point(candidates[i], SAFETY_DISTANCE)] = True
        if len(keep) == n:
            break
    if len(keep) < n:
        raise RuntimeError(f"could place only {len(keep)} of {n} agents")
    return candidates[keep]


def per_agent_us(function, n: int, repeats: int) -> float:
    function()  # warm-up (compilation, caches)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / n


def explicit_rows(cbf, positions, alpha):
    """The filter's rows as arrays (active rows first), as the OSQP loop consumes them."""
    n = len(positions)
    A_n, b_n, mask_n, _ = rows.neighbour_rows_numpy(
        positions, alpha, SAFETY_DISTANCE, SENSING_RADIUS, MAX_NEIGHBOURS
    )
    box_A, box_b = rows.box_rows_numpy(n, MAX_SPEED)
    A = np.concatenate([A_n, box_A], axis=1)
    b = np.concatenate([b_n, box_b], axis=1)
    mask = np.concatenate([mask_n, np.ones((n, 4), bool)], axis=1)
    order = np.argsort(~mask, axis=1, kind="stable")
    A = np.take_along_axis(A, order[..., None], axis=1)
    b = np.take_along_axis(b, order, axis=1)
    return A, b, mask.sum(1)


class CvxpyLoop:
    """One parametrised cvxpy problem per row count (the modelling-language baseline)."""

    def __init__(self) -> None:
        self.problems: dict[int, tuple] = {}

    def solve(self, u0, A, b, count) -> np.ndarray:
        if count not in self.problems:
            x = cp.Variable(2)
            u_param, A_param, b_param = (
                cp.Parameter(2),
                cp.Parameter((count, 2)),
                cp.Parameter(count),
            )
            problem = cp.Problem(
                cp.Minimize(cp.sum_squares(x - u_param)), [A_param @ x >= b_param]
            )
            self.problems[count] = (problem, x, u_param, A_param, b_param)
        problem, x, u_param, A_param, b_param = self.problems[count]
        u_param.value, A_param.value, b_param.value = u0, A[:count], b[:count]
        problem.solve(solver=cp.OSQP, eps_abs=1e-9, eps_rel=1e-9)
        return x.value


def measure(n: int, repeats: int, rng: np.random.Generator) -> dict:
    positions = crowd(n, rng)
    u_nom = rng.normal(0, 1.0, (n, 2))
    alpha = np.full(n, 1.0)
    cbf = SingleIntegratorCBF(
        SAFETY_DISTANCE, SENSING_RADIUS, MAX_SPEED, dt=DT, max_neighbors=MAX_NEIGHBOURS
    )
    u, status = cbf.filter(positions, u_nom, alpha)
    filter_us = per_agent_us(lambda: cbf.filter(positions, u_nom, alpha), n, repeats)

    pos_t, u_t = torch.tensor(positions)[None], torch.tensor(u_nom)[None]
    with torch.inference_mode():
        batch_us = per_agent_us(lambda: cbf.filter_batch(pos_t, u_t, 1.0), n, repeats)

    effective = rows.effective_alpha(alpha, DT)
    A, b, counts = explicit_rows(cbf, positions, effective)
    loop = OsqpLoop(eps=OSQP_EPS, polishing=False)
    u_osqp, _ = loop.solve(u_nom, A, b, counts)
    osqp_us = per_agent_us(lambda: loop.solve(u_nom, A, b, counts), n, max(1, repeats // 3))

    sample = rng.choice(n, size=min(n, CVXPY_SAMPLE), replace=False)
    cvx = CvxpyLoop()
    for i in sample[:3]:
        cvx.solve(u_nom[i], A[i], b[i], int(counts[i]))  # compile each row count once
    start = time.perf_counter()
    for i in sample:
        cvx.solve(u_nom[i], A[i], b[i], int(counts[i]))
    cvxpy_us = 1e6 * (time.perf_counter() - start) / len(sample)

    feasible = status <= 1
    return {
        "agents": n,
        "mean_neighbours": float(np.mean(counts - 4)),
        "filtered_share": float(np.mean(status == 1)),
        "filter_us_per_agent": filter_us,
        "filter_batch_us_per_agent": batch_us,
        "osqp_loop_us_per_agent": osqp_us,
        "cvxpy_us_per_agent": cvxpy_us,
        "speedup_vs_osqp": osqp_us / filter_us,
        "speedup_vs_cvxpy": cvxpy_us / filter_us,
        "max_abs_difference_vs_osqp": float(np.abs(u - u_osqp)[feasible].max()),
    }


def markdown(results: dict) -> str:
    lines = [
        "| N | neighbours (mean) | filter us/agent | filter_batch us/agent | OSQP loop us/agent "
        "| cvxpy us/agent | vs OSQP | vs cvxpy | max diff vs OSQP |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["sizes"]:
        lines.append(
            f"| {row['agents']:,} | {row['mean_neighbours']:.1f} | "
            f"{row['filter_us_per_agent']:.2f} | {row['filter_batch_us_per_agent']:.2f} | "
            f"{row['osqp_loop_us_per_agent']:.1f} | {row['cvxpy_us_per_agent']:.0f} | "
            f"{row['speedup_vs_osqp']:.0f}x | {row['speedup_vs_cvxpy']:.0f}x | "
            f"{row['max_abs_difference_vs_osqp']:.1e} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N <= 1,000, few repeats")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats (best kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    rng = np.random.default_rng(args.seed)
    sizes = SIZES[:3] if args.quick else SIZES
    repeats = 3 if args.quick else args.repeats
    results_by_size = []
    for n in sizes:
        results_by_size.append(measure(n, repeats, rng))
        print(f"N = {n}: done", file=sys.stderr)
    at_1000 = next(r for r in results_by_size if r["agents"] == 1_000)
    results = {
        "benchmark": "safety_filter",
        "quick": args.quick,
        "seed": args.seed,
        "safety_distance": SAFETY_DISTANCE,
        "sensing_radius": SENSING_RADIUS,
        "max_neighbors": MAX_NEIGHBOURS,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "osqp": osqp.__version__,
        "osqp_eps": OSQP_EPS,
        "cvxpy": cp.__version__,
        "torch": torch.__version__,
        "target_speedup_vs_osqp_at_1000": TARGET_SPEEDUP_VS_OSQP,
        "target_met": at_1000["speedup_vs_osqp"] >= TARGET_SPEEDUP_VS_OSQP,
        "sizes": results_by_size,
    }
    print(markdown(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
