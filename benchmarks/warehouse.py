"""The whole fleet in the PyBullet warehouse: stacks compared on the same seeds, and speed.

Every stack runs the same episodes of ``sim/scenarios/warehouse_16.yaml`` (same floor, parking
cells and task stream per seed): the fully classical stack (greedy allocation, PIBT, fixed CBF),
the fully learned one (two-stage allocator, learned Follower, GNN tuner), and the classical
stack with one stage swapped for its learned counterpart, so each learned component's effect is
seen alone, and the learned stack with the learned flow nominal controller
(``policies/flow_nav``) in place of go-to-goal. Reported per stack (mean over seeds, and the
per-seed list): tasks delivered per hour, mean delivery time (release -> delivery), value
earned on time, collisions (PyBullet contacts), deadlock events and robots deadlocked at the
end, the safety filter's intervention rate, and the real-time factor per wall-clock second and
per second of this process's CPU time (what an otherwise idle core gives; the machine is
shared). The learned/classical ratio of deliveries is computed per seed, on the same layouts.

    .venv/bin/python benchmarks/warehouse.py                 # 3 seeds x 6 stacks (~6 min)
    .venv/bin/python benchmarks/warehouse.py --quick         # 1 seed, 20 s episodes (smoke)

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.sim.runner import SimConfig  # noqa: E402
from fleetpilot.warehouse.pipeline import PRESETS  # noqa: E402
from fleetpilot.warehouse.run import WarehouseRun  # noqa: E402
from fleetpilot.warehouse.scenario import load_warehouse  # noqa: E402

SCENARIO = ROOT / "sim" / "scenarios" / "warehouse_16.yaml"
CLASSICAL, LEARNED = PRESETS["classical"], PRESETS["learned"]
STACKS = {
    "classical": CLASSICAL,
    "learned allocator": CLASSICAL.with_stages(allocator=LEARNED.allocator),
    "learned planner": CLASSICAL.with_stages(planner=LEARNED.planner),
    "learned tuner": CLASSICAL.with_stages(tuner=LEARNED.tuner),
    "learned": LEARNED,
    "learned + flow controller": LEARNED.with_stages(controller="flow"),
}
SUMMED = ("collisions", "deadlock_events", "deadlocked_at_end")
"""Counts that must be zero: the table shows their total over seeds, not a mean."""
COLUMNS = (
    ("deliveries_per_hour", "deliveries / h", "{:.0f}"),
    ("mean_delivery_time", "delivery time s", "{:.1f}"),
    ("value_earned", "value", "{:.1f}"),
    ("collisions", "collisions (all seeds)", "{:.0f}"),
    ("deadlock_events", "deadlock events (all seeds)", "{:.0f}"),
    ("deadlocked_at_end", "deadlocked at end (all seeds)", "{:.0f}"),
    ("intervention_rate", "filter interventions", "{:.2f}"),
    ("real_time_factor", "RTF wall", "{:.1f}"),
    ("cpu_real_time_factor", "RTF CPU", "{:.1f}"),
)


def run_episode(stack, seed: int, robots: int | None, max_steps: int | None) -> dict:
    instance = load_warehouse(SCENARIO).sample(seed=seed, num_robots=robots)
    cpu = time.process_time()
    with WarehouseRun(instance, stack, SimConfig(max_steps=max_steps)) as run:
        run.run()
        metrics = run.metrics().to_dict()
    metrics["cpu_real_time_factor"] = metrics["simulated_time"] / (time.process_time() - cpu)
    return metrics


def mean(values: list) -> float | None:
    finite = [v for v in values if v is not None]
    return statistics.fmean(finite) if finite else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="episodes (seeds 0..K-1)")
    parser.add_argument("--robots", type=int, help="override the fleet size (16)")
    parser.add_argument("--max-steps", type=int, help="cut episodes short [ticks]")
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 ticks")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.max_steps = 1, 200
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for name, stack in STACKS.items():
        episodes = [run_episode(stack, s, args.robots, args.max_steps) for s in range(args.seeds)]
        results[name] = {
            "stack": stack.label(),
            "mean": {key: mean([e[key] for e in episodes]) for key, _, _ in COLUMNS},
            "total": {key: sum(e[key] for e in episodes) for key in SUMMED},
            "episodes": episodes,
        }
        print(f"{name}: done", file=sys.stderr)
    ratios = [
        learned["tasks_delivered"] / classical["tasks_delivered"]
        for learned, classical in zip(
            results["learned"]["episodes"], results["classical"]["episodes"], strict=True
        )
        if classical["tasks_delivered"]
    ]
    report = {
        "scenario": SCENARIO.name,
        "seeds": args.seeds,
        "robots": results["classical"]["episodes"][0]["num_robots"],
        "simulated_seconds": results["classical"]["episodes"][0]["simulated_time"],
        "learned_over_classical_deliveries": ratios,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "stacks": results,
    }
    print("| stack | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
    print("| --- |" + " ---: |" * len(COLUMNS))
    for name, result in results.items():
        values = {**result["mean"], **result["total"]}
        cells = ["-" if values[k] is None else fmt.format(values[k]) for k, _, fmt in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("learned / classical deliveries per seed: " + ", ".join(f"{r:.2f}" for r in ratios))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
