"""Recording a simulated run: trajectories in memory, then an animation and plots on disk.

The animation is a top-down view (robots as discs coloured by safety mode, trails, goals,
sensing radii, obstacles), written as MP4 (H.264 through PyAV, which bundles FFmpeg's
libraries) or GIF (Pillow); the plots show the minimum pairwise distance against the safety
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
        landmarks: fixed markers drawn as outlined squares: (points (K, 2) [m], colour) pairs
            (e.g. a warehouse's pick and drop stations).
        targets, loaded: per tick, optional (see :meth:`append_tasks`): each robot's current
            target (N, 2) [m] (NaN for none), drawn as a line from the robot, and whether it
            carries a load (N,), drawn as a white square on the robot.
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
    landmarks: list[tuple[np.ndarray, str]] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    loaded: list[np.ndarray] = field(default_factory=list)

    def append(self, time: float, poses: np.ndarray, modes: np.ndarray, alphas: np.ndarray,
               min_distance: float) -> None:  # fmt: skip
        self.times.append(float(time))
        self.poses.append(np.array(poses, dtype=float))
        self.modes.append(np.array(modes, dtype=int))
        self.alphas.append(np.array(alphas, dtype=float))
        self.min_distances.append(float(min_distance))

    def append_tasks(self, targets: np.ndarray, loaded: np.ndarray) -> None:
        """The task markers of the tick last appended: targets (N, 2), loaded (N,) bool."""
        self.targets.append(np.array(targets, dtype=float))
        self.loaded.append(np.array(loaded, dtype=bool))


def _limits(record: RunRecord) -> tuple[float, float, float, float]:
    if record.arena is not None:
        return record.arena
    points = np.concatenate([np.concatenate(record.poses)[:, :2], record.goals])
    margin = 1.0 + record.radii.max()
    (x0, y0), (x1, y1) = points.min(0) - margin, points.max(0) + margin
    return x0, y0, x1, y1


ANIMATION_FORMATS = ("mp4", "gif")


def mp4_available() -> bool:
    """Whether MP4 can be written (PyAV, the ``av`` package, is installed)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def write_animation(
    record: RunRecord, path: Path, fps: int = 10, max_frames: int = 200, width: int = 640
) -> Path:
    """Top-down animation of the run, subsampled to at most ``max_frames`` frames; the
    format follows the file's suffix (``.mp4`` or ``.gif``).

    Raises:
        ValueError: naming the path when its suffix is neither.
    """
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in ANIMATION_FORMATS:
        raise ValueError(f"animation path: expected a .mp4 or .gif file, got {str(path)!r}")
    frames = render_frames(record, max_frames=max_frames, width=width)
    if kind == "mp4":
        return write_mp4(frames, path, fps)
    return write_gif(frames, path, fps)


def write_gif(frames: list, path: Path, fps: int) -> Path:
    """GIF of RGB Pillow frames (64 colours, every frame kept)."""
    from PIL import Image

    images = [frame.quantize(colors=64, dither=Image.Dither.NONE) for frame in frames]
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=int(round(1000 / fps)),
        loop=0,
        optimize=False,
    )
    return Path(path)


def write_mp4(frames: list, path: Path, fps: int) -> Path:
    """H.264 MP4 of RGB Pillow frames (yuv420p, which every player decodes)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        # yuv420p halves the chroma resolution: the encoder needs even sizes.
        width, height = frames[0].size
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame in frames:
            image = frame.crop((0, 0, stream.width, stream.height))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():  # flush the frames the encoder still holds
            container.mux(packet)
    return Path(path)


def render_frames(record: RunRecord, max_frames: int = 200, width: int = 640) -> list:
    """RGB Pillow images of the run, at most ``max_frames`` evenly spaced ticks.

    Drawn straight with Pillow (a few milliseconds a frame; matplotlib's animation writer takes
    half a second a frame on a busy machine): obstacles grey, goals green crosses, robots as
    discs coloured by safety mode with a heading tick, trails grey, sensing radii faint blue.
    """
    from PIL import Image, ImageDraw

    frames = np.unique(np.linspace(0, len(record.times) - 1, max_frames).astype(int))
    x0, y0, x1, y1 = _limits(record)
    margin = 0.3  # [m] so that walls and bodies at the border stay visible
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    scale = width / (x1 - x0)  # pixels per metre
    height = int(round((y1 - y0) * scale)) + 24  # room for the caption

    def pixel(x: np.ndarray | float, y: np.ndarray | float):
        return (x - x0) * scale, (y1 - y) * scale + 24

    def disc(draw, x, y, r, **style):
        (px, py), pr = pixel(x, y), r * scale
        draw.ellipse([px - pr, py - pr, px + pr, py + pr], **style)

    background = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(background)
    if record.arena is not None:
        ax0, ay0, ax1, ay1 = record.arena
        (left, bottom), (right, top) = pixel(ax0, ay0), pixel(ax1, ay1)
        draw.rectangle([left, top, right, bottom], outline="#444444", width=3)
    for x, y, r in record.obstacles:
        disc(draw, x, y, r, fill="#666666")
    for x, y in record.goals:
        px, py = pixel(x, y)
        draw.line([px - 5, py - 5, px + 5, py + 5], fill="#2ca02c", width=2)
        draw.line([px - 5, py + 5, px + 5, py - 5], fill="#2ca02c", width=2)
    for points, colour in record.landmarks:
        for x, y in points:
            px, py = pixel(x, y)
            draw.rectangle([px - 6, py - 6, px + 6, py + 6], outline=colour, width=2)

    trajectory = np.stack(record.poses)  # (T, N, 3)
    images = []
    for frame in frames:
        image = background.copy()
        draw = ImageDraw.Draw(image)
        poses = trajectory[frame]
        for robot in range(trajectory.shape[1]):
            px, py = pixel(trajectory[: frame + 1, robot, 0], trajectory[: frame + 1, robot, 1])
            if len(px) > 1:
                draw.line(list(zip(px.tolist(), py.tolist(), strict=True)), fill="#aaaaaa")
        for x, y, _ in poses:
            disc(draw, x, y, record.sensing_radius, outline="#c8dcf0")
        if record.targets:
            for (x, y, _), (tx, ty) in zip(poses, record.targets[frame], strict=True):
                if np.isfinite(tx):
                    draw.line([pixel(x, y), pixel(tx, ty)], fill="#9ecae1", width=1)
        for (x, y, yaw), r, mode in zip(poses, record.radii, record.modes[frame], strict=True):
            disc(draw, x, y, r, fill=MODE_COLOURS[SafetyMode(int(mode))], outline="black")
            tip = pixel(x + r * np.cos(yaw), y + r * np.sin(yaw))
            draw.line([pixel(x, y), tip], fill="white", width=2)
        if record.loaded:
            for (x, y, _), r, loaded in zip(
                poses, record.radii, record.loaded[frame], strict=True
            ):
                if loaded:
                    px, py = pixel(x, y)
                    side = 0.5 * r * scale
                    draw.rectangle(
                        [px - side, py - side, px + side, py + side], fill="white", outline="black"
                    )
        draw.text(
            (6, 5),
            f"t = {record.times[frame]:5.1f} s   min distance {record.min_distances[frame]:.2f} m"
            "   blue nominal / orange filtered / red relaxed / dark red braking",
            fill="black",
        )
        images.append(image)
    return images


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
