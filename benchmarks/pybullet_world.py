"""Real-time factor of the PyBullet world with the CBF filter in every robot's loop (headless).

For 4, 16 and 64 robots the circle-swap family runs from reset (robots converge on the centre,
the densest case for contacts and the filter) through ``fleetpilot.sim.runner.ScenarioRun``:
neighbour-graph observation -> fixed tuner -> go-to-goal -> unicycle CBF filter -> wheel
velocity control -> physics. Every size runs with the current physics settings and, in the
same run and interleaved with them, with the previous ones (20 ms step, 2 cm contact breaking
threshold: ``PREVIOUS_WORLD``), so
that the ratio between the two is measured under the same machine load. Reported per size and
settings: the real-time factor per second of this process's CPU time (what an otherwise idle
core would give: the physics is single-threaded and on a shared machine waits for its core;
median and best of the repeats), the same by the wall clock, CPU milliseconds per control
tick, the share of CPU time spent in physics (``world.advance``, contacts included) and in the
safety filter, and contact starts. The machine's load average is recorded with the results.

    .venv/bin/python benchmarks/pybullet_world.py            # full run (~10 min)
    .venv/bin/python benchmarks/pybullet_world.py --quick    # a few ticks per size (smoke test)
    .venv/bin/python benchmarks/pybullet_world.py --tracking # wheel command tracking
    .venv/bin/python benchmarks/pybullet_world.py --sim-to-sim --episodes 4   # vs eval nav

``--tracking`` drives one robot through a sequence of unicycle commands under every physics
setting and reports how closely the base follows each one (steady-state speed and turn rate).

``--sim-to-sim`` runs the same layouts through ``fleetpilot eval nav`` (the batched training
environment) and ``fleetpilot sim`` (PyBullet) and puts success, collisions, deadlocks,
makespan and minimum distance side by side (``--with-previous``: PyBullet once more with the
previous physics settings).

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pybullet
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs.tuners import make_tuner  # noqa: E402
from fleetpilot.scenarios import load_scenario  # noqa: E402
from fleetpilot.sim.runner import ScenarioRun, SimConfig  # noqa: E402
from fleetpilot.sim.world import PREVIOUS_WORLD, PyBulletWorld, WorldConfig  # noqa: E402

SIZES = (4, 16, 64)
SETTINGS = {  # name -> physics settings; "current" is WorldConfig's defaults
    "current": WorldConfig(),
    "previous": PREVIOUS_WORLD,
}
TRACKING_SETTINGS = {
    **SETTINGS,
    "10 ms, cone (before the 20 ms step)": WorldConfig(
        physics_dt=0.01,
        cone_friction=True,
        contact_breaking_threshold=0.02,
    ),
    "33 ms": WorldConfig(physics_dt=0.1 / 3),
    "25 ms, contact threshold 5 mm": WorldConfig(contact_breaking_threshold=0.005),
}
TRACKING_COMMANDS = (  # [v m/s, omega rad/s], each held for 1 s
    (0.5, 0.0),
    (1.0, 0.0),
    (0.5, 1.5),
    (0.0, 3.0),
    (1.0, -1.0),
    (0.0, 0.0),
)
PREVIOUS_SIM_FLAGS = ["--previous-physics"]
SCENARIO = ROOT / "sim" / "scenarios" / "circle_swap_16.yaml"
TUNER = "fixed:alpha=1,gain=1"
TARGET_REAL_TIME_FACTOR = 20.0
TARGET_ROBOTS = 16


def time_run(scenario, num_agents: int, world: WorldConfig, ticks: int, warmup: int) -> dict:
    """Runs ``warmup`` + ``ticks`` control ticks and times the last ``ticks``."""
    instance = scenario.sample(seed=(0, 0, 0), num_agents=num_agents)
    config = SimConfig(physics_dt=world.physics_dt, max_steps=warmup + ticks, world=world)
    with ScenarioRun(instance, make_tuner(TUNER), config) as run:
        seconds = {"physics": 0.0, "filter": 0.0}

        def timed(name, function):
            def wrapper(*args, **kwargs):
                start = time.process_time()
                result = function(*args, **kwargs)
                seconds[name] += time.process_time() - start
                return result

            return wrapper

        run.world.advance = timed("physics", run.world.advance)
        run.filter = timed("filter", run.filter)
        for _ in range(warmup):
            run.step()
        seconds.update(physics=0.0, filter=0.0)
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(ticks):
            run.step()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        contacts = len(run.world.contacts)
    simulated = ticks * instance.dt
    return {
        "num_agents": num_agents,
        "physics_dt": world.physics_dt,
        "cone_friction": world.cone_friction,
        "ticks": ticks,
        "simulated_seconds": simulated,
        "wall_seconds": wall,
        "real_time_factor": simulated / wall,
        "cpu_seconds": cpu,
        "cpu_real_time_factor": simulated / cpu,
        "cpu_ms_per_tick": 1e3 * cpu / ticks,
        "physics_fraction": seconds["physics"] / cpu,
        "filter_fraction": seconds["filter"] / cpu,
        "contact_starts": contacts,
    }


def summarize_repeats(runs: list[dict]) -> list[dict]:
    """One row per (size, settings): medians (and the best CPU-time factor) over repeats, and
    the median over repeats of each repeat's ratio to the previous settings."""
    rows = []
    for num_agents in dict.fromkeys(r["num_agents"] for r in runs):
        for name in dict.fromkeys(r["settings"] for r in runs):
            mine = [r for r in runs if r["num_agents"] == num_agents and r["settings"] == name]
            baseline = {
                r["repeat"]: r
                for r in runs
                if r["num_agents"] == num_agents and r["settings"] == "previous"
            }
            ratios = [
                baseline[r["repeat"]]["cpu_seconds"] / r["cpu_seconds"]
                for r in mine
                if r["repeat"] in baseline
            ]
            cpu_factors = [r["cpu_real_time_factor"] for r in mine]
            rows.append(
                {
                    "num_agents": num_agents,
                    "settings": name,
                    "physics_dt": mine[0]["physics_dt"],
                    "cone_friction": mine[0]["cone_friction"],
                    "repeats": len(mine),
                    "cpu_real_time_factor": float(np.median(cpu_factors)),
                    "best_cpu_real_time_factor": max(cpu_factors),
                    "real_time_factor": float(np.median([r["real_time_factor"] for r in mine])),
                    "cpu_ms_per_tick": float(np.median([r["cpu_ms_per_tick"] for r in mine])),
                    "physics_fraction": float(np.median([r["physics_fraction"] for r in mine])),
                    "filter_fraction": float(np.median([r["filter_fraction"] for r in mine])),
                    "contact_starts": max(r["contact_starts"] for r in mine),
                    "speedup_vs_previous": float(np.median(ratios)) if ratios else None,
                }
            )
    return rows


