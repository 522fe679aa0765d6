"""Lidar only vs known obstacles: the same PyBullet layouts run with both kinds of sensing.

For every scenario and seed, the layout ``scenario.sample(seed=(SEED, 0, 0))`` (the one
``fleetpilot sim SCENARIO --seed SEED`` runs first) is run twice with the same tuner and the
same perception noise seed:

- **known**: every robot's filter gets the scenario's obstacle list and the arena walls, and
  every robot is in its neighbours' lists (within the sensing radius);
- **lidar**: the filters get no obstacle list and no walls (each robot sees them only through
  its own simulated scan, ``fleetpilot.safety.scan_obstacles``), and the last K robots report
  nothing (only lidars see them).

Both conditions use the scenario file's nominal controller (``nominal:``; ``--nominal`` overrides
it): with ``waypoints`` every robot follows an A* path through the static map (walls and
pillars, never robots), the map a real robot is given; the filters still get the obstacles only
as described above (in lidar runs the map only marks which scan returns are walls and pillars:
those carry no motion margin, ``SimConfig.static_returns``).

Reported per scenario and condition: PyBullet contacts by kind (robot pairs, obstacles,
arena walls; summed over seeds: the target is 0), success rate (every robot arrived), makespan
(mean over successful episodes), mean time to goal (robots that arrived), mean path length
(every robot), share of robots arrived, filter interventions (share of driving robot-ticks,
i.e. with a non-zero nominal command, on which the filter changed the command), the smallest
robot-robot centre distance and robot-centre-to-obstacle-surface gap over all seeds (measured
against the true obstacles in both conditions), and the real-time factor.

    .venv/bin/python benchmarks/perception_eval.py                      # 5 seeds (~5 min)
    .venv/bin/python benchmarks/perception_eval.py --seeds 1 --max-steps 50   # smoke

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs.tuners import make_tuner  # noqa: E402
from fleetpilot.safety.status import SafetyMode  # noqa: E402
from fleetpilot.scenarios import NominalSpec, ScenarioInstance, load_scenario  # noqa: E402
from fleetpilot.scenarios.schema import NOMINAL_TYPES  # noqa: E402
from fleetpilot.sim.lidar import LidarConfig  # noqa: E402
from fleetpilot.sim.run import perception_seed  # noqa: E402
from fleetpilot.sim.runner import ScenarioRun, SimConfig, Tick  # noqa: E402

SCENARIOS = sorted((ROOT / "sim" / "scenarios").glob("lidar_*.yaml"))
DEFAULT_TUNER = "policies/cbf_tuner_gnn"
CONDITIONS = ("known", "lidar")
COLUMNS = (
    ("contacts", "contacts robot/obstacle/wall (all seeds)", None),
    ("success_rate", "success", "{:.2f}"),
    ("makespan", "makespan s", "{:.1f}"),
    ("mean_time_to_goal", "time to goal s", "{:.1f}"),
    ("mean_path_length", "path length m", "{:.2f}"),
    ("arrived_fraction", "arrived", "{:.2f}"),
    ("intervention_rate", "filter interventions", "{:.3f}"),
    ("min_distance", "min robot distance m", "{:.3f}"),
    ("min_obstacle_gap", "min obstacle gap m", "{:.3f}"),
    ("real_time_factor", "RTF", "{:.1f}"),
)


class InterventionCounter:
    """Counts driving robot-ticks (non-zero nominal command) and those the filter changed."""

    def __init__(self) -> None:
        self.driving = 0
        self.changed = 0

    def __call__(self, tick: Tick) -> None:
        driving = np.linalg.norm(tick.nominal, axis=1) > 0  # arrived robots park: zero command
        self.driving += int(driving.sum())
        self.changed += int((driving & (tick.status != SafetyMode.NOMINAL)).sum())

    @property
    def rate(self) -> float | None:
        return self.changed / self.driving if self.driving else None


def sim_config(
    instance: ScenarioInstance, condition: str, args, noise_seed: int, nominal: NominalSpec
) -> SimConfig:
    """The run settings of one condition; both share the perception noise seed and the
    nominal controller."""
    if condition == "known":
        return SimConfig(max_steps=args.max_steps, perception_seed=noise_seed, nominal=nominal)
    # Range just beyond the sensing radius, as `fleetpilot sim --lidar`: farther returns are
    # gated out anyway, and long rays cost ray-test time.
    lidar = LidarConfig(beams=args.beams, range_max=1.5 * instance.sensing_radius)
    return SimConfig(
        max_steps=args.max_steps,
        perception_seed=noise_seed,
        lidar=lidar,
        silent_robots=args.silent_robots,
        nominal=nominal,
    )


def run_episode(instance: ScenarioInstance, tuner, config: SimConfig) -> dict:
    """One episode; its metrics as plain values."""
    interventions = InterventionCounter()
    with ScenarioRun(instance, tuner, config) as run:
        run.run(on_tick=interventions)
        metrics = run.episode()
        contacts = run.contact_counts()
        real_time_factor = run.real_time_factor
    return {
        "success": metrics.success,
        "contacts": contacts,
        "makespan": metrics.makespan,
        "mean_time_to_goal": metrics.mean_time_to_goal,
        "mean_path_length": float(np.mean(metrics.agents["path_length"])),
        "arrived_fraction": metrics.arrived_fraction,
        "deadlock": metrics.deadlock,
        "intervention_rate": interventions.rate,
        "min_distance": metrics.min_distance,
        "min_obstacle_gap": metrics.min_obstacle_gap,
        "steps": metrics.steps,
        "real_time_factor": real_time_factor,
    }


def mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def smallest(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def aggregate(episodes: list[dict]) -> dict:
    """Totals of the contacts, means of the rest (makespan over successful episodes)."""
    contacts = {
        kind: sum(e["contacts"][kind] for e in episodes) for kind in episodes[0]["contacts"]
    }
    return {
        "episodes": len(episodes),
        "contacts": contacts,
        "success_rate": mean([float(e["success"]) for e in episodes]),
        "makespan": mean([e["makespan"] for e in episodes]),
        "mean_time_to_goal": mean([e["mean_time_to_goal"] for e in episodes]),
        "mean_path_length": mean([e["mean_path_length"] for e in episodes]),
        "arrived_fraction": mean([e["arrived_fraction"] for e in episodes]),
        "deadlock_rate": mean([float(e["deadlock"]) for e in episodes]),
        "intervention_rate": mean([e["intervention_rate"] for e in episodes]),
        "min_distance": smallest([e["min_distance"] for e in episodes]),
        "min_obstacle_gap": smallest([e["min_obstacle_gap"] for e in episodes]),
        "real_time_factor": mean([e["real_time_factor"] for e in episodes]),
    }


def cell(summary: dict, key: str, fmt: str | None) -> str:
    value = summary[key]
    if key == "contacts":
        return "{robot}/{obstacle}/{wall}".format(**value)
    return "-" if value is None else fmt.format(value)


def markdown_table(results: dict, silent_robots: int) -> str:
    lines = [
        "| scenario | sensing | episodes | " + " | ".join(label for _, label, _ in COLUMNS) + " |",
        "| --- | --- | ---: |" + " --- |" + " ---: |" * (len(COLUMNS) - 1),
    ]
    for name, conditions in results.items():
        for condition, summary in conditions.items():
            sensing = "known" if condition == "known" else f"lidar, {silent_robots} silent"
            cells = [cell(summary, key, fmt) for key, _, fmt in COLUMNS]
            lines.append(
                f"| {name} | {sensing} | {summary['episodes']} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        type=Path,
        nargs="+",
        default=SCENARIOS,
        help="scenario files (default: sim/scenarios/lidar_*.yaml)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="layouts per scenario (0..K-1)")
    parser.add_argument(
        "--tuner", default=DEFAULT_TUNER, help=f"fixed:alpha=A,gain=K or a learned tuner's "
        f"directory (default: {DEFAULT_TUNER})"
    )  # fmt: skip
    parser.add_argument(
        "--silent-robots", type=int, default=3, help="robots only lidars see (lidar condition)"
    )
    parser.add_argument("--beams", type=int, default=360, help="lidar beams per full turn")
    parser.add_argument(
        "--nominal",
        help=f"nominal controller for every scenario ({', '.join(NOMINAL_TYPES)}; default: "
        "each scenario file's nominal.type)",
    )
    parser.add_argument("--max-steps", type=int, help="cut episodes short [ticks]")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds: expected an integer >= 1, got {args.seeds}")
    if args.nominal is not None and args.nominal not in NOMINAL_TYPES:
        parser.error(
            f"--nominal: expected one of {', '.join(NOMINAL_TYPES)}, got {args.nominal!r}"
        )
    if args.silent_robots < 0:
        parser.error(f"--silent-robots: expected an integer >= 0, got {args.silent_robots}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)  # one robot's tensors are tiny; the machine is shared
    tuner = make_tuner(args.tuner)
    load_before = os.getloadavg()
    started = time.perf_counter()
    results: dict[str, dict] = {}
    episodes: dict[str, dict] = {}
    nominals: dict[str, dict] = {}
    for path in args.scenarios:
        scenario = load_scenario(path)
        nominal = scenario.nominal
        if args.nominal is not None:
            nominal = dataclasses.replace(nominal, type=args.nominal)
        per_condition: dict[str, list[dict]] = {condition: [] for condition in CONDITIONS}
        for seed in range(args.seeds):
            instance = scenario.sample(seed=(seed, 0, 0))
            for condition in CONDITIONS:
                noise_seed = perception_seed(seed, 0)
                config = sim_config(instance, condition, args, noise_seed, nominal)
                episode = run_episode(instance, tuner, config)
                per_condition[condition].append({"seed": seed, **episode})
                print(
                    f"{scenario.name} seed {seed} {condition}: success {episode['success']}, "
                    f"contacts {episode['contacts']}",
                    file=sys.stderr,
                )
        results[scenario.name] = {c: aggregate(e) for c, e in per_condition.items()}
        nominals[scenario.name] = dataclasses.asdict(nominal)
        episodes[scenario.name] = per_condition
    report = {
        "command": "benchmarks/perception_eval.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "tuner": args.tuner,
        "seeds": args.seeds,
        "silent_robots": args.silent_robots,
        "lidar_beams": args.beams,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "nominal": nominals,
        "results": results,
        "episodes": episodes,
    }
    print(markdown_table(results, args.silent_robots))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
