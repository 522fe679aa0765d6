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
   equal sectors and each sector keeps the return whose circle (step 4) reaches nearest to
   the sensor (range minus radius; with the same margin everywhere, its nearest return).
4. **Inflate**: each kept return becomes a circle of radius ``noise_sigmas`` x ``range_sigma``
   (sensor noise) + half the gap between adjacent beams at that range (r x increment / 2), so
   a surface sampled by the beams leaves no gap wider than the circles cover, + ``motion_margin``:
   a return may be a robot that reports nothing and keeps moving while the filter treats it
   as still; the margin (its top speed x the control period) covers how far it can come
   closer before the next tick's scan sees it again. With a map of the building
   (``static_map``, optional) a return on a mapped surface is not charged the motion margin
   when no unmapped return lies near it (**static returns**, below).

What survives the approximation. The circle that reaches nearest to the sensor is always
kept (it is the nearest-reaching of its sector), so the CBF keeps the robot's distance to the
closest surface the scan saw at or above the required clearance, up to the inflation. A
return that was dropped lies in the sector of a kept one whose circle reaches at least as
near; before the robot can get closer to it than to the kept one, it becomes its sector's
nearest-reaching return in a later scan, so the guarantee holds with one scan period of lag
(keep ``max_speed x scan period`` small against the clearance). Objects thinner than the
beam spacing at their range can be missed entirely, as with any scan-based safety layer. The
number of constraints is at most ``max_obstacles``.

Static returns (``static_map`` given and ``static_tolerance`` > 0). A return within
``static_tolerance`` of a surface of the map, and farther than ``static_window`` from every
return that is not (an *unmapped* return), is taken for that surface: its circle gets no
motion margin. Every other return keeps the full margin. The margin's guarantee (every
return of an unreported robot carries the distance that robot can cover in one period) then
still holds under two assumptions about the world, not the code:

- mapped surfaces do not move (a mapped cart or door that moves breaks this). How exact the
  map is only decides how many returns are found static: a wall return measured farther than
  the tolerance from the map (in the simulator, where the map is exact and the tolerance is
  5 sigma of the range noise: noise beyond that) keeps the margin, which costs width, not
  safety;
- every unreported robot that the scan sees shows at least one return farther than
  ``static_tolerance`` from the map, and all its returns lie within ``static_window`` of each
  other (a round robot: ``static_window`` >= its diameter). The unmapped return then marks
  every return of that robot, those pressed against a wall included, as possibly moving
  (returns beyond ``max_range`` count for this too, though they never become circles). A
  robot seen *only* within the tolerance of mapped surfaces (say, all of it but its contact
  with a wall hidden behind something else) breaks this assumption: its returns get no
  margin.

