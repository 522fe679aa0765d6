"""External check: our planners as policies inside POGEMA's own lifelong environment.

One command: ``python benchmarks/pogema_check.py`` (``--quick`` for a smoke run). On first use it
creates ``build/pogema-venv`` (git-ignored) and installs ``pogema==1.4.0`` there, because POGEMA
pins old numpy/pydantic/gymnasium. POGEMA then runs in that interpreter as a subprocess
(``--serve``), talking JSON lines over stdin/stdout, while our planners run here. For every
(map family, seed) the same planner also runs in our simulator on the same map and seed, and the
report puts POGEMA's ``avg_throughput`` beside ours, plus the step at which the two runs first
differ in any agent position or goal (``null`` = identical for the whole episode).

Families: POGEMA's own random generator (``GridConfig(size, density, seed)``, which our
``random_map`` reproduces exactly), our maze generator passed as a string map, and POGEMA's
``wfi_warehouse`` layout (our ``warehouse_map``), all with ``on_target='restart'``,
``collision_system='soft'``, 256 steps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "build" / "pogema-venv"
POGEMA_REQUIREMENT = "pogema==1.4.0"


def serve() -> int:
    """Run inside the pogema virtualenv: one environment at a time, driven over stdin/stdout."""
    from pogema import GridConfig, pogema_v0

    env = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "reset":
            fields = dict(
                num_agents=request["num_agents"],
                seed=request["seed"],
                max_episode_steps=request["steps"],
                on_target="restart",
                collision_system="soft",
                obs_radius=5,
                observation_type="MAPF",
            )
            if request.get("map") is not None:
                fields["map"] = request["map"]
            else:
                fields.update(size=request["size"], density=request["density"])
            env = pogema_v0(GridConfig(**fields))
            env.reset()
            obstacles = env.grid.get_obstacles(ignore_borders=True).astype(int).tolist()
            reply = {"obstacles": obstacles}
        elif request["cmd"] == "step":
            _, _, terminated, truncated, infos = env.step(request["actions"])
            reply = {"done": bool(all(terminated) or all(truncated))}
            reply["metrics"] = infos[0].get("metrics", {})
        else:
            raise ValueError(f"unknown command {request['cmd']!r}")
        reply["positions"] = [list(p) for p in env.grid.get_agents_xy(ignore_borders=True)]
        reply["targets"] = [list(p) for p in env.grid.get_targets_xy(ignore_borders=True)]
        print(json.dumps(reply, default=_plain), flush=True)
    return 0


def _plain(value):
    """numpy scalars -> Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else str(value)


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV.relative_to(ROOT)} with {POGEMA_REQUIREMENT} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    check = subprocess.run([str(python), "-c", "import pogema"], capture_output=True)
    if check.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", POGEMA_REQUIREMENT], check=True
        )
    return python


class PogemaProcess:
    """The POGEMA server subprocess."""

    def __init__(self, python: Path) -> None:
        self._process = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": ""},
        )

    def request(self, **message) -> dict:
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the POGEMA server exited; see its error output above")
        return json.loads(line)

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=30)


def families(quick: bool) -> list[dict]:
    from fleetpilot.mapf.generators import maze_map, warehouse_map
    from fleetpilot.mapf.string_maps import format_string_map

    return [
        {"name": "random 20x20 d0.2", "agents": 64, "size": 20, "density": 0.2},
        {
            "name": "maze 21x21",
            "agents": 64,
            "grid": lambda seed: maze_map(21, 21, seed),
            "string": lambda grid: format_string_map(grid),
        },
        {
            "name": "warehouse 46x33",
            "agents": 96 if quick else 192,
            "grid": lambda seed: warehouse_map(),
            "string": lambda grid: format_string_map(grid),
        },
    ]


def run_pair(server: PogemaProcess, family: dict, planner_name: str, seed: int, steps: int):
    import numpy as np

    from fleetpilot.mapf.generators import random_map
    from fleetpilot.mapf.planners import make_planner
    from fleetpilot.mapf.simulator import LifelongSim, SimConfig

    if "grid" in family:
        grid = family["grid"](seed)
        reply = server.request(
            cmd="reset", map=family["string"](grid), num_agents=family["agents"], seed=seed,
            steps=steps,
        )  # fmt: skip
    else:
        grid = random_map(family["size"], family["size"], family["density"], seed)
        reply = server.request(
            cmd="reset", size=family["size"], density=family["density"],
            num_agents=family["agents"], seed=seed, steps=steps,
        )  # fmt: skip
    same_map = bool(np.array_equal(np.array(reply["obstacles"], dtype=bool), grid.blocked))
    sim = LifelongSim(grid, SimConfig(num_agents=family["agents"], max_steps=steps, seed=seed))
    ours, theirs = make_planner(planner_name), make_planner(planner_name)
    ours.reset(grid, sim.positions.copy(), sim.goals.copy(), seed)
    positions, targets = np.array(reply["positions"]), np.array(reply["targets"])
    theirs.reset(grid, positions.copy(), targets.copy(), seed)
    first_difference = None
    if not (np.array_equal(positions, sim.positions) and np.array_equal(targets, sim.goals)):
        first_difference = 0
    metrics: dict = {}
    for step in range(1, steps + 1):
        sim.step(ours.act(sim.positions.copy(), sim.goals.copy()))
        actions = theirs.act(positions.copy(), targets.copy())
        reply = server.request(cmd="step", actions=[int(a) for a in actions])
        positions, targets = np.array(reply["positions"]), np.array(reply["targets"])
        metrics = reply["metrics"] or metrics
        if first_difference is None and not (
            np.array_equal(positions, sim.positions) and np.array_equal(targets, sim.goals)
        ):
            first_difference = step
    return {
        "family": family["name"],
        "agents": family["agents"],
        "planner": planner_name,
        "seed": seed,
        "same_map": same_map,
        "pogema_avg_throughput": metrics.get("avg_throughput"),
        "ours_avg_throughput": sim.goals_reached / steps,
        "first_difference_step": first_difference,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1 seed x 32 steps, smoke test")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument(
        "--planners", default="follower-planner,follower,follower-pibt,pibt,pibt-traffic"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    if args.serve:
        return serve()
    sys.path.insert(0, str(ROOT))
    from fleetpilot.mapf.planners.base import runnable_planners

    planners, skipped = runnable_planners(args.planners.split(","))
    if skipped:
        print(f"policies/follower not found: skipping {skipped}", file=sys.stderr)
    server = PogemaProcess(ensure_venv())
    seeds = range(1 if args.quick else args.seeds)
    steps = 32 if args.quick else args.steps
    rows = []
    try:
        for family in families(args.quick):
            for planner_name in planners:
                for seed in seeds:
                    rows.append(run_pair(server, family, planner_name, seed, steps))
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        server.close()
    lines = [
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}, {steps} steps, "
        f"seeds 0-{max(seeds)}, {POGEMA_REQUIREMENT}.",
        "",
        "| map (agents) | planner | POGEMA avg_throughput | ours | identical runs |",
        "|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["family"], row["agents"], row["planner"]), []).append(row)
    for (family, agents, planner_name), group in groups.items():
        pogema = sum(r["pogema_avg_throughput"] for r in group) / len(group)
        ours = sum(r["ours_avg_throughput"] for r in group) / len(group)
        identical = sum(r["first_difference_step"] is None for r in group)
        lines.append(
            f"| {family} ({agents}) | {planner_name} | {pogema:.3f} | {ours:.3f} | "
            f"{identical}/{len(group)} |"
        )
    table = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pogema_check.json").write_text(json.dumps(rows))
    (args.out / "pogema_check.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
