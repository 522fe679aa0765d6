"""Learned nominal navigation controllers: EXPO fine-tuning of the flow base vs Gaussian PPO.

Trains both on the same families, team size, observation and evaluation layouts (each
trainer's defaults: ``fleetpilot train expo`` from ``policies/flow_nav``, ``fleetpilot train
nav-ppo`` from scratch), in two processes at once, and compares their learning curves in
samples (acting-agent transitions, the count both trainers report). Reported:

* the base policy's success and EXPO's success at its budget (target: EXPO improves the base);
* the success level Gaussian PPO reaches at its budget, and the samples each method needs to
  reach it (target: EXPO at most half of PPO's);
* the imitation data behind the base and the demonstrations in EXPO's replay (transitions),
  counted beside EXPO's samples.

    python benchmarks/nav_policy.py                # defaults of both trainers (~7 min)
    python benchmarks/nav_policy.py --quick        # smoke: tiny budgets

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.flow import train_expo, train_nav_ppo  # noqa: E402

QUICK_EXPO = {
    "total_samples": 3000,
    "learning_starts": 1000,
    "eval_interval": 1500,
    "demo_episodes": 2,
    "offline_q_updates": 100,
}
QUICK_PPO = {"total_timesteps": 8192, "eval_interval": 4096, "num_steps": 32}
QUICK_COMMON = {"eval_episodes": 4, "progress": False}


def _train(job: tuple[str, dict, str]) -> dict:
    method, overrides, out = job
    module = train_expo if method == "expo" else train_nav_ppo
    output_key = "out" if method == "expo" else "output_dir"
    args = replace(module.Args(), **overrides, **{output_key: out, "runs_dir": f"{out}/runs"})
    start = time.perf_counter()
    result = module.train(args)
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    return result


def samples_to_reach(curve: list[dict], level: float) -> int | None:
    """Samples of the first curve point whose mean success is at least ``level``."""
    for point in curve:
        if point["mean_success"] >= level - 1e-9:
            return point["samples"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "nav_policy")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    common = {"seed": args.seed, **(QUICK_COMMON if args.quick else {"progress": False})}
    jobs = [
        ("expo", {**common, **(QUICK_EXPO if args.quick else {})}, str(args.out / "expo")),
        ("nav-ppo", {**common, **(QUICK_PPO if args.quick else {})}, str(args.out / "ppo")),
    ]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        expo, ppo = pool.map(_train, jobs)

    base_level = expo["curve"][0]["mean_success"]
    ppo_level = ppo["curve"][-1]["mean_success"]
    expo_level = expo["curve"][-1]["mean_success"]
    ppo_samples = samples_to_reach(ppo["curve"], ppo_level)
    expo_samples = samples_to_reach(expo["curve"], ppo_level)
    base_card = json.loads((ROOT / "policies" / "flow_nav" / "config.json").read_text())
    demo_samples = base_card["metadata"]["result"]["samples"]
    report = {
        "seed": args.seed,
        "quick": args.quick,
        "base_success": base_level,
        "expo_success": expo_level,
        "expo_improves_base": expo_level > base_level,
        "ppo_success": ppo_level,
        "ppo_samples_to_its_level": ppo_samples,
        "expo_samples_to_ppo_level": expo_samples,
        "expo_at_most_half_of_ppo": expo_samples is not None and expo_samples <= 0.5 * ppo_samples,
        "base_demonstration_samples": demo_samples,
        # EXPO's offline data, beside the imitation data behind its base (0 without).
        "expo_replay_demonstrations": expo.get("demonstration_transitions", 0),
        "expo": {"curve": expo["curve"], "wall_seconds": expo["wall_seconds"]},
        "ppo": {"curve": ppo["curve"], "wall_seconds": ppo["wall_seconds"]},
    }
    families = list(expo["curve"][0]["success"])
    print("| method | samples | " + " | ".join(families) + " | mean |")
    print("|---|---:|" + "---:|" * (len(families) + 1))
    for method, result in (("EXPO (flow base)", expo), ("Gaussian PPO", ppo)):
        for point in result["curve"]:
            cells = " | ".join(f"{point['success'][f]:.2f}" for f in families)
            print(f"| {method} | {point['samples']} | {cells} | {point['mean_success']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
