"""Real-time factor of the PyBullet world with the CBF filter in every robot's loop (headless).

For 4, 16 and 64 robots the circle-swap family runs from reset (robots converge on the centre,
the densest case for contacts and the filter) through ``fleetpilot.sim.runner.ScenarioRun``:
neighbour-graph observation -> fixed tuner -> go-to-goal -> unicycle CBF filter -> wheel
velocity control -> physics at the chosen step. Reported per size and physics step: the
real-time factor (simulated seconds per wall-clock second of the loop), the same per second of
this process's CPU time (what an otherwise idle core would give: the physics is single-threaded
and on a shared machine waits for its core), milliseconds per control tick, and the shares of
wall time spent in physics (``world.advance``, contacts included) and in the safety filter.
The machine's load average is recorded with the results.

    .venv/bin/python benchmarks/pybullet_world.py            # full run
    .venv/bin/python benchmarks/pybullet_world.py --quick    # a few ticks per size (smoke test)
    .venv/bin/python benchmarks/pybullet_world.py --sim-to-sim --episodes 4   # vs eval nav

``--sim-to-sim`` runs the same layouts through ``fleetpilot eval nav`` (the batched training
environment) and ``fleetpilot sim`` (PyBullet) and puts success, collisions, deadlocks,
makespan and minimum distance side by side.

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

import pybullet
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs.tuners import make_tuner  # noqa: E402
from fleetpilot.scenarios import load_scenario  # noqa: E402
from fleetpilot.sim.runner import ScenarioRun, SimConfig  # noqa: E402

SIZES = (4, 16, 64)
PHYSICS_STEPS = (0.01, 0.02)
SCENARIO = ROOT / "sim" / "scenarios" / "circle_swap_16.yaml"
TUNER = "fixed:alpha=1,gain=1"
TARGET_REAL_TIME_FACTOR = 20.0
TARGET_ROBOTS = 16


def time_run(scenario, num_agents: int, physics_dt: float, ticks: int, warmup: int) -> dict:
    """Runs ``warmup`` + ``ticks`` control ticks and times the last ``ticks``."""
    instance = scenario.sample(seed=(0, 0, 0), num_agents=num_agents)
    config = SimConfig(physics_dt=physics_dt, max_steps=warmup + ticks)
    with ScenarioRun(instance, make_tuner(TUNER), config) as run:
        seconds = {"physics": 0.0, "filter": 0.0}

        def timed(name, function):
            def wrapper(*args, **kwargs):
                start = time.perf_counter()
                result = function(*args, **kwargs)
                seconds[name] += time.perf_counter() - start
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
        "physics_dt": physics_dt,
        "ticks": ticks,
        "simulated_seconds": simulated,
        "wall_seconds": wall,
        "real_time_factor": simulated / wall,
        "cpu_seconds": cpu,
        "cpu_real_time_factor": simulated / cpu,
        "ms_per_tick": 1e3 * wall / ticks,
        "physics_fraction": seconds["physics"] / wall,
        "filter_fraction": seconds["filter"] / wall,
        "contact_starts": contacts,
    }


def markdown(results: dict) -> str:
    lines = [
        "| robots | physics step | real-time factor (wall) | (CPU time) | ms/tick "
        "| physics share | filter share | contacts |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["runs"]:
        lines.append(
            f"| {row['num_agents']} | {1e3 * row['physics_dt']:.0f} ms | "
            f"{row['real_time_factor']:.1f}x | {row['cpu_real_time_factor']:.1f}x | "
            f"{row['ms_per_tick']:.1f} | "
            f"{100 * row['physics_fraction']:.0f} % | {100 * row['filter_fraction']:.0f} % | "
            f"{row['contact_starts']} |"
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


def sim_to_sim(scenarios: list[str], episodes: int, seed: int, tuner: str) -> list[dict]:
    """The same layouts through ``fleetpilot eval nav`` (batched env: the scenario's own robot
    model, then unicycles) and ``fleetpilot sim`` (PyBullet, always differential drive)."""
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
        runs = (row["batched_env"], row["batched_env_unicycle"], row["pybullet"])
        return " / ".join(show(run[key], digits) for run in runs)

    lines = [
        "| scenario | N | success | collisions | deadlock rate | makespan [s] "
        "| min distance [m] | PyBullet contacts robot/obstacle/wall |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        kinds = row["pybullet_contacts_by_kind"]
        lines.append(
            f"| {row['scenario']} | {row['num_agents']} | {triple(row, 'success_rate')} | "
            f"{triple(row, 'collisions', 0)} | {triple(row, 'deadlock_rate')} | "
            f"{triple(row, 'makespan', 1)} | {triple(row, 'min_distance')} | "
            f"{kinds['robot']}/{kinds['obstacle']}/{kinds['wall']} |"
        )
    lines.append("")
    lines.append("Each cell: batched env (scenario's model) / batched env (unicycle) / PyBullet.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few ticks per size")
    parser.add_argument("--ticks", type=int, default=200, help="timed control ticks per size")
    parser.add_argument("--out", type=Path, help="also write the JSON results to this file")
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
    args = parser.parse_args()
    if args.sim_to_sim:
        rows = sim_to_sim(args.scenarios.split(","), args.episodes, args.seed, args.tuner)
        results = {"benchmark": "pybullet_sim_to_sim", "tuner": args.tuner, "rows": rows}
        print(sim_to_sim_markdown(rows))
        print(json.dumps(results))
        if args.out is not None:
            args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        return 0
    torch.set_num_threads(1)
    ticks, warmup = (2, 1) if args.quick else (args.ticks, 5)
    scenario = load_scenario(SCENARIO)
    load_before = os.getloadavg()
    runs = []
    for physics_dt in PHYSICS_STEPS[:1] if args.quick else PHYSICS_STEPS:
        for num_agents in SIZES:
            runs.append(time_run(scenario, num_agents, physics_dt, ticks, warmup))
            print(f"{num_agents} robots, physics {physics_dt} s: done", file=sys.stderr)
    at_target = [r for r in runs if r["num_agents"] == TARGET_ROBOTS]
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
        "target_met": {  # per physics step: (by wall clock, by CPU time)
            str(r["physics_dt"]): (
                r["real_time_factor"] >= TARGET_REAL_TIME_FACTOR,
                r["cpu_real_time_factor"] >= TARGET_REAL_TIME_FACTOR,
            )
            for r in at_target
        },
        "runs": runs,
    }
    print(markdown(results))
    print(json.dumps(results))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
