"""Laser scans -> a bounded set of circular CBF obstacles (ROS-free).

A robot rarely knows its obstacles as circles; it sees ranges. :func:`scan_to_obstacles` turns
one planar scan into at most ``max_obstacles`` circles the filter's obstacle rows accept:

1. **Read the ranges by the LaserScan convention (REP 117).** NaN = erroneous, ignored;
   +inf = nothing within range, ignored; -inf = something closer than ``range_min``, kept as
   a return at ``range_min`` (the conservative reading). Finite values outside
   [range_min, range_max] are invalid and ignored.
2. **Gate** returns farther than ``max_range`` (the sensing radius) and **mask** the robot's own
   body (returns inside ``body_radius`` of the sensor) and known neighbours (returns within a
   neighbour's radius plus ``neighbour_margin`` of its centre: they are constrained as agents).
3. **Reduce**: the scan's field of view (beams x increment) is cut into ``max_obstacles``
   equal sectors and each sector keeps its nearest return.
4. **Inflate**: each kept return becomes a circle of radius ``noise_sigmas`` x ``range_sigma``
   (sensor noise) + half the gap between adjacent beams at that range (r x increment / 2), so
   a surface sampled by the beams leaves no gap wider than the circles cover, + ``motion_margin``:
   a return may be a robot that reports nothing and keeps moving while the filter treats it
   as still; the margin (its top speed x the control period) covers how far it can come
   closer before the next tick's scan sees it again.

What survives the approximation. The nearest return of the whole scan is always kept (it is
the nearest of its sector), so the CBF keeps the robot's distance to the closest surface the
scan saw at or above the required clearance, up to the inflation. A return that was dropped
lies in the sector of a kept one at no smaller range; before the robot can get closer to it
than to the kept one, it becomes its sector's nearest return in a later scan, so the guarantee
holds with one scan period of lag (keep ``max_speed x scan period`` small against the
clearance). Objects thinner than the beam spacing at their range can be missed entirely, as
with any scan-based safety layer. The number of constraints is at most ``max_obstacles``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.agent_states import as_float_array


@dataclass(frozen=True)
class ScanGeometry:
    """How one scan's beams are laid out (sensor_msgs/LaserScan fields).

    Attributes:
        angle_min: angle of the first beam [rad], sensor frame.
        angle_increment: angle between beams [rad], > 0.
        range_min, range_max: valid range interval [m].
    """

    angle_min: float
    angle_increment: float
    range_min: float
    range_max: float

    def __post_init__(self) -> None:
        for name in ("angle_min", "angle_increment", "range_min", "range_max"):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if self.angle_increment <= 0:
            raise ValueError(f"angle_increment: expected > 0, got {self.angle_increment!r}")
        if not 0 <= self.range_min < self.range_max:
            raise ValueError(
                f"range_min, range_max: expected 0 <= range_min < range_max, got "
                f"{self.range_min!r}, {self.range_max!r}"
            )


@dataclass(frozen=True)
class ScanReduction:
    """How a scan becomes obstacles.

    Attributes:
        max_range: returns farther than this are ignored [m] (the sensing radius).
        max_obstacles: sectors, hence the most circles returned (>= 1).
        body_radius: returns closer to the sensor than this are the robot itself [m].
        range_sigma: standard deviation of the range noise [m].
        noise_sigmas: how many sigmas the circles are inflated by.
        neighbour_margin: extra radius around known neighbours whose returns are masked [m].
        motion_margin: extra radius of every circle for returns that may be moving [m]: an
            unreported robot's top speed x the control period (0 for a static world).
    """

    max_range: float = 2.0
    max_obstacles: int = 16
    body_radius: float = 0.2
    range_sigma: float = 0.01
    noise_sigmas: float = 3.0
    neighbour_margin: float = 0.05
    motion_margin: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_range", "body_radius", "range_sigma", "noise_sigmas", "motion_margin"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if not isinstance(self.max_obstacles, int) or self.max_obstacles < 1:
            raise ValueError(
                f"max_obstacles: expected an integer >= 1, got {self.max_obstacles!r}"
            )
        if not np.isfinite(self.neighbour_margin) or self.neighbour_margin < 0:
            raise ValueError(
                f"neighbour_margin: expected a finite number >= 0, got {self.neighbour_margin!r}"
            )


def scan_points(ranges, geometry: ScanGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Valid returns of one scan as (ranges [m], beam angles [rad]) in the sensor frame."""
    ranges = np.asarray(ranges, dtype=np.float64)
    if ranges.ndim != 1:
        raise ValueError(f"ranges: expected a 1-D sequence, got shape {ranges.shape}")
    angles = geometry.angle_min + geometry.angle_increment * np.arange(len(ranges))
    too_close = np.isneginf(ranges)
    readings = np.where(too_close, geometry.range_min, ranges)
    with np.errstate(invalid="ignore"):
        valid = too_close | (
            np.isfinite(readings)
            & (readings >= geometry.range_min)
            & (readings <= geometry.range_max)
        )
    return readings[valid], angles[valid]


def scan_to_obstacles(
    ranges,
    geometry: ScanGeometry,
    sensor_pose,
    reduction: ScanReduction,
    neighbours=None,
) -> np.ndarray:
    """Obstacle circles for the CBF filter from one scan.

    Args:
        ranges: (n_beams,) ranges [m] by the LaserScan convention (NaN/inf allowed, see above).
        geometry: beam layout.
        sensor_pose: (3,) [x m, y m, yaw rad] of the sensor in the world frame, finite.
        reduction: gating, masking, sectors and inflation.
        neighbours: (K, 3) [x, y, radius] of known neighbours (world frame), or None.

    Returns:
        (M, 3) [x, y, r] world-frame circles, M <= reduction.max_obstacles, nearest first.
    """
    pose = as_float_array("sensor_pose", sensor_pose, (3,))
    distances, angles = scan_points(ranges, geometry)
    keep = (distances <= reduction.max_range) & (distances > reduction.body_radius)
    distances, angles = distances[keep], angles[keep]
    world_angles = angles + pose[2]
    points = pose[:2] + distances[:, None] * np.stack(
        [np.cos(world_angles), np.sin(world_angles)], axis=1
    )
    if neighbours is not None and len(points):
        neighbours = as_float_array("neighbours", neighbours, (None, 3))
        gap = np.linalg.norm(points[:, None, :] - neighbours[None, :, :2], axis=-1)
        on_neighbour = gap <= neighbours[None, :, 2] + reduction.neighbour_margin
        not_neighbour = ~on_neighbour.any(axis=1)
        points, distances, angles = (
            points[not_neighbour],
            distances[not_neighbour],
            angles[not_neighbour],
        )
    if not len(points):
        return np.zeros((0, 3))
    field_of_view = geometry.angle_increment * len(np.asarray(ranges))
    sector = np.floor(
        (angles - geometry.angle_min) / field_of_view * reduction.max_obstacles
    ).astype(np.int64)
    sector = np.clip(sector, 0, reduction.max_obstacles - 1)
    order = np.lexsort((distances, sector))  # by sector, nearest first within each
    first_in_sector = np.r_[True, sector[order][1:] != sector[order][:-1]]
    nearest = order[first_in_sector]
    nearest = nearest[np.argsort(distances[nearest], kind="stable")]
    radius = (
        reduction.noise_sigmas * reduction.range_sigma
        + distances[nearest] * geometry.angle_increment / 2
        + reduction.motion_margin
    )
    radius = np.maximum(radius, 1e-3)  # the filter needs positive radii
    return np.column_stack([points[nearest], radius])
