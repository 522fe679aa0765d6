"""Recording a simulated run to a folder people can watch and replay.

The folder holds ``animation.mp4`` (top-down view; ``animation.gif`` when asked for, or when
PyAV is not installed), ``min_distance.png`` and ``alpha.png`` (plots over time), ``bag/`` (a
ROS 2 MCAP bag with every robot's odometry, nominal and safe command, safety status and CBF
parameters, and its lidar scans when the run has lidars) and ``metrics.json`` (the run's
summary).
"""

from __future__ import annotations

import json
from pathlib import Path

from fleetpilot.safety.status import SafetyMode
from fleetpilot.scenarios import ScenarioInstance
from fleetpilot.sim.bag import BagWriter
from fleetpilot.sim.recording import (
    ANIMATION_FORMATS,
    RunRecord,
    mp4_available,
    write_animation,
    write_plots,
)
from fleetpilot.sim.runner import Tick
from fleetpilot.sim.scenario_world import robot_names

BAG_FOLDER = "bag"
ANIMATION_STEM = "animation"
METRICS_FILE = "metrics.json"
STATUS_REASONS = {
    SafetyMode.RELAXED: "a barrier was already violated; solved the slack-relaxed problem",
    SafetyMode.BRAKING: "the relaxed problem had no solution; braking",
}


class RunRecorder:
    """Collects every tick of a run; ``finish`` writes the animation, plots and summary.

    The bag is written while the run goes (messages are not kept in memory).

    Args:
        directory: the output folder (created; an existing bag in it is an error, so earlier
            recordings are never overwritten silently).
        instance: the scenario instance being run.
        max_frames: animation frames at most (the run is subsampled evenly).
        animation_format: ``"mp4"`` or ``"gif"``; MP4 falls back to GIF (with a note in
            ``notes``) when PyAV is not installed.

    Raises:
        ValueError: naming ``animation_format`` when it is neither.
    """

    def __init__(
        self,
        directory: str | Path,
        instance: ScenarioInstance,
        max_frames: int = 200,
        animation_format: str = "mp4",
    ):
        if animation_format not in ANIMATION_FORMATS:
            raise ValueError(
                f"animation_format: expected one of {', '.join(ANIMATION_FORMATS)}, "
                f"got {animation_format!r}"
            )
        self.notes: list[str] = []
        if animation_format == "mp4" and not mp4_available():
            animation_format = "gif"
            self.notes.append("MP4 needs PyAV (pip install av); wrote the animation as GIF")
        self.animation_file = f"{ANIMATION_STEM}.{animation_format}"
        self.directory = Path(directory)
        bag_path = self.directory / BAG_FOLDER
        if bag_path.exists():
            raise FileExistsError(
                f"--record: {bag_path} already exists; choose a new folder or remove it"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.names = robot_names(instance.num_agents)
        self.max_frames = max_frames
        self.record = RunRecord(
            goals=instance.goals,
            radii=instance.radii,
            obstacles=instance.obstacles,
            sensing_radius=instance.sensing_radius,
            safety_distance=instance.safety_distance,
            arena=instance.arena.bounds,
        )
        self.bag = BagWriter(bag_path)

    def __call__(self, tick: Tick) -> None:
        """Records one tick (pass the recorder as ``ScenarioRun.run(on_tick=...)``)."""
        self.record.append(tick.time, tick.poses, tick.status, tick.alpha, tick.min_distance)
        self.bag.transforms(tick.time, self.names, tick.poses)
        for index, name in enumerate(self.names):
            self.bag.odometry(
                name, tick.time, tick.poses[index], tick.velocities[index], tick.yaw_rates[index]
            )
            self.bag.command(name, tick.time, tick.nominal[index], topic="cmd_vel_nominal")
            self.bag.command(name, tick.time, tick.commands[index])
            self.bag.safety_status(
                name,
                tick.time,
                mode=int(tick.status[index]),
                min_barrier=float(tick.min_barrier[index]),  # inf: nothing in range
                solve_time=float(tick.solve_time[index]),
                num_constraints=int(tick.num_constraints[index]),
                reason=STATUS_REASONS.get(int(tick.status[index]), ""),
            )
            self.bag.cbf_params(
                name,
                tick.time,
                alpha=float(tick.alpha[index]),
                nominal_gain=float(tick.gain[index]),
                safety_distance=self.record.safety_distance,
                tangential_gain=float(tick.tangential[index]),
            )
            if tick.scans is not None:
                self.bag.laser_scan(name, tick.time, tick.scans[index], tick.scan_geometry)

    def finish(self, summary: dict | None = None) -> dict[str, str]:
        """Closes the bag, writes the animation, plots and summary; returns name -> path."""
        self.bag.close()
        paths = {"bag": self.directory / BAG_FOLDER}
        if self.record.times:
            paths["animation"] = write_animation(
                self.record, self.directory / self.animation_file, max_frames=self.max_frames
            )
            distance_plot, alpha_plot = write_plots(self.record, self.directory)
            paths["min_distance_plot"], paths["alpha_plot"] = distance_plot, alpha_plot
        if summary is not None:
            paths["metrics"] = self.directory / METRICS_FILE
            paths["metrics"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return {name: str(path) for name, path in paths.items()}
