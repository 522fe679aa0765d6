"""Randomized scenario families: a registry of seeded layout generators.

Each family has a frozen parameter dataclass (validated; its field names are the keys of the
YAML ``generator.params`` block) and a ``generate`` function that draws every random number from
the ``numpy.random.Generator`` it is handed, so a seed fixes the layout exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fleetpilot.scenarios.placement import disc_wall, place_points
from fleetpilot.scenarios.schema import (
    Arena,
    require_finite,
    require_non_negative,
    require_positive,
)

PARAMS = "generator.params"
"""Key path of a family's parameters in a scenario file; generators' errors start with it."""


@dataclass(frozen=True, eq=False)
class LayoutContext:
    """What a generator needs to know about the scenario around it.

    Attributes:
        safety_distance: smallest allowed centre distance between agents [m].
        radius: body radius of the agents [m].
        arena: the declared arena, or None when it is fitted to the layout afterwards.
        obstacles: (M, 3) static obstacles [x, y, r] declared in the file [m].
    """

    safety_distance: float
    radius: float
    arena: Arena | None
    obstacles: np.ndarray

    def require_arena(self, family: str) -> Arena:
        if self.arena is None:
            raise ValueError(
                "arena: expected explicit x_min, y_min, x_max, y_max: the "
                f"{family} family places agents inside them, got a fitted arena"
            )
        return self.arena


@dataclass(frozen=True, eq=False)
class Layout:
    """A generated layout: (N, 2) starts and goals and (K, 3) extra obstacles, in metres."""

    starts: np.ndarray
    goals: np.ndarray
    obstacles: np.ndarray


def _require_integer(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _require_fraction(name: str, value) -> None:
    require_finite(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name}: expected a fraction in [0, 1], got {value!r}")


def _require_wall(radius: float, spacing: float) -> None:
    require_positive("wall_obstacle_radius", radius)
    require_positive("wall_obstacle_spacing", spacing)
    if spacing > 2 * radius:
        raise ValueError(
            f"wall_obstacle_spacing: expected at most twice wall_obstacle_radius "
            f"({2 * radius:g} m) so the wall has no holes, got {spacing!r}"
        )


# Circle swap ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CircleSwapParams:
    """Agents evenly spaced on a circle, each going to the antipodal point.

    Attributes:
        circle_radius: smallest circle radius [m].
        min_spacing: smallest arc length between neighbours [m]; the circle grows beyond
            ``circle_radius`` when a large team needs it.
        angle_jitter: each start angle is shifted by a uniform draw in [-jitter, jitter] [rad]
            (0 keeps the layout exactly symmetric).
    """

    circle_radius: float = 3.0
    min_spacing: float = 1.0
    angle_jitter: float = 0.0

    def __post_init__(self) -> None:
        require_positive("circle_radius", self.circle_radius)
        require_positive("min_spacing", self.min_spacing)
        require_non_negative("angle_jitter", self.angle_jitter)


def circle_swap(
    params: CircleSwapParams, count: int, rng: np.random.Generator, context: LayoutContext
) -> Layout:
    radius = max(params.circle_radius, count * params.min_spacing / (2 * math.pi))
    angles = 2 * math.pi * np.arange(count) / count
    angles = angles + rng.uniform(-params.angle_jitter, params.angle_jitter, size=count)
    starts = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    return Layout(starts=starts, goals=-starts, obstacles=np.zeros((0, 3)))


# Crossing groups ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossingGroupsParams:
    """Two formations whose paths cross at the origin.

    Attributes:
        distance: distance of each formation's front row from the crossing point [m].
        spacing: distance between neighbours within a formation [m].
        rows: agents side by side in a formation (it grows backwards for larger teams).
        crossing_angle_deg: angle between the two groups' directions of travel [deg].
        position_jitter: starts and goals move by a uniform draw in [-jitter, jitter] per axis
            [m].
    """

    distance: float = 4.0
    spacing: float = 0.8
    rows: int = 4
    crossing_angle_deg: float = 90.0
    position_jitter: float = 0.1

    def __post_init__(self) -> None:
        require_positive("distance", self.distance)
        require_positive("spacing", self.spacing)
        _require_integer("rows", self.rows, 1)
        require_finite("crossing_angle_deg", self.crossing_angle_deg)
        if not 10 <= abs(self.crossing_angle_deg) <= 170:
            raise ValueError(
                "crossing_angle_deg: expected an angle between 10 and 170 degrees, "
                f"got {self.crossing_angle_deg!r}"
            )
        require_non_negative("position_jitter", self.position_jitter)


def crossing_groups(
    params: CrossingGroupsParams, count: int, rng: np.random.Generator, context: LayoutContext
) -> Layout:
    worst_gap = params.spacing - 2 * math.sqrt(2) * params.position_jitter
    if worst_gap < context.safety_distance:
        raise ValueError(
            f"{PARAMS}.position_jitter: expected spacing - 2*sqrt(2)*jitter >= the safety "
            f"distance {context.safety_distance:g} m, got {params.position_jitter!r}"
        )
    starts, goals = [], []
    crossing = math.radians(params.crossing_angle_deg)
    for group_size, angle in ((count - count // 2, 0.0), (count // 2, crossing)):
        forward = np.array([math.cos(angle), math.sin(angle)])
        left = np.array([-forward[1], forward[0]])
        slots = np.arange(group_size)
        rows_used = min(params.rows, group_size)
        lateral = (slots % params.rows - (rows_used - 1) / 2) * params.spacing
        back = (slots // params.rows) * params.spacing
        # Goals mirror the formation through the crossing point, so both groups end clear of it.
        starts.append(-(params.distance + back)[:, None] * forward + lateral[:, None] * left)
        goals.append((params.distance + back)[:, None] * forward + lateral[:, None] * left)
    starts_array, goals_array = np.concatenate(starts), np.concatenate(goals)
    jitter = params.position_jitter
    starts_array = starts_array + rng.uniform(-jitter, jitter, size=starts_array.shape)
    goals_array = goals_array + rng.uniform(-jitter, jitter, size=goals_array.shape)
    return Layout(starts=starts_array, goals=goals_array, obstacles=np.zeros((0, 3)))


# Doorway --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DoorwayParams:
    """Two rooms joined by a door in a wall of discs; every straight path runs through the door.

    Goals are the starts mirrored through the door's centre, so go-to-goal paths all meet there.

    Attributes:
        door_width: clear width of the door between the wall discs' surfaces [m].
        wall_x: x of the wall line [m].
        door_y: y of the door's centre [m].
        wall_obstacle_radius: radius of the discs the wall is made of [m].
        wall_obstacle_spacing: distance between neighbouring wall discs [m].
        wall_clearance: starts and goals stay at least this far from the wall line [m].
        min_separation: smallest distance between two starts [m].
        reverse_fraction: share of the agents that start in the right room and go left.
    """

    door_width: float = 1.2
    wall_x: float = 0.0
    door_y: float = 0.0
    wall_obstacle_radius: float = 0.2
    wall_obstacle_spacing: float = 0.2
    wall_clearance: float = 1.0
    min_separation: float = 0.8
    reverse_fraction: float = 0.0

    def __post_init__(self) -> None:
        require_positive("door_width", self.door_width)
        require_finite("wall_x", self.wall_x)
        require_finite("door_y", self.door_y)
        _require_wall(self.wall_obstacle_radius, self.wall_obstacle_spacing)
        require_positive("wall_clearance", self.wall_clearance)
        require_positive("min_separation", self.min_separation)
        _require_fraction("reverse_fraction", self.reverse_fraction)


def doorway(
    params: DoorwayParams, count: int, rng: np.random.Generator, context: LayoutContext
) -> Layout:
    arena = context.require_arena("doorway")
    if not arena.x_min < params.wall_x < arena.x_max:
        raise ValueError(
            f"{PARAMS}.wall_x: expected inside the arena's x range, got {params.wall_x!r}"
        )
    if params.door_width < context.safety_distance:
        raise ValueError(
            f"{PARAMS}.door_width: expected at least the safety distance "
            f"{context.safety_distance:g} m, got {params.door_width!r}"
        )
    radius, spacing = params.wall_obstacle_radius, params.wall_obstacle_spacing
    half_gap = params.door_width / 2 + radius
    wall = np.concatenate(
        [
            disc_wall(
                np.array([params.wall_x, arena.y_min]),
                np.array([params.wall_x, params.door_y - half_gap]),
                radius,
                spacing,
            ),
            disc_wall(
                np.array([params.wall_x, params.door_y + half_gap]),
                np.array([params.wall_x, arena.y_max]),
                radius,
                spacing,
            ),
        ]
    )
    door = np.array([params.wall_x, params.door_y])
    edge = context.safety_distance / 2 + context.radius
    # The left-room box whose mirror image through the door also lies in the arena.
    low = (
        max(arena.x_min + edge, 2 * door[0] - arena.x_max + edge),
        max(arena.y_min + edge, 2 * door[1] - arena.y_max + edge),
    )
    high = (
        door[0] - params.wall_clearance,
        min(arena.y_max - edge, 2 * door[1] - arena.y_min - edge),
    )
    reverse_count = round(params.reverse_fraction * count)
    obstacles = np.concatenate([context.obstacles, wall])
    clearance = context.safety_distance / 2
    forward = place_points(
        rng, count - reverse_count, low, high, params.min_separation, obstacles, clearance
    )
    mirrored_low, mirrored_high = tuple(2 * door - high), tuple(2 * door - low)
    reverse = place_points(
        rng,
        reverse_count,
        mirrored_low,
        mirrored_high,
        params.min_separation,
        obstacles,
        clearance,
    )
    starts = np.concatenate([forward, reverse])
    return Layout(starts=starts, goals=2 * door - starts, obstacles=wall)


# Corridor -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorridorParams:
    """A straight corridor along x between two walls of discs, traffic in both directions.

    Attributes:
        length: corridor length [m], centred on the origin.
        width: clear width between the wall discs' surfaces [m].
        wall_obstacle_radius: radius of the discs the walls are made of [m].
        wall_obstacle_spacing: distance between neighbouring wall discs [m].
        zone_length: starts and goals lie within this distance of the corridor's ends [m].
        min_separation: smallest distance between two starts or two goals [m].
        reverse_fraction: share of the agents that go from right to left.
    """

    length: float = 10.0
    width: float = 2.0
    wall_obstacle_radius: float = 0.2
    wall_obstacle_spacing: float = 0.2
    zone_length: float = 2.5
    min_separation: float = 0.6
    reverse_fraction: float = 0.5

    def __post_init__(self) -> None:
        require_positive("length", self.length)
        require_positive("width", self.width)
        _require_wall(self.wall_obstacle_radius, self.wall_obstacle_spacing)
        require_positive("zone_length", self.zone_length)
        if self.zone_length > self.length / 2:
            raise ValueError(
                f"zone_length: expected at most half the length ({self.length / 2:g} m), "
                f"got {self.zone_length!r}"
            )
        require_positive("min_separation", self.min_separation)
        _require_fraction("reverse_fraction", self.reverse_fraction)


def corridor(
    params: CorridorParams, count: int, rng: np.random.Generator, context: LayoutContext
) -> Layout:
    distance = context.safety_distance
    if params.width < 2 * distance:
        raise ValueError(
            f"{PARAMS}.width: expected at least twice the safety distance ({2 * distance:g} m) "
            f"so agents can pass each other, got {params.width!r}"
        )
    half_length, wall_y = params.length / 2, params.width / 2 + params.wall_obstacle_radius
    walls = np.concatenate(
        [
            disc_wall(
                np.array([-half_length, side * wall_y]),
                np.array([half_length, side * wall_y]),
                params.wall_obstacle_radius,
                params.wall_obstacle_spacing,
            )
            for side in (-1, 1)
        ]
    )
    obstacles = np.concatenate([context.obstacles, walls])
    inner_y = params.width / 2 - distance / 2 - 0.05
    end = half_length - distance / 2
    left_zone = ((-end, -inner_y), (-half_length + params.zone_length, inner_y))
    right_zone = ((half_length - params.zone_length, -inner_y), (end, inner_y))
    reverse_count = round(params.reverse_fraction * count)
    forward_count = count - reverse_count
    clearance, separation = distance / 2, params.min_separation
    left_starts = place_points(rng, forward_count, *left_zone, separation, obstacles, clearance)
    right_starts = place_points(rng, reverse_count, *right_zone, separation, obstacles, clearance)
    right_goals = place_points(rng, forward_count, *right_zone, separation, obstacles, clearance)
    left_goals = place_points(rng, reverse_count, *left_zone, separation, obstacles, clearance)
    return Layout(
        starts=np.concatenate([left_starts, right_starts]),
        goals=np.concatenate([right_goals, left_goals]),
        obstacles=walls,
    )


# Random obstacle field ------------------------------------------------------------------------
@dataclass(frozen=True)
class RandomFieldParams:
    """Random circular obstacles with random starts and goals among them.

    Attributes:
        num_obstacles: how many discs.
        obstacle_radius_min: smallest disc radius [m].
        obstacle_radius_max: largest disc radius [m].
        obstacle_gap: smallest distance between two obstacle surfaces [m].
        min_separation: smallest distance between two starts or two goals [m].
        min_travel: smallest start-to-goal distance [m].
        obstacle_clearance: starts and goals keep this much more than half the safety distance
            from obstacle surfaces [m].
    """

    num_obstacles: int = 10
    obstacle_radius_min: float = 0.3
    obstacle_radius_max: float = 0.7
    obstacle_gap: float = 1.0
    min_separation: float = 0.8
    min_travel: float = 3.0
    obstacle_clearance: float = 0.3

    def __post_init__(self) -> None:
        _require_integer("num_obstacles", self.num_obstacles, 0)
        require_positive("obstacle_radius_min", self.obstacle_radius_min)
        require_positive("obstacle_radius_max", self.obstacle_radius_max)
        if self.obstacle_radius_max < self.obstacle_radius_min:
            raise ValueError(
                f"obstacle_radius_max: expected >= obstacle_radius_min "
                f"({self.obstacle_radius_min!r}), got {self.obstacle_radius_max!r}"
            )
        require_non_negative("obstacle_gap", self.obstacle_gap)
        require_positive("min_separation", self.min_separation)
        require_non_negative("min_travel", self.min_travel)
        require_non_negative("obstacle_clearance", self.obstacle_clearance)


def random_field(
    params: RandomFieldParams, count: int, rng: np.random.Generator, context: LayoutContext
) -> Layout:
    arena = context.require_arena("random_field")
    if params.obstacle_gap < context.safety_distance:
        raise ValueError(
            f"{PARAMS}.obstacle_gap: expected at least the safety distance "
            f"{context.safety_distance:g} m so agents fit between obstacles, "
            f"got {params.obstacle_gap!r}"
        )
    largest = params.obstacle_radius_max
    radii = rng.uniform(params.obstacle_radius_min, largest, size=params.num_obstacles)
    centres = place_points(
        rng,
        params.num_obstacles,
        (arena.x_min + largest, arena.y_min + largest),
        (arena.x_max - largest, arena.y_max - largest),
        params.obstacle_gap,
        context.obstacles,
        params.obstacle_gap,
        radii=radii,
    )
    field_obstacles = np.column_stack([centres, radii])
    obstacles = np.concatenate([context.obstacles, field_obstacles])
    edge = context.safety_distance / 2 + context.radius
    low, high = (arena.x_min + edge, arena.y_min + edge), (arena.x_max - edge, arena.y_max - edge)
    clearance = context.safety_distance / 2 + params.obstacle_clearance
    starts = place_points(rng, count, low, high, params.min_separation, obstacles, clearance)
    goals = place_points(
        rng,
        count,
        low,
        high,
        params.min_separation,
        obstacles,
        clearance,
        anchors=starts,
        min_anchor_distance=params.min_travel,
    )
    return Layout(starts=starts, goals=goals, obstacles=field_obstacles)


# Registry -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A generator family: its parameter type, its generator and its smallest team."""

    params_type: type
    generate: Callable[[object, int, np.random.Generator, LayoutContext], Layout]
    min_agents: int = 1


FAMILIES: dict[str, Family] = {
    "circle_swap": Family(CircleSwapParams, circle_swap, min_agents=2),
    "crossing_groups": Family(CrossingGroupsParams, crossing_groups, min_agents=2),
    "doorway": Family(DoorwayParams, doorway),
    "corridor": Family(CorridorParams, corridor),
    "random_field": Family(RandomFieldParams, random_field),
}
"""Family name (the YAML ``generator.family``) -> family."""
