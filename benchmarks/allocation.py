"""Task-allocation benchmark: every allocator on static, dynamic, zero-shot and timing targets.

One command, all methods in one run::

    python benchmarks/allocation.py            # full (several minutes on 2 cores)
    python benchmarks/allocation.py --quick    # smoke run (seconds)

Writes a JSON file and prints a Markdown table. Timings are single-thread (torch and BLAS) and
also reported as ratios to the optimal solver on 100x100 measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

# One CPU core for every method (set before numpy / torch start their thread pools).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fleetpilot.allocation import assignment_cost, check_assignment, make_allocator  # noqa: E402
from fleetpilot.allocation.auction_decoding import auction_decode  # noqa: E402
from fleetpilot.allocation.env import AllocationEnv, make_env_config  # noqa: E402
from fleetpilot.allocation.evaluation import run_episode  # noqa: E402
from fleetpilot.allocation.greedy import greedy_order_assign  # noqa: E402
from fleetpilot.allocation.policy import TwoStagePolicy  # noqa: E402
from fleetpilot.allocation.registry import make_dynamic_allocator  # noqa: E402
from fleetpilot.allocation.static_instances import euclidean_instance  # noqa: E402

# exact-step: the step's coalition formation solved exactly (integer program), a myopic
# reference planner rather than a competitor for the speed target.
DYNAMIC_METHODS = ("greedy", "auction", "two-stage", "exact-step")
# Ablation: the shipped architecture with the weights its training started from (same seed),
# to show what the RL training adds to the network's built-in prior.
INITIAL_WEIGHTS = "two-stage, initial weights"


def initial_weights_policy(policy: TwoStagePolicy) -> TwoStagePolicy:
    """``policy``'s architecture with the untrained weights of its training seed."""
    torch.manual_seed(int(policy.metadata.get("args", {}).get("seed", 1)))
    return TwoStagePolicy(policy.model_config, policy.decode_config)