Because each sector keeps the circle that reaches nearest, a return that keeps the margin is
never dropped in favour of a slightly nearer static one whose circle reaches less far.
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
        static_tolerance: with a ``static_map``, returns this close to a mapped surface may be
            static [m] (0: none is; every return carries ``motion_margin``).
        static_window: a return on the map stays charged ``motion_margin`` when an unmapped
            return lies within this distance of it [m] (at least an unreported robot's
            diameter).
    """

    max_range: float = 2.0
    max_obstacles: int = 16
    body_radius: float = 0.2
    range_sigma: float = 0.01
    noise_sigmas: float = 3.0
    neighbour_margin: float = 0.05
    motion_margin: float = 0.0
    static_tolerance: float = 0.0
    static_window: float = 0.4

    def __post_init__(self) -> None:
        for name in (
            "max_range",
            "body_radius",
            "range_sigma",
            "noise_sigmas",
            "motion_margin",
            "static_tolerance",
            "static_window",
        ):
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


@dataclass(frozen=True)
class StaticMap:
    """The building's surfaces that do not move: discs and, optionally, the arena's walls.

    Attributes:
        discs: (M, 3) [x, y, radius] world frame [m] (walls as rows of discs, pillars).
        bounds: (x_min, y_min, x_max, y_max) of the rectangular arena whose walls bound the
            floor [m], or None.
    """

    discs: np.ndarray
    bounds: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        discs = np.asarray(self.discs, dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(discs).all() or (discs[:, 2] < 0).any():
            raise ValueError("discs: expected finite (M, 3) [x, y, radius >= 0] rows")
        object.__setattr__(self, "discs", discs)
        if self.bounds is not None:
            bounds = tuple(float(v) for v in self.bounds)
            if (
                len(bounds) != 4
                or not np.isfinite(bounds).all()
                or not (bounds[0] < bounds[2] and bounds[1] < bounds[3])
            ):
                raise ValueError(
                    f"bounds: expected finite (x_min, y_min, x_max, y_max) with min < max, "
                    f"got {self.bounds!r}"
                )
            object.__setattr__(self, "bounds", bounds)

    def gap(self, points: np.ndarray) -> np.ndarray:
        """(P,) distance [m] from each of ``points`` (P, 2) to the nearest mapped surface."""
        gap = np.full(len(points), np.inf)
        if self.bounds is not None:
            x_min, y_min, x_max, y_max = self.bounds
            walls = np.stack(
                [points[:, 0] - x_min, x_max - points[:, 0], points[:, 1] - y_min,
                 y_max - points[:, 1]],
                axis=1,
            )  # fmt: skip
            gap = np.abs(walls).min(axis=1)
        if len(self.discs):
            centre = np.linalg.norm(points[:, None, :] - self.discs[None, :, :2], axis=2)
            gap = np.minimum(gap, np.abs(centre - self.discs[None, :, 2]).min(axis=1))
        return gap


def static_returns(
    points: np.ndarray, static_map: StaticMap, reduction: ScanReduction, others=None
) -> np.ndarray:
    """(P,) bool: which returns ``points`` (P, 2) are taken for mapped surfaces (no margin).

    A return is static when it lies within ``static_tolerance`` of the map and no unmapped
    return lies within ``static_window`` of it (see the module docstring). ``others``: (Q, 2)
    further returns of the same scan whose unmapped ones count too (those gated out by range),
    or None."""
    on_map = static_map.gap(points) <= reduction.static_tolerance
    unmapped = points[~on_map]
    if others is not None and len(others):
        others = np.asarray(others, dtype=np.float64).reshape(-1, 2)
        unmapped = np.concatenate(
            [unmapped, others[static_map.gap(others) > reduction.static_tolerance]]
        )
    if not len(unmapped) or not on_map.any():
        return on_map
    near = np.linalg.norm(points[on_map, None, :] - unmapped[None, :, :], axis=2)
    static = on_map.copy()
    static[on_map] = (near > reduction.static_window).all(axis=1)
    return static


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


UNLISTED_RATE_SHARE = 0.5
"""The share of its barrier rate (alpha) a robot spends while its filter holds discs that may be
robots it has no report of (scan returns charged the motion margin, lost tracks). Such a robot,
if it sees this one, spends its own share of the pair's barrier, at least half as for any listed
neighbour; charged the whole rate here as well, the pair could close at 1.5 alpha h, more than
the barrier holds in one tick once alpha dt > 2/3."""


def unlisted_rate(alpha, may_move: bool):
    """The barrier rate for this tick: ``alpha`` times :data:`UNLISTED_RATE_SHARE` when the
    filter holds discs that may be unlisted robots, else ``alpha``. Halving the robot's single
    rate (the compiled filter takes one per robot) is conservative for its other rows."""
    return alpha * UNLISTED_RATE_SHARE if may_move else alpha


def scan_to_obstacles(
    ranges,
    geometry: ScanGeometry,
    sensor_pose,
    reduction: ScanReduction,
    neighbours=None,
    static_map: StaticMap | None = None,
    report_moving: bool = False,
):
    """Obstacle circles for the CBF filter from one scan.

    Args:
        ranges: (n_beams,) ranges [m] by the LaserScan convention (NaN/inf allowed, see above).
        geometry: beam layout.
        sensor_pose: (3,) [x m, y m, yaw rad] of the sensor in the world frame, finite.
        reduction: gating, masking, sectors and inflation.
        neighbours: (K, 3) [x, y, radius] of known neighbours (world frame), or None.
        static_map: the building's static surfaces, or None; with ``static_tolerance`` > 0,
            returns on them away from unmapped returns get no motion margin (see above).

        report_moving: also return which circles carry the motion margin (may be a robot).

    Returns:
        (M, 3) [x, y, r] world-frame circles, M <= reduction.max_obstacles, the one reaching
        nearest to the sensor (range minus radius) first; with ``report_moving``, also an (M,)
        bool array: the circle carries the motion margin.
    """
    pose = as_float_array("sensor_pose", sensor_pose, (3,))
    distances, angles = scan_points(ranges, geometry)
    outside = distances > reduction.body_radius
    distances, angles = distances[outside], angles[outside]
    world_angles = angles + pose[2]
    seen = pose[:2] + distances[:, None] * np.stack(
        [np.cos(world_angles), np.sin(world_angles)], axis=1
    )
    keep = distances <= reduction.max_range
    points, distances, angles = seen[keep], distances[keep], angles[keep]
    beyond = seen[~keep]  # gated out, but they still mark robots for the static test
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
        return (np.zeros((0, 3)), np.zeros(0, bool)) if report_moving else np.zeros((0, 3))
    margin = np.full(len(points), reduction.motion_margin)
    if static_map is not None and reduction.static_tolerance > 0 and reduction.motion_margin > 0:
        margin[static_returns(points, static_map, reduction, beyond)] = 0.0
    radius = (
        reduction.noise_sigmas * reduction.range_sigma
        + distances * geometry.angle_increment / 2
        + margin
    )
    radius = np.maximum(radius, 1e-3)  # the filter needs positive radii
    reach = distances - radius  # how near to the sensor each return's circle comes
    field_of_view = geometry.angle_increment * len(np.asarray(ranges))
    sector = np.floor(
        (angles - geometry.angle_min) / field_of_view * reduction.max_obstacles
    ).astype(np.int64)
    sector = np.clip(sector, 0, reduction.max_obstacles - 1)
    order = np.lexsort((reach, sector))  # by sector, nearest reach first within each
    first_in_sector = np.r_[True, sector[order][1:] != sector[order][:-1]]
    nearest = order[first_in_sector]
    nearest = nearest[np.argsort(reach[nearest], kind="stable")]
    circles = np.column_stack([points[nearest], radius[nearest]])
    return (circles, margin[nearest] > 0) if report_moving else circles
