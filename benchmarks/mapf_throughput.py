"""Lifelong MAPF throughput and planning time of every planner on POGEMA-sized map families.

One command: ``python benchmarks/mapf_throughput.py`` (``--quick`` for a smoke run). Writes JSON
and a Markdown table (default ``build/benchmarks/mapf_throughput.{json,md}``) and prints the
table. Average throughput = goals reached by all agents per step (POGEMA's ``avg_throughput``);
ms/step = planner wall time per step for all agents, also given as a ratio to the naive ``astar``
measured in the same run on the same episodes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.mapf.generators import generate_map  # noqa: E402
from fleetpilot.mapf.grid_map import GridMap  # noqa: E402
from fleetpilot.mapf.movingai import read_map  # noqa: E402
from fleetpilot.mapf.planners import PLANNERS, make_planner  # noqa: E402
from fleetpilot.mapf.planners.base import runnable_planners  # noqa: E402
from fleetpilot.mapf.simulator import SimConfig, run_episode  # noqa: E402

CUTOUTS = sorted((ROOT / "sim" / "maps" / "movingai-cutouts-64").glob("*.map"))


@dataclass(frozen=True)
class Family:
    """A benchmark row: a map family and an agent count.

    Attributes:
        name: row label.
        agents: agents per episode.
        spec: generator spec (map seed = episode seed), or None for the MovingAI cut-outs.
        anchors: published POGEMA throughputs for this row (name -> value).
    """

    name: str
    agents: int
    spec: str | None
    anchors: tuple[tuple[str, float], ...] = ()

    def grid(self, seed: int) -> GridMap:
        if self.spec is not None:
            return generate_map(self.spec, seed)
        return read_map(CUTOUTS[seed % len(CUTOUTS)])


FAMILIES = (
    Family("random 20x20 d0.2", 64, "random:20x20:0.2", (("RHCR", 3.82), ("Follower", 2.47))),
    Family("maze 21x21", 64, "maze:21x21", (("RHCR", 2.59), ("Follower", 1.61))),
    Family("warehouse 46x33", 128, "warehouse", (("RHCR", 3.49), ("Follower", 3.15))),
    Family("warehouse 46x33", 192, "warehouse", (("RHCR", 1.57), ("Follower", 3.94))),
    Family("MovingAI 64x64", 256, None, (("RHCR", 5.13), ("Follower", 4.81))),
)
SCALE_FAMILY = Family("MovingAI 64x64", 1000, None)


def run_cell(family: Family, planner: str, seeds: list[int], steps: int) -> dict:
    throughputs, ms = [], []
    for seed in seeds:
        result = run_episode(
            family.grid(seed),
            make_planner(planner),
            SimConfig(num_agents=family.agents, max_steps=steps, seed=seed),
        )
        throughputs.append(result.throughput)
        ms.append(result.ms_per_step)
    return {
        "family": family.name,
        "agents": family.agents,
        "planner": planner,
        "avg_throughput": float(np.mean(throughputs)),
        "std_throughput": float(np.std(throughputs)),
        "per_seed": throughputs,
        "ms_per_step": float(np.mean(ms)),
        "anchors": dict(family.anchors),
    }


def warm_up(planners: list[str]) -> None:
    """Compile every kernel first so that compile time is not billed to the first planner."""
    grid = generate_map("random:8x8:0.1", 0)
    for planner in planners:
        run_episode(grid, make_planner(planner), SimConfig(num_agents=4, max_steps=3))


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}; {meta['steps']} steps, seeds {meta['seeds']}.",
        "",
        "| map (agents) | planner | avg throughput (std) | ms/step | x astar time | anchors |",
        "|---|---|---|---|---|---|",
    ]
    baseline = {
        (row["family"], row["agents"]): row["ms_per_step"]
        for row in rows
        if row["planner"] == "astar"
    }
    for row in rows:
        base = baseline.get((row["family"], row["agents"]))
        ratio = f"{row['ms_per_step'] / base:.1f}" if base else "-"
        anchors = ", ".join(f"{k} {v}" for k, v in row["anchors"].items()) or "-"
        lines.append(
            f"| {row['family']} ({row['agents']}) | {row['planner']} | "
            f"{row['avg_throughput']:.2f} ({row['std_throughput']:.2f}) | "
            f"{row['ms_per_step']:.2f} | {ratio} | {anchors} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds x 32 steps, smoke test")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per row (default 10)")
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument(
        "--planners",
        default="astar,follower-planner,follower,follower-pibt,pibt,pibt-traffic",
        help="comma-separated planner names (learned ones are skipped without policies/follower)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    seeds = list(range(2 if args.quick else args.seeds))
    steps = 32 if args.quick else args.steps
    planners, skipped = runnable_planners(args.planners.split(","))
    if skipped:
        print(f"policies/follower not found: skipping {skipped}", file=sys.stderr)
    unknown = [name for name in planners if name not in PLANNERS]
    if unknown:
        parser.error(f"unknown planners {unknown}; known: {list(PLANNERS)}")
    warm_up(planners)
    rows = []
    for family in FAMILIES:
        for planner in planners:
            rows.append(run_cell(family, planner, seeds, steps))
            print(json.dumps(rows[-1]), flush=True)
    scale_planners = [name for name in planners if name.startswith("pibt")]
    for planner in scale_planners:
        scale_steps = 16 if args.quick else 64
        rows.append(run_cell(SCALE_FAMILY, planner, seeds[:3], scale_steps))
        print(json.dumps(rows[-1]), flush=True)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "steps": steps,
        "seeds": f"0-{seeds[-1]}",
        "quick": args.quick,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mapf_throughput.json").write_text(json.dumps({"meta": meta, "rows": rows}))
    table = markdown(rows, meta)
    (args.out / "mapf_throughput.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
