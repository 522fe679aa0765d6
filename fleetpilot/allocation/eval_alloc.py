"""Evaluate a task allocator over seeds and print mean reward, per-seed reward and decision time.

Environments: ``capability`` and ``pickup`` (dynamic, reward = value of done tasks minus robot
costs) and ``static`` (one-to-one, robots and tasks uniform on a unit square, reward = minus the
total distance). ``--tasks`` is the number of tasks offered per decision (active tasks) in the
dynamic families and the number of tasks in the static one.

Run: ``fleetpilot eval alloc ...`` or ``python -m fleetpilot.allocation.eval_alloc ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

STATIC_ENV = "static"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the evaluation flags."""
    parser.add_argument(
        "--env", default="capability", help="capability, pickup or static (default capability)"
    )
    parser.add_argument("--robots", type=int, default=100, help="robots (default 100)")
    parser.add_argument(
        "--tasks",
        type=int,
        default=5,
        help="active tasks per decision, or tasks for static (default 5)",
    )
    parser.add_argument(
        "--allocator",
        default="greedy",
        help="optimal (static only), greedy, auction, two-stage or exact-step (dynamic only)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="env seeds")
    parser.add_argument(
        "--task-rate",
        type=float,
        default=None,
        help="new tasks per step (dynamic; default: the family's)",
    )
    parser.add_argument(
        "--episode-steps",
        type=int,
        default=None,
        help="steps per episode (dynamic; default: the family's)",
    )
    parser.add_argument(
        "--policy-dir",
        default=None,
        help="two-stage policy folder (default: the repository's policies/allocator)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for the learned allocator (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def evaluate(args: argparse.Namespace) -> dict:
    """Runs the evaluation and returns the summary as a dict."""
    import numpy as np

    from fleetpilot.allocation.cost_matrix import assignment_cost, check_assignment
    from fleetpilot.allocation.env import make_env_config
    from fleetpilot.allocation.evaluation import run_episode
    from fleetpilot.allocation.registry import make_allocator, make_dynamic_allocator
    from fleetpilot.allocation.static_instances import euclidean_instance

    extra = {}
    if args.allocator == "two-stage":
        import torch

        torch.set_num_threads(args.threads)
        extra = {"policy_dir": args.policy_dir}
    per_seed, times = [], []
    if args.env == STATIC_ENV:
        allocator = make_allocator(args.allocator, **extra)
        for seed in args.seeds:
            cost = euclidean_instance(args.robots, args.tasks, seed)
            start = time.perf_counter()
            assignment = allocator.assign(cost)
            times.append(1e3 * (time.perf_counter() - start))
            check_assignment(cost, assignment)
            per_seed.append(-assignment_cost(cost, assignment))
    else:
        overrides = {
            "n_robots": args.robots,
            "n_active": args.tasks,
            "queue_size": max(30, 2 * args.tasks),
        }
        if args.task_rate is not None:
            overrides["task_rate"] = args.task_rate
        if args.episode_steps is not None:
            overrides["episode_steps"] = args.episode_steps
        config = make_env_config(args.env, **overrides)
        allocator = make_dynamic_allocator(args.allocator, config.max_coalition, **extra)
        for seed in args.seeds:
            result = run_episode(config, allocator, seed)
            per_seed.append(result.reward)
            times.append(result.ms_per_decision)
    return {
        "env": args.env,
        "allocator": args.allocator,
        "robots": args.robots,
        "tasks": args.tasks,
        "seeds": list(args.seeds),
        "mean_reward": float(np.mean(per_seed)),
        "std_reward": float(np.std(per_seed)),
        "per_seed": [float(r) for r in per_seed],
        "ms_per_decision": float(np.mean(times)),
    }


def main(args: argparse.Namespace) -> int:
    try:
        summary = evaluate(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"eval alloc: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
