"""Seeded placement of points and obstacle walls for the scenario generators."""

from __future__ import annotations

import numpy as np


class PlacementError(ValueError):
    """There is not enough room for the requested points."""


CANDIDATES_PER_DRAW = 256
"""Candidates drawn at once per point; placement fails after ``max_draws`` such draws."""


def place_points(
    rng: np.random.Generator,
    count: int,
    low: tuple[float, float],
    high: tuple[float, float],
    min_separation: float,
    obstacles: np.ndarray,
    obstacle_clearance: float,
    taken: np.ndarray | None = None,
    anchors: np.ndarray | None = None,
    min_anchor_distance: float = 0.0,
    radii: np.ndarray | None = None,
    max_draws: int = 40,
) -> np.ndarray:
    """Uniformly random points in a box that keep their distance from each other and obstacles.

    Points are placed one at a time: each is the first of a batch of uniform candidates that is
    valid, so the result depends only on ``rng``'s state.

    Args:
        rng: the random stream.
        count: how many points.
        low: (x, y) lower corner of the box [m].
        high: (x, y) upper corner of the box [m].
        min_separation: smallest distance between two points, and to ``taken`` [m].
        obstacles: (M, 3) [x, y, r] discs [m]; points keep ``obstacle_clearance`` from surfaces.
        obstacle_clearance: smallest distance from a point to an obstacle surface [m].
        taken: (K, 2) points placed earlier that new points must also avoid, or None.
        anchors: (count, 2) points; point k must lie at least ``min_anchor_distance`` from
            ``anchors[k]`` (a goal far enough from its own start), or None.
        min_anchor_distance: see ``anchors`` [m].
        radii: (count,) radii of discs centred on the points [m], or None for points; two
            discs then keep ``min_separation`` between their surfaces, and each disc keeps
            ``obstacle_clearance`` + its radius from obstacle surfaces (``taken`` are points).
        max_draws: batches of candidates to try per point before giving up.

    Returns:
        (count, 2) float64 points [m].

    Raises:
        PlacementError: when the box is too small for ``count`` points with these distances.
    """
    low_array, high_array = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if np.any(high_array <= low_array):
        raise PlacementError(f"expected a non-empty placement box, got low={low} high={high}")
    placed = np.zeros((0, 2)) if taken is None else np.asarray(taken, dtype=float).reshape(-1, 2)
    first_new = len(placed)
    own_radii = np.zeros(count) if radii is None else np.asarray(radii, dtype=float)
    placed_radii = np.zeros(first_new)
    for index in range(count):
        radius = own_radii[index]
        for _ in range(max_draws):
            candidates = rng.uniform(low_array, high_array, size=(CANDIDATES_PER_DRAW, 2))
            valid = np.ones(CANDIDATES_PER_DRAW, dtype=bool)
            if len(placed):
                gaps = np.linalg.norm(candidates[:, None] - placed[None], axis=-1)
                gaps -= placed_radii[None] + radius
                valid &= gaps.min(axis=1) >= min_separation
            if anchors is not None:
                travel = np.linalg.norm(candidates - anchors[index], axis=1)
                valid &= travel >= min_anchor_distance
            if len(obstacles):
                surface = (
                    np.linalg.norm(candidates[:, None] - obstacles[None, :, :2], axis=-1)
                    - obstacles[None, :, 2]
                )
                valid &= surface.min(axis=1) >= obstacle_clearance + radius
            if valid.any():
                placed = np.concatenate([placed, candidates[np.argmax(valid)][None]])
                placed_radii = np.append(placed_radii, radius)
                break
        else:
            raise PlacementError(
                f"could place only {index} of {count} points {min_separation:g} m apart in the "
                f"box ({low_array[0]:g}, {low_array[1]:g})..({high_array[0]:g}, "
                f"{high_array[1]:g}); use fewer agents or more room"
            )
    return placed[first_new:]


def disc_wall(start: np.ndarray, end: np.ndarray, radius: float, spacing: float) -> np.ndarray:
    """A straight wall of overlapping discs from ``start`` to ``end`` (both (2,) [m]).

    Returns:
        (K, 3) float64 discs [x, y, radius] with centres ``spacing`` apart (the last one at
        ``end``), so that nothing wider than the overlap gap can slip through.
    """
    length = float(np.linalg.norm(end - start))
    count = max(1, int(np.ceil(length / spacing))) + 1
    fractions = np.linspace(0.0, 1.0, count)[:, None]
    centres = start[None] + fractions * (end - start)[None]
    return np.column_stack([centres, np.full(count, radius)])
