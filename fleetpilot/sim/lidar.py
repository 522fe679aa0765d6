"""Simulated planar lidars: every robot's scan in one batched ray test.

Rays start on the robot's body surface (so a robot never sees itself) at the sensor height and
run out to ``range_max``; the returned ranges are measured from the sensor (the robot's centre),
with Gaussian noise, in the LaserScan convention (REP 117): +inf where nothing is hit, and
values clipped to [range_min, range_max]. The scan rate is the caller's business (the ``sim``
node publishes at ``rate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.safety.scan_obstacles import ScanGeometry
from fleetpilot.sim.world import PyBulletWorld


@dataclass(frozen=True)
class LidarConfig:
    """One planar lidar per robot.

    Attributes:
        beams: rays per scan over a full turn (>= 1).
        range_min, range_max: measurable range [m].
        noise_sigma: standard deviation of the range noise [m].
        height: sensor height above the ground [m] (must cut the robot bodies and obstacles).
        rate: scans per second [Hz].
    """

    beams: int = 360
    range_min: float = 0.05
    range_max: float = 8.0
    noise_sigma: float = 0.01
    height: float = 0.12
    rate: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.beams, int) or self.beams < 1:
            raise ValueError(f"beams: expected an integer >= 1, got {self.beams!r}")
        for name in ("range_min", "range_max", "noise_sigma", "height", "rate"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if self.range_min >= self.range_max:
            raise ValueError(
                f"range_min: expected less than range_max={self.range_max!r}, "
                f"got {self.range_min!r}"
            )
        if self.rate <= 0:
            raise ValueError(f"rate: expected > 0, got {self.rate!r}")

    @property
    def geometry(self) -> ScanGeometry:
        """Beam layout in the robot frame: a full turn starting at -pi."""
        return ScanGeometry(-np.pi, 2 * np.pi / self.beams, self.range_min, self.range_max)


class SimulatedLidar:
    """Scans for every robot of a :class:`PyBulletWorld`."""

    def __init__(self, config: LidarConfig, seed: int = 0) -> None:
        self.config = config
        self._rng = np.random.default_rng(seed)
        geometry = config.geometry
        self._angles = geometry.angle_min + geometry.angle_increment * np.arange(config.beams)

    def scan(self, world: PyBulletWorld) -> np.ndarray:
        """(N, beams) ranges [m] of every robot's lidar at the world's current state."""
        poses = world.poses()
        n, beams = len(poses), self.config.beams
        angles = poses[:, 2:3] + self._angles[None, :]
        directions = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (N, beams, 2)
        inner = world.robot.body_radius + 1e-3  # start just outside the own body
        height = np.full((n, beams, 1), self.config.height)
        starts = np.concatenate([poses[:, None, :2] + inner * directions, height], -1)
        ends = np.concatenate(
            [poses[:, None, :2] + self.config.range_max * directions, height], -1
        )
        fractions = world.cast_rays(starts.reshape(-1, 3), ends.reshape(-1, 3)).reshape(n, beams)
        ranges = inner + fractions * (self.config.range_max - inner)
        ranges = ranges + self._rng.normal(0.0, self.config.noise_sigma, ranges.shape)
        ranges = np.clip(ranges, self.config.range_min, self.config.range_max)
        return np.where(fractions >= 1.0, np.inf, ranges)