def markdown(results: dict) -> str:
    lines = [
        "| robots | settings | real-time factor (CPU time, median) | (best) | (wall, median) "
        "| CPU ms/tick | physics share | filter share | contacts | speed-up vs previous |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["rows"]:
        settings = SETTINGS[row["settings"]]
        speedup = row["speedup_vs_previous"]
        lines.append(
            f"| {row['num_agents']} | {row['settings']} ({1e3 * settings.physics_dt:.0f} ms, "
            f"{1e2 * settings.contact_breaking_threshold:.0f} cm) | "
            f"{row['cpu_real_time_factor']:.1f}x | "
            f"{row['best_cpu_real_time_factor']:.1f}x | {row['real_time_factor']:.1f}x | "
            f"{row['cpu_ms_per_tick']:.1f} | {100 * row['physics_fraction']:.0f} % | "
            f"{100 * row['filter_fraction']:.0f} % | {row['contact_starts']} | "
            f"{'-' if speedup is None else f'{speedup:.2f}x'} |"
        )
    return "\n".join(lines)


def track_commands(world_config: WorldConfig, hold: float = 1.0, settle: float = 0.5) -> list:
    """One robot driven through ``TRACKING_COMMANDS``; per command the steady-state speed and
    turn rate over the last ``hold - settle`` seconds, from the poses (not the vibrating
    velocity read-back), and the largest sideways (slip) speed sampled every 0.1 s."""
    rows = []
    with PyBulletWorld(np.zeros((1, 3)), config=world_config) as world:
        for command in TRACKING_COMMANDS:
            world.command(np.array([command]))
            world.advance(settle)
            start, slip = world.poses()[0], 0.0
            for _ in range(round((hold - settle) / 0.1)):
                world.advance(0.1)
                heading = world.poses()[0, 2]
                linear, _ = world.velocities()
                slip = max(
                    slip, abs(-np.sin(heading) * linear[0, 0] + np.cos(heading) * linear[0, 1])
                )
            end = world.poses()[0]
            duration = hold - settle
            turn = (np.angle(np.exp(1j * (end[2] - start[2])))) / duration
            speed = float(np.hypot(*(end[:2] - start[:2]))) / duration
            if command[0] < 0:
                speed = -speed
            if abs(command[1]) > 1e-9 and abs(command[0]) > 1e-9:  # arcs: chord < arc length
                half = 0.5 * turn * duration
                speed *= half / np.sin(half) if abs(half) > 1e-9 else 1.0
            rows.append(
                {
                    "command": list(command),
                    "speed_error": speed - command[0],
                    "turn_rate_error": float(turn) - command[1],
                    "max_slip_speed": float(slip),
                }
            )
    return rows


def tracking_markdown(results: dict) -> str:
    commands = " | ".join(f"[{v:g}, {w:g}]" for v, w in TRACKING_COMMANDS)
    lines = [
        f"| settings | {commands} | mean abs error | max sideways speed |",
        "| --- |" + " ---: |" * (len(TRACKING_COMMANDS) + 2),
    ]
    for name, rows in results["settings"].items():
        cells = " | ".join(f"{r['speed_error']:+.3f} / {r['turn_rate_error']:+.3f}" for r in rows)
        mean_speed = np.mean([abs(r["speed_error"]) for r in rows])
        mean_turn = np.mean([abs(r["turn_rate_error"]) for r in rows])
        slip = max(r["max_slip_speed"] for r in rows)
        lines.append(f"| {name} | {cells} | {mean_speed:.3f} / {mean_turn:.3f} | {slip:.3f} |")
    lines.append("")
    lines.append(
        "Each cell: speed error [m/s] / turn-rate error [rad/s] of the command [v, omega]."
    )
    return "\n".join(lines)


SIM_TO_SIM_SCENARIOS = (
    "head_on_pair",
    "circle_swap_8",
    "circle_swap_16",
    "crossing_groups",
    "crossing_groups_unicycle",
    "corridor",
    "doorway",
    "random_field",
)
COMPARED = ("success_rate", "collisions", "deadlock_rate", "makespan", "min_distance")


def command_json(command: list[str]) -> dict:
    """Runs a ``fleetpilot`` command in a fresh process; returns its last stdout line as JSON."""
    result = subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def unicycle_copy(path: Path, directory: Path) -> Path:
    """The scenario file with every robot made a unicycle (the batched env's diff-drive model),
    so that the batched env and PyBullet run the same robot model; the layouts do not change."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.setdefault("robot", {})["dynamics"] = "unicycle"
    for agent in data.get("agents", []):
        agent.pop("dynamics", None)
    copy = directory / f"{path.stem}.yaml"
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")
    return copy


def sim_to_sim(
    scenarios: list[str], episodes: int, seed: int, tuner: str, with_previous: bool = False
) -> list[dict]:
    """The same layouts through ``fleetpilot eval nav`` (batched env: the scenario's own robot
    model, then unicycles) and ``fleetpilot sim`` (PyBullet, always differential drive; with
    ``with_previous`` once more with the previous physics settings)."""
    rows = []
    common = ["--tuner", tuner, "--episodes", str(episodes), "--seed", str(seed)]
    with tempfile.TemporaryDirectory() as directory:
        for name in scenarios:
            path = f"sim/scenarios/{name}.yaml"
            unicycle = unicycle_copy(ROOT / path, Path(directory))
            batched = command_json(["eval", "nav", "--scenario", path, *common, "--json"])
            as_unicycle = command_json(
                ["eval", "nav", "--scenario", str(unicycle), *common, "--json"]
            )
            physics = command_json(["sim", path, *common, "--no-progress"])
            previous = (
                command_json(["sim", path, *common, "--no-progress", *PREVIOUS_SIM_FLAGS])
                if with_previous
                else None
            )
            if (
                not batched["layout_seeds"]
                == as_unicycle["layout_seeds"]
                == physics["layout_seeds"]
            ):
                raise RuntimeError(f"{name}: the runs used different layouts")
            rows.append(
                {
                    "scenario": name,
                    "num_agents": physics["num_agents"],
                    "batched_env": {key: batched[key] for key in COMPARED},
                    "batched_env_unicycle": {key: as_unicycle[key] for key in COMPARED},
                    "pybullet": {key: physics[key] for key in COMPARED},
                    "pybullet_contacts_by_kind": physics["contacts_by_kind"],
                    "pybullet_real_time_factor": physics["real_time_factor"],
                    "pybullet_previous": None
                    if previous is None
                    else {key: previous[key] for key in COMPARED},
                    "pybullet_previous_contacts_by_kind": None
                    if previous is None
                    else previous["contacts_by_kind"],
                    "commands": [
                        f"fleetpilot eval nav --scenario {path} {' '.join(common)} --json",
                        f"fleetpilot sim {path} {' '.join(common)}",
                    ],
                }
            )
            print(f"{name}: done", file=sys.stderr)
    return rows


def sim_to_sim_markdown(rows: list[dict]) -> str:
    def show(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"

    def triple(row, key, digits=2):
        runs = [row["batched_env"], row["batched_env_unicycle"], row["pybullet"]]
        if row.get("pybullet_previous") is not None:
            runs.append(row["pybullet_previous"])
        return " / ".join(show(run[key], digits) for run in runs)

    def kinds(counts):
        return f"{counts['robot']}/{counts['obstacle']}/{counts['wall']}"

    lines = [
        "| scenario | N | success | collisions | deadlock rate | makespan [s] "
        "| min distance [m] | PyBullet contacts robot/obstacle/wall |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with_previous = False
    for row in rows:
        contacts = kinds(row["pybullet_contacts_by_kind"])
        if row.get("pybullet_previous_contacts_by_kind") is not None:
            with_previous = True
            contacts += " / " + kinds(row["pybullet_previous_contacts_by_kind"])
        lines.append(
            f"| {row['scenario']} | {row['num_agents']} | {triple(row, 'success_rate')} | "
            f"{triple(row, 'collisions', 0)} | {triple(row, 'deadlock_rate')} | "
            f"{triple(row, 'makespan', 1)} | {triple(row, 'min_distance')} | {contacts} |"
        )
    lines.append("")
    lines.append(
        "Each cell: batched env (scenario's model) / batched env (unicycle) / PyBullet"
        + (
            " / PyBullet with the previous physics settings (20 ms, 2 cm contact threshold)."
            if with_previous
            else "."
        )
    )
    return "\n".join(lines)


def write_results(results: dict, table: str, out: Path | None) -> None:
    print(table)
    print(json.dumps(results))
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few ticks per size")
    parser.add_argument("--ticks", type=int, default=200, help="timed control ticks per size")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved repeats of every size and setting"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON results to this file")
    parser.add_argument(
        "--tracking",
        action="store_true",
        help="instead: how closely one robot tracks wheel commands under each physics setting",
    )
    parser.add_argument(
        "--sim-to-sim",
        action="store_true",
        help="instead: compare success, collisions and makespan with the batched env",
    )
    parser.add_argument("--episodes", type=int, default=4, help="episodes per scenario")
    parser.add_argument("--seed", type=int, default=0, help="base layout seed (sim-to-sim)")
    parser.add_argument("--tuner", default=TUNER, help="tuner spec (sim-to-sim)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SIM_TO_SIM_SCENARIOS),
        help="comma-separated names in sim/scenarios/ (sim-to-sim)",
    )
    parser.add_argument(
        "--with-previous",
        action="store_true",
        help="sim-to-sim: also run PyBullet with the previous physics settings",
    )
    args = parser.parse_args()
    if args.sim_to_sim:
        rows = sim_to_sim(
            args.scenarios.split(","), args.episodes, args.seed, args.tuner, args.with_previous
        )
        results = {"benchmark": "pybullet_sim_to_sim", "tuner": args.tuner, "rows": rows}
        write_results(results, sim_to_sim_markdown(rows), args.out)
        return 0
    if args.tracking:
        results = {
            "benchmark": "pybullet_tracking",
            "commands": [list(c) for c in TRACKING_COMMANDS],
            "settings": {name: track_commands(c) for name, c in TRACKING_SETTINGS.items()},
        }
        write_results(results, tracking_markdown(results), args.out)
        return 0
    torch.set_num_threads(1)
    ticks, warmup, repeats = (2, 1, 1) if args.quick else (args.ticks, 5, args.repeats)
    scenario = load_scenario(SCENARIO)
    load_before = os.getloadavg()
    runs = []
    for repeat in range(repeats):  # interleaved, so that load changes hit every setting
        for num_agents in SIZES:
            for name, world in SETTINGS.items():
                run = time_run(scenario, num_agents, world, ticks, warmup)
                runs.append({"settings": name, "repeat": repeat, **run})
                print(f"{num_agents} robots, {name}, repeat {repeat}: done", file=sys.stderr)
    rows = summarize_repeats(runs)
    at_target = [
        r for r in rows if r["num_agents"] == TARGET_ROBOTS and r["settings"] == "current"
    ]
    results = {
        "benchmark": "pybullet_world",
        "scenario": scenario.name,
        "tuner": TUNER,
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "pybullet_api_version": pybullet.getAPIVersion(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "target_real_time_factor": TARGET_REAL_TIME_FACTOR,
        "target_robots": TARGET_ROBOTS,
        "target_met_cpu_time_median": bool(
            at_target and at_target[0]["cpu_real_time_factor"] >= TARGET_REAL_TIME_FACTOR
        ),
        "settings": {
            name: {
                "physics_dt": c.physics_dt,
                "cone_friction": c.cone_friction,
                "solver_iterations": c.solver_iterations,
                "contact_breaking_threshold": c.contact_breaking_threshold,
            }
            for name, c in SETTINGS.items()
        },
        "rows": rows,
        "runs": runs,
    }
    write_results(results, markdown(results), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
