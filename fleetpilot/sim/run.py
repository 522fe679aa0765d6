"""Run a scenario in the PyBullet world with the tuned CBF filter in every robot's loop.

Examples::

    fleetpilot sim sim/scenarios/circle_swap_16.yaml --tuner fixed:alpha=1,gain=1
    fleetpilot sim sim/scenarios/doorway.yaml --tuner policies/gnn_tuner --record runs/doorway
    fleetpilot sim sim/scenarios/head_on_pair.yaml --gui
    fleetpilot sim sim/scenarios/warehouse_16.yaml --pipeline learned --record runs/warehouse

Prints the metrics as one JSON object on stdout, with the keys of ``fleetpilot eval nav --json``
(collisions are PyBullet contacts; walls count as obstacles, and ``contacts_by_kind`` splits
them into robot pairs, obstacles and walls). Episode e runs the layout
``scenario.sample(seed=(SEED, e, 0))``, the one ``fleetpilot eval nav --seed SEED`` gives its
environment e, so both simulators can be compared layout by layout. With ``--record OUT`` the
first episode is written to OUT: an animation, plots, a ROS 2 bag (MCAP) and the metrics.
Warehouse scenario files (``kind: warehouse``) run the whole pipeline instead
(``fleetpilot.warehouse.command``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

DEFAULT_TUNER = "fixed:alpha=1,gain=1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario YAML file (see sim/scenarios/)")
    parser.add_argument(
        "--tuner",
        help=f"fixed:alpha=A,gain=K[,tangential=B] or a learned tuner's directory "
        f"(default: {DEFAULT_TUNER}, or a warehouse pipeline's tuner)",
    )
    stages = parser.add_argument_group("warehouse pipeline (kind: warehouse scenarios)")
    stages.add_argument("--pipeline", help="classical, learned, or a pipeline YAML file")
    stages.add_argument("--allocator", help="task allocator, e.g. greedy, two-stage")
    stages.add_argument("--planner", help="MAPF planner, e.g. pibt, follower")
    stages.add_argument(
        "--controller",
        help="nominal controller: go-to-goal, or flow[:DIR] (a learned policy, default "
        "DIR policies/flow_nav)",
    )
    parser.add_argument(
        "--nominal",
        metavar="TYPE",
        help="nominal controller: go-to-goal, or waypoints (A* on the static map, then "
        "go-to-goal at the next waypoint); default: the scenario file's nominal.type",
    )
    parser.add_argument("--gui", action="store_true", help="open PyBullet's window (real time)")
    parser.add_argument(
        "--record", type=Path, metavar="OUT", help="write animation, plots and a bag to OUT"
    )
    parser.add_argument(
        "--animation",
        choices=("mp4", "gif"),
        default="mp4",
        help="format of the recorded animation (mp4 needs PyAV; falls back to gif)",
    )
    parser.add_argument("--episodes", type=int, default=1, help="episodes (layouts) to run")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the layouts")
    parser.add_argument("--agents", type=int, help="override the team size of a family")
    parser.add_argument("--max-steps", type=int, help="override the episode length [ticks]")
    parser.add_argument(
        "--physics-dt",
        type=float,
        help="fixed physics step [s] (divides dt; default: the physics settings' own, 25 ms)",
    )
    parser.add_argument(
        "--previous-physics",
        action="store_true",
        help="the physics settings used before the 25 ms default (20 ms step, 2 cm contact "
        "breaking threshold), for comparisons",
    )
    parser.add_argument(
        "--lidar",
        action="store_true",
        help="obstacles and walls are seen only by each robot's simulated lidar",
    )
    parser.add_argument(
        "--silent-robots",
        type=int,
        default=0,
        help="the last K robots report nothing: only lidars see them (needs --lidar)",
    )
    parser.add_argument("--per-agent", action="store_true", help="include per-agent lists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def _episode_seed(seed: int, episode: int, stream: int) -> int:
    """One seed per (base seed, episode) for ``stream`` (0 layout, 1 perception, 2 tuner noise),
    independent of the other streams."""
    return int(np.random.SeedSequence((seed, episode, stream)).generate_state(1)[0])


def perception_seed(seed: int, episode: int) -> int:
    """A perception noise seed per (base seed, episode), independent of the layout stream."""
    return _episode_seed(seed, episode, 1)


def tuner_noise_seed(seed: int, episode: int) -> int:
    """A sampling tuner's noise seed per (base seed, episode): with one noise stream for all,
    the episodes of an exactly symmetric scenario (a circle swap) are one draw repeated."""
    return _episode_seed(seed, episode, 2)


def run_scenario(args: argparse.Namespace) -> dict:
    """Runs ``args.episodes`` episodes; returns the summary (and writes the recording)."""
    from fleetpilot.envs.metrics import summarize
    from fleetpilot.envs.tuners import make_tuner
    from fleetpilot.scenarios import load_scenario
    from fleetpilot.scenarios.schema import NOMINAL_TYPES
    from fleetpilot.sim.lidar import LidarConfig
    from fleetpilot.sim.recorder import RunRecorder
    from fleetpilot.sim.runner import ScenarioRun, SimConfig
    from fleetpilot.sim.scenario_world import radius_mismatches
    from fleetpilot.sim.world import PREVIOUS_WORLD, WorldConfig
    from fleetpilot.warehouse.scenario import is_warehouse_file

    args.world = PREVIOUS_WORLD if args.previous_physics else WorldConfig()
    if args.physics_dt is None:
        args.physics_dt = args.world.physics_dt
    WorldConfig(physics_dt=args.physics_dt)  # a bad step fails here, naming the field
    if is_warehouse_file(args.scenario):
        from fleetpilot.warehouse.command import run_warehouse

        if getattr(args, "nominal", None):
            raise ValueError(
                "--nominal: warehouse scenarios follow their planner's waypoints "
                "(choose the pipeline's --planner and --controller)"
            )

        return run_warehouse(args)
    for flag in ("pipeline", "allocator", "planner", "controller"):
        if getattr(args, flag, None):
            raise ValueError(f"--{flag}: only warehouse scenarios have a pipeline")
    if args.episodes < 1:
        raise ValueError(f"--episodes: expected an integer >= 1, got {args.episodes}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected an integer >= 0, got {args.seed}")
    scenario = load_scenario(args.scenario)
    nominal = scenario.nominal
    if getattr(args, "nominal", None) is not None:
        if args.nominal not in NOMINAL_TYPES:
            raise ValueError(
                f"--nominal: expected one of {', '.join(NOMINAL_TYPES)}, got {args.nominal!r}"
            )
        nominal = dataclasses.replace(nominal, type=args.nominal)
    args.tuner = args.tuner or DEFAULT_TUNER
    tuner = make_tuner(args.tuner)
    episodes, layout_seeds, noise_seeds = [], [], []
    contacts_by_kind: dict[str, int] = {}
    steps = sim_seconds = wall_seconds = 0.0
    recording = None
    for episode in range(args.episodes):
        layout_seed = (args.seed, episode, 0)
        noise_seeds.append(tuner_noise_seed(args.seed, episode))
        instance = scenario.sample(seed=layout_seed, num_agents=args.agents)
        mismatched = radius_mismatches(instance)
        if mismatched and episode == 0:
            print(
                f"note: agents {mismatched} have a radius other than the URDF body's; "
                "PyBullet contacts use the URDF body, distances use the scenario's radii",
                file=sys.stderr,
            )
        config = SimConfig(
            physics_dt=args.physics_dt,
            gui=args.gui,
            real_time=args.gui,
            max_steps=args.max_steps,
            perception_seed=perception_seed(args.seed, episode),
            tuner_noise_seed=noise_seeds[-1],
            # Range just beyond the sensing radius: farther returns are gated out anyway, and
            # long rays cost ray-test time.
            lidar=LidarConfig(range_max=1.5 * instance.sensing_radius) if args.lidar else None,
            silent_robots=args.silent_robots,
            world=args.world,
            nominal=nominal,
        )
        recorder = None
        if args.record and episode == 0:
            recorder = RunRecorder(args.record, instance, animation_format=args.animation)
            for note in recorder.notes:
                print(f"note: {note}", file=sys.stderr)
        with ScenarioRun(instance, tuner, config) as run:
            run.run(on_tick=recorder, progress=not args.no_progress)
            result = run.episode()
            for kind, count in run.contact_counts().items():
                contacts_by_kind[kind] = contacts_by_kind.get(kind, 0) + count
            steps += run.steps
            sim_seconds += run.steps * instance.dt
            wall_seconds += run.wall_seconds
        episodes.append(result)
        layout_seeds.append(list(layout_seed))
        if recorder is not None:
            first = {"scenario": scenario.name, **result.to_dict(per_agent=True)}
            recording = recorder.finish(first)
    summary = {
        "scenario": scenario.name,
        "num_agents": instance.num_agents,
        "seed": args.seed,
        **summarize(episodes, per_agent=args.per_agent),
        "layout_seeds": layout_seeds,
        "tuner_noise_seeds": noise_seeds,
        "tuner": args.tuner,
        "simulator": "pybullet",
        "contacts_by_kind": contacts_by_kind,
        "physics_dt": args.physics_dt,
        "sensing": "lidar" if args.lidar else "known obstacles",
        "silent_robots": args.silent_robots,
        "nominal": nominal.type,
        "real_time_factor": round(sim_seconds / max(wall_seconds, 1e-9), 2),
    }
    if recording is not None:
        summary["recording"] = recording
    return summary


def main(args: argparse.Namespace) -> int:
    import torch

    threads = torch.get_num_threads()
    # One robot's tensors are tiny: extra threads only add synchronisation on a busy machine.
    torch.set_num_threads(max(1, args.threads))
    try:
        summary = run_scenario(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
    print(json.dumps(summary))
    if "recording" in summary:
        print(f"recording written to {args.record}/:", file=sys.stderr)
        for name, path in summary["recording"].items():
            print(f"  {name:<18} {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m fleetpilot.sim.run", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
