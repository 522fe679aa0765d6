"""Online CBF tuner vs the grid-searched best fixed CBF and a fixed sideways rule, per family.

For every scenario family and seed, each controller runs the same layouts (``evaluate`` with the
same seed and episode count, as ``fleetpilot eval nav`` does):

* ``best fixed``: the (alpha, gain) that won ``fleetpilot eval nav --grid-search`` on that
  family (read from the grid-search JSON files given with ``--grid``);
* ``sideways 0.5``: fixed alpha=1, gain=1 with a constant sideways bias of 0.5 (the naive
  keep-left rule; the value that frees the 16-agent circle swap as a fixed rule);
* ``best fixed + make way``: the same from grid searches run with ``--make-way`` (parked
  agents step out of travelling agents' way, as the shipped tuner's constant output asks);
* ``online``: the learned tuner as shipped (acting with its seeded per-agent policy noise);
* ``online, mean``: the same network acting with its mean (no noise);
* with ``--ablations``, the learned tuner with outputs replaced by constants: ``no sideways``
  (tangential 0), ``no shares`` (responsibility 1/2), ``alpha+gain only`` (both), ``no make
  way`` (make_way 0, for tuners with that constant output), and the
  ``untrained prior`` (the network before PPO: outputs at the configured prior, same noise).

    .venv/bin/python benchmarks/cbf_tuner_eval.py --grid GRID.json ... --seeds 0,1,2

Prints a Markdown table per metric group, then all results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs.evaluate import evaluate  # noqa: E402
from fleetpilot.envs.tuners import make_tuner  # noqa: E402
from fleetpilot.safety.tuner import CbfTunerNet, GnnTuner  # noqa: E402
from fleetpilot.scenarios import load_scenario  # noqa: E402

FAMILIES = (
    "circle_swap_8",
    "circle_swap_16",
    "doorway",
    "corridor",
    "crossing_groups",
    "random_field",
    "head_on_pair",
    "circle_swap_32",
    "circle_swap_64",
    # Unicycles with the ROS simulated fleet's settings: a swap they can lock in a ring.
    "circle_swap_unicycle",
)
SIDEWAYS_RULE = "fixed:alpha=1,gain=1,tangential=0.5"
ABLATIONS = {
    "no sideways": {"tangential": 0.0},
    "no shares": {"responsibility": 0.5},
    "alpha+gain only": {"tangential": 0.0, "responsibility": 0.5},
}
KEPT = (
    "success_rate",
    "collisions",
    "deadlock_rate",
    "makespan",
    "arrived_fraction",
    "min_distance",
    "mean_time_to_goal",
    "max_arrived_offset",
)


def best_fixed(grid_files: list[Path]) -> dict[str, str]:
    """Scenario name -> ``fixed:alpha=A,gain=K[,make_way=M]`` of the grid search's winner."""
    best = {}
    for path in grid_files:
        data = json.loads(path.read_text())
        # `eval nav --grid-search --json` prints {"grid_search": [...]}; saved lists work too.
        for result in data["grid_search"] if isinstance(data, dict) else data:
            setting = result["best"]
            spec = f"fixed:alpha={setting['alpha']:g},gain={setting['gain']:g}"
            if setting.get("make_way"):
                spec += f",make_way={setting['make_way']:g}"
            best[result["scenario"]] = spec
    return best


def untrained_prior(config) -> GnnTuner:
    """The network before training: its outputs sit at ``config.init``, plus the same noise."""
    torch.manual_seed(0)
    return GnnTuner(CbfTunerNet(config))


