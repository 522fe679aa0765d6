"""Recording a simulated run: trajectories in memory, then an animation and plots on disk.

The animation is a top-down GIF (robots as discs coloured by safety mode, trails, goals,
sensing radii, obstacles); the plots show the minimum pairwise distance against the safety
distance, and each robot's CBF alpha, over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fleetpilot.safety.status import SafetyMode

MODE_COLOURS = {
    SafetyMode.NOMINAL: "#2b7bba",
    SafetyMode.FILTERED: "#f0a202",
    SafetyMode.RELAXED: "#d1495b",
    SafetyMode.BRAKING: "#8e0000",
    SafetyMode.STOPPED: "#555555",
}


@dataclass
class RunRecord:
    """Per-tick history of one run.

    Attributes:
        goals: (N, 2) goal positions [m].
        radii: (N,) body radii [m].
        obstacles: (M, 3) [x, y, r] [m].
        sensing_radius: perception range [m].
        safety_distance: the distance the filter keeps between robot centres [m].
        arena: (x_min, y_min, x_max, y_max) [m] or None.
    """

    goals: np.ndarray
    radii: np.ndarray
    obstacles: np.ndarray
    sensing_radius: float
    safety_distance: float
    arena: tuple[float, float, float, float] | None = None
    times: list[float] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)
    modes: list[np.ndarray] = field(default_factory=list)
    alphas: list[np.ndarray] = field(default_factory=list)
    min_distances: list[float] = field(default_factory=list)

    def append(self, time: float, poses: np.ndarray, modes: np.ndarray, alphas: np.ndarray,
               min_distance: float) -> None:  # fmt: skip
        self.times.append(float(time))
        self.poses.append(np.array(poses, dtype=float))
        self.modes.append(np.array(modes, dtype=int))
        self.alphas.append(np.array(alphas, dtype=float))
        self.min_distances.append(float(min_distance))


def _limits(record: RunRecord) -> tuple[float, float, float, float]:
    if record.arena is not None:
        return record.arena
    points = np.concatenate([np.concatenate(record.poses)[:, :2], record.goals])
    margin = 1.0 + record.radii.max()
    (x0, y0), (x1, y1) = points.min(0) - margin, points.max(0) + margin
    return x0, y0, x1, y1


def write_animation(record: RunRecord, path: Path, fps: int = 10, max_frames: int = 200) -> Path:
    """Top-down GIF of the run, subsampled to at most ``max_frames`` frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle

    frames = np.unique(np.linspace(0, len(record.times) - 1, max_frames).astype(int))
    x0, y0, x1, y1 = _limits(record)
    figure, axes = plt.subplots(figsize=(6, 6 * (y1 - y0) / (x1 - x0)), dpi=80)
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    axes.set_aspect("equal")
    axes.set_xlabel("x [m]")
    axes.set_ylabel("y [m]")
    for x, y, r in record.obstacles:
        axes.add_patch(Circle((x, y), r, color="#444444"))
    axes.scatter(record.goals[:, 0], record.goals[:, 1], marker="x", color="#2ca02c", s=30)
    trajectory = np.stack(record.poses)  # (T, N, 3)
    trails = [axes.plot([], [], lw=0.8, color="#999999")[0] for _ in record.radii]
    bodies = PatchCollection([Circle((0, 0), r) for r in record.radii], zorder=3)
    sensing = PatchCollection(
        [Circle((0, 0), record.sensing_radius) for _ in record.radii],
        facecolor="none", edgecolor="#2b7bba", alpha=0.12, lw=0.5,
    )  # fmt: skip
    axes.add_collection(sensing)
    axes.add_collection(bodies)
    title = axes.set_title("")

    def draw(frame: int):
        poses = trajectory[frame]
        for robot, trail in enumerate(trails):
            trail.set_data(trajectory[: frame + 1, robot, 0], trajectory[: frame + 1, robot, 1])
        centres = [Circle(p[:2], r) for p, r in zip(poses, record.radii, strict=True)]
        bodies.set_paths(centres)
        bodies.set_facecolor([MODE_COLOURS[SafetyMode(m)] for m in record.modes[frame]])
        sensing.set_paths([Circle(p[:2], record.sensing_radius) for p in poses])
        title.set_text(f"t = {record.times[frame]:5.1f} s   min distance "
                       f"{record.min_distances[frame]:.2f} m")  # fmt: skip
        return [*trails, bodies, sensing, title]

    animation = FuncAnimation(figure, draw, frames=frames, blit=False)
    animation.save(path, writer=PillowWriter(fps=fps))
    plt.close(figure)
    return path


def write_plots(record: RunRecord, directory: Path) -> list[Path]:
    """PNG plots: minimum pairwise distance vs the safety distance, and alpha per robot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.array(record.times)
    figure, axes = plt.subplots(figsize=(7, 3.2), dpi=100)
    axes.plot(times, record.min_distances, label="minimum pairwise distance")
    axes.axhline(record.safety_distance, color="#d1495b", ls="--", label="safety distance D")
    axes.set_xlabel("time [s]")
    axes.set_ylabel("distance [m]")
    axes.legend(loc="upper right")
    figure.tight_layout()
    distance_path = directory / "min_distance.png"
    figure.savefig(distance_path)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 3.2), dpi=100)
    axes.plot(times, np.stack(record.alphas), lw=0.8)
    axes.set_xlabel("time [s]")
    axes.set_ylabel("CBF alpha [1/s]")
    axes.set_title("per-robot alpha")
    figure.tight_layout()
    alpha_path = directory / "alpha.png"
    figure.savefig(alpha_path)
    plt.close(figure)
    return [distance_path, alpha_path]
