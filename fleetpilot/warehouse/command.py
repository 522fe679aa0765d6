"""``fleetpilot sim WAREHOUSE.yaml [--pipeline learned|classical|FILE] [--planner ...]``.

A warehouse scenario file (``kind: warehouse``) runs the whole pipeline; its ``pipeline:``
section is the default stack, ``--pipeline`` picks a preset or a pipeline YAML file
(``config/pipelines/``), and ``--allocator``/``--planner``/``--controller``/``--tuner`` replace
single stages. Prints one JSON object: the stack and every episode's metrics.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import yaml

from fleetpilot.scenarios.loader import FieldReader, ScenarioError
from fleetpilot.warehouse.pipeline import PRESETS, PipelineSpec

UNSUPPORTED_FLAGS = {"lidar": "--lidar", "silent_robots": "--silent-robots"}
AVERAGED = (
    "tasks_delivered",
    "deliveries_per_hour",
    "mean_delivery_time",
    "value_earned",
    "collisions",
    "deadlock_events",
    "deadlocked_at_end",
    "intervention_rate",
    "real_time_factor",
)


def load_pipeline(spec: str) -> PipelineSpec:
    """A preset name (``classical``, ``learned``) or a YAML file of pipeline fields.

    Raises:
        ValueError: naming the file and key, or listing the presets.
    """
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(
            f"--pipeline: expected one of {', '.join(PRESETS)} or a YAML file, got {spec!r}"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ScenarioError(f"{spec}: not valid YAML: {error}") from error
    reader = FieldReader(spec)
    return reader.build(PipelineSpec, "", **reader.flat(PipelineSpec, data, ""))


def pipeline_from_args(default: PipelineSpec, args: argparse.Namespace) -> PipelineSpec:
    """The scenario's stack, then ``--pipeline``, then single-stage flags."""
    base = load_pipeline(args.pipeline) if args.pipeline else default
    return base.with_stages(
        allocator=args.allocator,
        planner=args.planner,
        controller=args.controller,
        tuner=args.tuner,
    )


def mean_metrics(episodes: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per-key means over episodes (None where no episode has a finite value)."""
    means: dict[str, float | None] = {}
    for key in AVERAGED:
        values = [episode[key] for episode in episodes if episode[key] is not None]
        means[key] = statistics.fmean(values) if values else None
    return means


def run_warehouse(args: argparse.Namespace) -> dict[str, Any]:
    """Runs ``args.episodes`` warehouse episodes (seeds ``args.seed``, ``args.seed + 1``, ...)."""
    from fleetpilot.sim.runner import SimConfig
    from fleetpilot.warehouse.run import WarehouseRun
    from fleetpilot.warehouse.scenario import load_warehouse

    for name, flag in UNSUPPORTED_FLAGS.items():
        if getattr(args, name, None):
            raise ValueError(f"{flag}: not available for warehouse scenarios")
    if args.episodes < 1:
        raise ValueError(f"--episodes: expected an integer >= 1, got {args.episodes}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected an integer >= 0, got {args.seed}")
    scenario = load_warehouse(args.scenario)
    pipeline = pipeline_from_args(scenario.pipeline, args)
    episodes, recording = [], None
    for episode in range(args.episodes):
        instance = scenario.sample(seed=args.seed + episode, num_robots=args.agents)
        config = SimConfig(
            physics_dt=args.physics_dt,
            world=args.world,
            gui=args.gui,
            real_time=args.gui,
            max_steps=args.max_steps,
            perception_seed=args.seed + episode,
        )
        recorder = None
        if args.record and episode == 0:
            from fleetpilot.warehouse.recorder import WarehouseRecorder

            recorder = WarehouseRecorder(
                args.record, instance, animation_format=getattr(args, "animation", "mp4")
            )
        with WarehouseRun(instance, pipeline, config) as run:
            if recorder is not None:
                recorder.attach(run)
            run.run(on_tick=recorder, progress=not args.no_progress)
            metrics = run.metrics().to_dict()
        episodes.append(metrics)
        if recorder is not None:
            recording = recorder.finish(metrics)
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "num_robots": episodes[0]["num_robots"],
        "pipeline": {
            "allocator": pipeline.allocator,
            "planner": pipeline.planner,
            "controller": pipeline.controller,
            "tuner": pipeline.tuner,
            "allocation_period": pipeline.allocation_period,
        },
        "seed": args.seed,
        "simulator": "pybullet",
        "physics_dt": args.physics_dt,
        "mean": mean_metrics(episodes),
        "episodes": episodes,
    }
    if recording is not None:
        summary["recording"] = recording
    return summary