def aggregate(per_seed: list[dict]) -> dict:
    """Means over seeds (makespan over the seeds that had one), collisions summed, extremes of
    the distances (closest pair, farthest parked agent from its goal at the end)."""
    makespans = [s["makespan"] for s in per_seed if s["makespan"] is not None]
    distances = [s["min_distance"] for s in per_seed if s["min_distance"] is not None]
    offsets = [s["max_arrived_offset"] for s in per_seed if s["max_arrived_offset"] is not None]
    return {
        "success_rate": round(statistics.mean(s["success_rate"] for s in per_seed), 3),
        "success_by_seed": [round(s["success_rate"], 3) for s in per_seed],
        "collisions": sum(s["collisions"] for s in per_seed),
        "deadlock_rate": round(statistics.mean(s["deadlock_rate"] for s in per_seed), 3),
        "arrived_fraction": round(statistics.mean(s["arrived_fraction"] for s in per_seed), 3),
        "makespan": round(statistics.mean(makespans), 2) if makespans else None,
        "min_distance": round(min(distances), 3) if distances else None,
        "max_arrived_offset": round(max(offsets), 3) if offsets else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuner", default=str(ROOT / "policies" / "cbf_tuner_gnn"))
    parser.add_argument("--grid", type=Path, nargs="+", required=True)
    parser.add_argument(
        "--grid-make-way",
        type=Path,
        nargs="*",
        default=[],
        help="grid searches run with --make-way: their winners run as 'best fixed + make way'",
    )
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--ablations", default="", help="families that also get the ablations")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--controllers", default="", help="run only these (comma-separated)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    fixed = best_fixed(args.grid)
    fixed_making_way = best_fixed(args.grid_make_way)
    learned = make_tuner(args.tuner)
    seeds = [int(s) for s in args.seeds.split(",")]
    ablation_families = set(filter(None, args.ablations.split(",")))
    results = []
    for family in args.families.split(","):
        scenario = load_scenario(ROOT / "sim" / "scenarios" / f"{family}.yaml")
        controllers = {
            "online": learned,
            "online, mean": GnnTuner(learned.net, sample=False),
            "sideways 0.5": make_tuner(SIDEWAYS_RULE),
        }
        if scenario.name in fixed:
            controllers["best fixed"] = make_tuner(fixed[scenario.name])
        if scenario.name in fixed_making_way:
            controllers["best fixed + make way"] = make_tuner(fixed_making_way[scenario.name])
        if family in ablation_families:
            for name, overrides in ABLATIONS.items():
                controllers[name] = GnnTuner(learned.net, overrides)
            if "make_way" in learned.config.constant_outputs:
                controllers["no make way"] = GnnTuner(learned.net, {"make_way": 0.0})
            controllers["untrained prior"] = untrained_prior(learned.config)
        if args.controllers:
            chosen = args.controllers.split(",")
            controllers = {k: v for k, v in controllers.items() if k in chosen}
        for name, tuner in controllers.items():
            start = time.perf_counter()
            per_seed = []
            for seed in seeds:
                if hasattr(tuner, "reset"):  # noise seed = layout seed (0: as the CLI does)
                    tuner.reset(seed)
                per_seed.append(evaluate(scenario, tuner, args.episodes, seed))
            row = {
                "family": family,
                "agents": per_seed[0]["num_agents"],
                "controller": name,
                "spec": {
                    "best fixed": fixed.get(scenario.name),
                    "best fixed + make way": fixed_making_way.get(scenario.name),
                }.get(name),
                "episodes": args.episodes * len(seeds),
                **aggregate([{k: s[k] for k in KEPT} for s in per_seed]),
                "seconds": round(time.perf_counter() - start, 1),
            }
            if name == "sideways 0.5":
                row["spec"] = SIDEWAYS_RULE
            results.append(row)
            print(
                f"{family:>16} {name:>16}: success {row['success_rate']:.2f} "
                f"collisions {row['collisions']} makespan {row['makespan']} "
                f"({row['seconds']} s)",
                file=sys.stderr,
            )
    print(markdown(results))
    report = {"seeds": seeds, "episodes_per_seed": args.episodes, "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    return 0


def markdown(results: list[dict]) -> str:
    lines = [
        "| family | agents | controller | success | per seed | collisions | deadlock | "
        "arrived | makespan [s] | min dist [m] | parked offset [m] |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        makespan = "—" if r["makespan"] is None else f"{r['makespan']:.1f}"
        distance = "—" if r["min_distance"] is None else f"{r['min_distance']:.3f}"
        offset = r.get("max_arrived_offset")
        offset = "—" if offset is None else f"{offset:.2f}"
        fixed = r["controller"].startswith("best fixed")
        name = r["controller"] + (f" ({r['spec'][6:]})" if fixed else "")
        lines.append(
            f"| {r['family']} | {r['agents']} | {name} | {r['success_rate']:.2f} | "
            f"{'/'.join(f'{s:.2f}' for s in r['success_by_seed'])} | {r['collisions']} | "
            f"{r['deadlock_rate']:.2f} | {r['arrived_fraction']:.2f} | {makespan} | {distance} | "
            f"{offset} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
