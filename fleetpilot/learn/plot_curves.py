"""Training curves (PNG) from a run's ``progress.csv``, for model cards.

    python -m fleetpilot.learn.plot_curves runs/RUN/progress.csv curves.png \\
        --columns mean_reward,success_rate,mean_alpha,mean_tangential

Each column gets its own panel against the iteration; empty cells (e.g. no episode ended in an
iteration) are skipped, and a moving average over ``--smooth`` iterations is drawn on top.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def read_columns(
    path: Path, columns: list[str]
) -> tuple[list[int], dict[str, list[float | None]]]:
    """Iterations and the named columns of a progress CSV (None for empty cells)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")
    for column in columns:
        if column not in rows[0]:
            raise ValueError(f"--columns: {column!r} is not a column of {path}: {list(rows[0])}")
    iterations = [int(row["iteration"]) for row in rows]
    values = {
        column: [float(row[column]) if row[column] not in ("", "None") else None for row in rows]
        for column in columns
    }
    return iterations, values


def moving_average(points: list[tuple[int, float]], window: int) -> list[tuple[int, float]]:
    smoothed = []
    for index in range(len(points)):
        chunk = points[max(0, index - window + 1) : index + 1]
        smoothed.append((points[index][0], sum(v for _, v in chunk) / len(chunk)))
    return smoothed


def plot(csv_path: Path, png_path: Path, columns: list[str], smooth: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations, values = read_columns(csv_path, columns)
    figure, axes = plt.subplots(1, len(columns), figsize=(3.6 * len(columns), 3.0))
    axes = [axes] if len(columns) == 1 else list(axes)
    for axis, column in zip(axes, columns, strict=True):
        points = [(i, v) for i, v in zip(iterations, values[column], strict=True) if v is not None]
        if points:
            axis.plot(*zip(*points, strict=True), color="0.75", linewidth=0.8)
            axis.plot(*zip(*moving_average(points, smooth), strict=True), color="C0")
        axis.set_title(column)
        axis.set_xlabel("PPO iteration")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--columns", default="mean_reward,success_rate")
    parser.add_argument("--smooth", type=int, default=10, help="moving-average window")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    try:
        plot(args.csv, args.png, args.columns.split(","), max(1, args.smooth), args.title)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