def best_time_ms(function, repeats: int) -> float:
    """Median wall time of ``function()`` in milliseconds (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1e3 * (time.perf_counter() - start))
    return float(np.median(times))


def static_section(policy: TwoStagePolicy, size: int, seeds: list[int]) -> dict:
    """Gap to optimal (%) on size x size Euclidean instances for every static method."""
    gaps: dict[str, list[float]] = {}
    allocators = {name: make_allocator(name) for name in ("optimal", "greedy", "auction")}
    for seed in seeds:
        cost = euclidean_instance(size, size, seed)
        optimal = assignment_cost(cost, allocators["optimal"].assign(cost))
        stage_one = policy.score_matrix(cost, scores="stage1")
        finite = np.flatnonzero(np.isfinite(stage_one.ravel()))
        order = finite[np.argsort(-stage_one.ravel()[finite], kind="stable")]
        epsilon = policy.decode_config.static_relative_epsilon
        results = {
            "greedy": allocators["greedy"].assign(cost),
            "auction": allocators["auction"].assign(cost),
            "two-stage (shipped: stage-1 scores + auction decoding)": policy.assign(cost),
            # Ablations: which part does the work.
            "two-stage stage-2 scores + auction decoding": auction_decode(
                policy.score_matrix(cost, scores="stage2"), epsilon
            ),
            "two-stage stage-1 scores + greedy decoding": greedy_order_assign(order, cost.shape),
            "raw costs + auction decoding": auction_decode(-cost, epsilon),
        }
        for name, assignment in results.items():
            check_assignment(cost, assignment)
            assert (assignment >= 0).sum() == size, f"{name} left robots unassigned"
            gap = 100.0 * (assignment_cost(cost, assignment) / optimal - 1.0)
            gaps.setdefault(name, []).append(gap)
    return {
        "size": size,
        "seeds": seeds,
        "gap_percent": {
            k: {"mean": float(np.mean(v)), "max": float(np.max(v)), "per_seed": v}
            for k, v in gaps.items()
        },
    }


def gain_over(rewards: dict[str, list[float]], method: str, base: str) -> tuple[float, int]:
    """``method``'s mean reward above ``base``'s [%], and the seeds on which it is ahead."""
    mine, other = np.array(rewards[method]), np.array(rewards[base])
    percent = float(100.0 * (mine.mean() - other.mean()) / abs(other.mean()))
    return percent, int((mine > other).sum())


def dynamic_section(family: str, seeds: list[int], policy_dir: str | None, **overrides) -> dict:
    """Total episode reward of every dynamic method on one environment setting."""
    config = make_env_config(family, **overrides)
    rewards: dict[str, list[float]] = {}
    ms: dict[str, float] = {}
    for name in (*DYNAMIC_METHODS, INITIAL_WEIGHTS):
        if name == INITIAL_WEIGHTS:
            allocator = initial_weights_policy(TwoStagePolicy.from_pretrained(policy_dir))
        else:
            extra = {"policy_dir": policy_dir} if name == "two-stage" else {}
            allocator = make_dynamic_allocator(name, config.max_coalition, **extra)
        results = [run_episode(config, allocator, seed) for seed in seeds]
        rewards[name] = [r.reward for r in results]
        ms[name] = float(np.mean([r.ms_per_decision for r in results]))
    summary = {}
    for base in ("greedy", "auction"):
        percent, won = gain_over(rewards, "two-stage", base)
        summary.update({f"vs_{base}_percent": percent, f"seeds_won_vs_{base}": won})
    percent, won = gain_over(rewards, "exact-step", "greedy")
    summary.update(exact_step_vs_greedy_percent=percent, exact_step_seeds_won_vs_greedy=won)
    return {
        "family": family,
        "overrides": overrides,
        "seeds": seeds,
        "mean_reward": {k: float(np.mean(v)) for k, v in rewards.items()},
        "std_reward": {k: float(np.std(v)) for k, v in rewards.items()},
        "per_seed": rewards,
        "ms_per_decision": ms,
        **summary,
    }


def timing_section(policy: TwoStagePolicy, repeats: int, large: int) -> dict:
    """Decision times (ms, one core) and ratios to optimal 100x100 in the same run."""
    optimal, greedy = make_allocator("optimal"), make_allocator("greedy")
    reference = best_time_ms(lambda: optimal.assign(euclidean_instance(100, 100, 0)), repeats)
    cost_200x50 = euclidean_instance(200, 50, 0)
    config = make_env_config(
        "capability", n_robots=200, n_active=50, queue_size=60, initial_tasks=50
    )
    obs = AllocationEnv(config, batch_size=1).reset(0)
    big = euclidean_instance(large, large, 0)
    times = {
        "optimal 100x100 (reference)": reference,
        "two-stage dynamic decision, 200 robots x 50 tasks": best_time_ms(
            lambda: policy.act(obs), repeats
        ),
        "two-stage static assign, 200x50": best_time_ms(
            lambda: policy.assign(cost_200x50), repeats
        ),
        "greedy static assign, 200x50": best_time_ms(lambda: greedy.assign(cost_200x50), repeats),
        "optimal static assign, 200x50": best_time_ms(
            lambda: optimal.assign(cost_200x50), repeats
        ),
        f"optimal {large}x{large}": best_time_ms(
            lambda: optimal.assign(big), max(3, repeats // 5)
        ),
    }
    return {name: {"ms": ms, "ratio_to_reference": ms / reference} for name, ms in times.items()}


def markdown(report: dict) -> str:
    """Markdown tables of the report."""
    lines = [f"Benchmark: {report['mode']} run, {report['date']}, {report['machine']}", ""]
    static = report["static"]
    lines += [
        f"### Static 1:1, {static['size']}x{static['size']} Euclidean, "
        f"{len(static['seeds'])} seeds (gap to optimal cost)",
        "",
        "| method | mean gap % | max gap % |",
        "|---|---|---|",
    ]
    for name, gap in static["gap_percent"].items():
        lines.append(f"| {name} | {gap['mean']:.2f} | {gap['max']:.2f} |")
    for section in report["dynamic"]:
        lines += [
            "",
            f"### Dynamic `{section['family']}` {section['overrides']}, "
            f"{len(section['seeds'])} seeds (total reward per episode)",
            "",
            "| method | mean | std | ms/decision |",
            "|---|---|---|---|",
        ]
        for name in (*DYNAMIC_METHODS, INITIAL_WEIGHTS):
            lines.append(
                f"| {name} | {section['mean_reward'][name]:.2f} | "
                f"{section['std_reward'][name]:.2f} | "
                f"{section['ms_per_decision'][name]:.2f} |"
            )
        lines.append(
            f"\ntwo-stage vs greedy: {section['vs_greedy_percent']:+.1f}% "
            f"(won {section['seeds_won_vs_greedy']}/{len(section['seeds'])} seeds); "
            f"vs auction: {section['vs_auction_percent']:+.1f}% "
            f"(won {section['seeds_won_vs_auction']}/{len(section['seeds'])} seeds); "
            f"exact-step vs greedy: {section['exact_step_vs_greedy_percent']:+.1f}% "
            f"(won {section['exact_step_seeds_won_vs_greedy']}/{len(section['seeds'])} seeds)"
        )
    lines += [
        "",
        "### Timing (one core, median)",
        "",
        "| decision | ms | x optimal 100x100 |",
        "|---|---|---|",
    ]
    for name, entry in report["timing"].items():
        lines.append(f"| {name} | {entry['ms']:.2f} | {entry['ratio_to_reference']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few seeds, small sizes")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per setting (full run)")
    parser.add_argument("--policy-dir", default=None, help="two-stage policy folder")
    parser.add_argument("--out", default="out/allocation_benchmark.json", help="JSON output")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    policy = TwoStagePolicy.from_pretrained(args.policy_dir)
    seeds = list(range(2 if args.quick else args.seeds))
    steps = {"episode_steps": 40} if args.quick else {}
    start = time.time()
    report = {
        "mode": "quick" if args.quick else "full",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "static": static_section(policy, 30 if args.quick else 100, seeds),
        "dynamic": [
            dynamic_section("capability", seeds, args.policy_dir, **steps),
            dynamic_section("capability", seeds, args.policy_dir, n_robots=50, **steps),
            # Zero-shot: 4x the training fleet (50 robots) and twice the task rate.
            dynamic_section(
                "capability", seeds, args.policy_dir, n_robots=200, task_rate=0.4, **steps
            ),
            dynamic_section("pickup", seeds, args.policy_dir, **steps),
        ],
        "timing": timing_section(policy, 5 if args.quick else 30, 200 if args.quick else 1000),
    }
    report["seconds"] = round(time.time() - start, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
