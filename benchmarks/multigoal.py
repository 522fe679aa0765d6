"""MultiGoal mode coverage and return: PolicyFlow-style PPO flow policy vs Gaussian PPO.

Trains both policies with the same PPO loop, budget and seeds (``fleetpilot train flow-ppo``
defaults), from scratch and warm-started by behaviour cloning of multimodal expert
demonstrations, evaluates each with 1000 episodes and reports per-goal shares, goals reached in
at least 15% of episodes, and each flow variant's return shortfall against its Gaussian twin (or
plain Gaussian PPO where it has none); Gaussian rows also give the return of the mean action::

    python benchmarks/multigoal.py             # full: seeds 1 2 3, default budget
    python benchmarks/multigoal.py --quick     # smoke: one seed, 8k steps
    python benchmarks/multigoal.py --variants gaussian "flow+bc slow+demo, held z"

Writes ``multigoal.json`` and ``multigoal.md`` into ``--out`` (default ``out/bench``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs.multigoal import MultiGoalConfig  # noqa: E402
from fleetpilot.flow.multigoal_rollouts import evaluate_multigoal  # noqa: E402
from fleetpilot.flow.registry import load_policy  # noqa: E402
from fleetpilot.flow.train_flow_ppo import Args, train  # noqa: E402

# (label, overrides of the training defaults). Each flow variant has a Gaussian twin with the
# same settings. "+bc slow": warm start by imitating (5000 steps) a scripted expert that picks a
# goal at random (multimodal demonstrations), then PPO at a 3x lower learning rate.
SLOW_BC = {"bc_demos": 256, "bc_iterations": 5000, "learning_rate": 1e-4}
# "+demo": the slow warm start plus the imitation loss on the expert data kept in every PPO
# minibatch (weight 1.0, DAPG-style), for both policy types.
DEMO = {**SLOW_BC, "bc_coef": 1.0}
# "held z": the trained flow acts with its start noise drawn once per episode and clipped to norm
# 2 (truncated sampling); training is the same. "wide": training episodes start at
# N(0, 1.0^2) instead of N(0, 0.1^2) (evaluation always starts at 0.1).
HELD = {"episode_noise": True, "noise_radius": 2.0}
WIDE = {"train_start_std": 1.0}
# "8 steps": the flow integrates 8 Euler steps instead of 4, when acting and when training.
FINE = {"num_flow_steps": 8}
VARIANTS = (
    ("gaussian", {"policy": "gaussian"}),
    ("flow", {"policy": "flow"}),
    ("gaussian+bc slow", {"policy": "gaussian", **SLOW_BC}),
    ("flow+bc slow", {"policy": "flow", **SLOW_BC}),
    ("gaussian+bc slow+demo", {"policy": "gaussian", **DEMO}),
    ("flow+bc slow+demo", {"policy": "flow", **DEMO}),
    ("flow+bc slow+demo, held z", {"policy": "flow", **DEMO, **HELD}),
    ("flow+bc slow+demo+wide, held z", {"policy": "flow", **DEMO, **WIDE, **HELD}),
    (
        "flow+bc slow+demo+wide, held z, 8 steps",
        {"policy": "flow", **DEMO, **WIDE, **HELD, **FINE},
    ),
)
# Flow variants without a Gaussian twin of the same name are compared with plain Gaussian PPO.
REFERENCE = "gaussian"
MODE_SHARE = 0.15


def train_one(job: tuple[str, dict, int, int, int, str]) -> dict:
    """Trains and evaluates one (variant, seed); returns its table row."""
    label, overrides, seed, total_timesteps, eval_episodes, out = job
    slug = label.replace("+", "_").replace(" ", "_").replace(",", "")
    args = replace(
        Args(),
        **overrides,
        exp_name=f"bench_{slug}",
        seed=seed,
        total_timesteps=total_timesteps,
        eval_episodes=eval_episodes,
        output_dir=str(Path(out) / "multigoal_policies" / f"{slug}_seed{seed}"),
        runs_dir=str(ROOT / "runs"),
        progress=False,
    )
    result = train(args)
    evaluation = result["evaluation"]
    bc = result["bc_evaluation"]
    mean_action = None
    if args.policy == "gaussian":
        # The Gaussian is evaluated sampled (its select_action); its mean action for reference.
        policy = load_policy(result["policy_dir"])
        policy.config = replace(policy.config, sample_at_inference=False)
        mean_action = evaluate_multigoal(
            policy, MultiGoalConfig(), eval_episodes, seed=seed + 10_000
        )["return"]
    row = {
        "policy": label,
        "seed": seed,
        "return": evaluation["return"],
        "goal_shares": evaluation["goal_shares"],
        "modes_covered": evaluation["modes_covered"],
        "every_goal_15pct": min(evaluation["goal_shares"]) >= MODE_SHARE,
        "success_rate": evaluation["success_rate"],
        "mean_length": evaluation["mean_length"],
        "train_seconds": result["train_seconds"],
        "return_mean_action": mean_action,
        "bc_only": None
        if bc is None
        else {key: bc[key] for key in ("return", "goal_shares", "modes_covered")},
    }
    print(json.dumps(row), flush=True)
    return row


def run(
    seeds: list[int],
    total_timesteps: int,
    eval_episodes: int,
    out: Path,
    variants=VARIANTS,
    jobs: int = 1,
) -> dict:
    """Trains every variant on every seed (``jobs`` runs at a time, one torch thread each)."""
    work = [
        (label, overrides, seed, total_timesteps, eval_episodes, str(out))
        for label, overrides in variants
        for seed in seeds
    ]
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            rows = pool.map(train_one, work, chunksize=1)
    else:
        rows = [train_one(job) for job in work]
    return summarise(rows, seeds, total_timesteps, eval_episodes, variants)


def summarise(
    rows: list[dict], seeds: list[int], total_timesteps: int, eval_episodes: int, variants
) -> dict:
    """The report of finished rows: per-variant summary, return shortfalls and targets."""
    summary = {}
    for label, _ in variants:
        mine = [row for row in rows if row["policy"] == label]
        summary[label] = {
            "mean_return": statistics.mean(row["return"] for row in mine),
            "mean_modes_covered": statistics.mean(row["modes_covered"] for row in mine),
            "seeds_with_every_goal_15pct": sum(row["every_goal_15pct"] for row in mine),
            "mean_train_seconds": statistics.mean(row["train_seconds"] for row in mine),
        }
    # Returns can be negative, so each flow variant's gap is relative to its Gaussian twin's
    # magnitude.
    shortfall, references = {}, {}
    for label in summary:
        twin = label.replace("flow", "gaussian")
        if label.startswith("flow") and twin not in summary:
            twin = REFERENCE
        if label.startswith("flow") and twin in summary:
            reference = summary[twin]["mean_return"]
            gap = (reference - summary[label]["mean_return"]) / max(abs(reference), 1e-9)
            shortfall[label] = gap
            references[label] = twin
    return {
        "date": date.today().isoformat(),
        "seeds": seeds,
        "total_timesteps": total_timesteps,
        "eval_episodes": eval_episodes,
        "rows": rows,
        "summary": summary,
        "flow_return_shortfall_vs_gaussian_twin": shortfall,
        "flow_return_reference": references,
        "targets": {
            label: {
                "every_goal_15pct_all_seeds": summary[label]["seeds_with_every_goal_15pct"]
                == len(seeds),
                "return_within_10pct": gap <= 0.10,
            }
            for label, gap in shortfall.items()
        },
    }


def markdown(report: dict) -> str:
    lines = [
        f"MultiGoal ({report['date']}): {report['total_timesteps']} env steps per run, "
        f"{report['eval_episodes']} evaluation episodes, seeds {report['seeds']}.",
        "",
        "| policy | seed | return | goal shares | goals >= 15% | train s | after BC only |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for row in report["rows"]:
        shares = ", ".join(f"{share:.2f}" for share in row["goal_shares"])
        bc = row["bc_only"]
        bc_text = (
            ""
            if bc is None
            else (
                f"return {bc['return']:.1f}, shares ["
                + ", ".join(f"{share:.2f}" for share in bc["goal_shares"])
                + "]"
            )
        )
        lines.append(
            f"| {row['policy']} | {row['seed']} | {row['return']:.3f} | [{shares}] | "
            f"{row['modes_covered']} | {row['train_seconds']:.0f} | {bc_text} |"
        )
    lines += [
        "",
        "| policy | mean return | mean goals >= 15% | seeds with every goal >= 15% |",
        "| --- | ---: | ---: | ---: |",
    ]
    for policy, entry in report["summary"].items():
        lines.append(
            f"| {policy} | {entry['mean_return']:.3f} | {entry['mean_modes_covered']:.2f} | "
            f"{entry['seeds_with_every_goal_15pct']} of {len(report['seeds'])} |"
        )
    lines.append("")
    for label, gap in report["flow_return_shortfall_vs_gaussian_twin"].items():
        reference = report["flow_return_reference"][label]
        lines.append(
            f"- {label}: return shortfall vs {reference} {100 * gap:.1f}% (target <= 10%)"
        )
    for row in report["rows"]:
        if row.get("return_mean_action") is not None:
            lines.append(
                f"- {row['policy']} seed {row['seed']}: return {row['return']:.3f} sampled, "
                f"{row['return_mean_action']:.3f} with its mean action"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 8k steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-timesteps", type=int, default=Args.total_timesteps)
    parser.add_argument("--jobs", type=int, default=1, help="runs trained in parallel")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="train only these variants (labels as in the table; default: all)",
    )
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="output folder")
    args = parser.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    steps = 8192 if args.quick else args.total_timesteps
    episodes = 100 if args.quick else 1000
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    variants = VARIANTS[:2] if args.quick else VARIANTS
    if args.variants:
        known = dict(VARIANTS)
        unknown = [label for label in args.variants if label not in known]
        if unknown:
            parser.error(f"unknown variants {unknown}; known: {list(known)}")
        variants = tuple((label, known[label]) for label in args.variants)
    report = run(seeds, steps, episodes, out, variants, args.jobs)
    report["wall_seconds"] = time.time() - start
    (out / "multigoal.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "multigoal.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
