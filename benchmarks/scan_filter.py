"""Scan to constraints to filtered command, per robot per tick, on one core.

One robot with a 360-beam scan of a room (walls and pillars, so every sector has returns) and
6 known neighbours: the time of ``scan_to_obstacles`` (REP 117 reading, gating, masking,
sector reduction, inflation) plus ``UnicycleCBF.filter`` with the resulting circles, against
the filter alone with the same number of known circular obstacles, measured in the same run.
Target: <= 1 ms per robot per tick.

    .venv/bin/python benchmarks/scan_filter.py [--quick]

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.safety import UnicycleCBF  # noqa: E402
from fleetpilot.safety.scan_obstacles import (  # noqa: E402
    ScanGeometry,
    ScanReduction,
    scan_to_obstacles,
)

BEAMS = 360
TARGET_MS = 1.0


def room_scan(rng: np.random.Generator) -> tuple[np.ndarray, ScanGeometry]:
    """Ranges from the centre of a 3 m x 2 m room with noise (walls only: every beam hits)."""
    geometry = ScanGeometry(-np.pi, 2 * np.pi / BEAMS, 0.05, 10.0)
    angles = geometry.angle_min + geometry.angle_increment * np.arange(BEAMS)
    with np.errstate(divide="ignore"):
        to_x = 1.5 / np.abs(np.cos(angles))
        to_y = 1.0 / np.abs(np.sin(angles))
    ranges = np.minimum(to_x, to_y) + rng.normal(0, 0.005, BEAMS)
    ranges[rng.choice(BEAMS, 5, replace=False)] = np.nan  # a few erroneous beams
    return ranges, geometry


def best_ms(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times), 1e3 * float(np.percentile(times, 99))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats")
    args = parser.parse_args()
    repeats = 20 if args.quick else 2000
    rng = np.random.default_rng(0)
    ranges, geometry = room_scan(rng)
    reduction = ScanReduction(max_range=2.0, max_obstacles=16)
    cbf = UnicycleCBF(0.4, 2.0, 1.0, 2.0, 0.1, dt=0.05)
    own = np.array([0.0, 0.0, 0.3])
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    neighbours = np.c_[0.8 * np.cos(angles), 0.8 * np.sin(angles), np.full(6, 0.2)]
    poses = np.vstack([own, np.c_[neighbours[:, :2], np.zeros(6)]])
    commands = np.tile([0.8, 0.3], (7, 1))

    def scan_and_filter():
        circles = scan_to_obstacles(ranges, geometry, own, reduction, neighbours)
        return cbf.filter(poses, commands, alpha=1.0, obstacles=circles)

    circles = scan_to_obstacles(ranges, geometry, own, reduction, neighbours)
    total_ms, total_p99 = best_ms(scan_and_filter, repeats)
    filter_ms, filter_p99 = best_ms(
        lambda: cbf.filter(poses, commands, alpha=1.0, obstacles=circles), repeats
    )
    results = {
        "benchmark": "scan_filter",
        "quick": args.quick,
        "beams": BEAMS,
        "obstacles_from_scan": len(circles),
        "neighbours": len(neighbours),
        "scan_and_filter_ms": total_ms,
        "scan_and_filter_p99_ms": total_p99,
        "filter_only_ms": filter_ms,
        "filter_only_p99_ms": filter_p99,
        "scan_overhead_ratio": total_ms / filter_ms,
        "target_ms": TARGET_MS,
        "target_met": total_ms <= TARGET_MS,
    }
    print("| step | best ms | p99 ms |\n| --- | ---: | ---: |")
    print(f"| scan -> obstacles -> filter | {total_ms:.3f} | {total_p99:.3f} |")
    print(f"| filter alone (same circles) | {filter_ms:.3f} | {filter_p99:.3f} |")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
