"""Seeded map generators (random, maze, city, warehouse) and the ``family:WxH:param`` registry.

``random`` draws each cell as an obstacle with probability ``density`` using exactly POGEMA's
generator call, so ``random_map(h, w, d, seed)`` equals POGEMA's own map for that seed.
``warehouse`` with default arguments is POGEMA's ``wfi_warehouse`` layout (46 wide, 33 high,
192 start cells on the sides, 480 goal cells along the shelves).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fleetpilot.mapf.grid_map import GridMap


def random_map(height: int, width: int, density: float, seed: int) -> GridMap:
    """Independent obstacles, as POGEMA's ``generate_obstacles``.

    Args:
        height: rows.
        width: columns.
        density: probability that a cell is an obstacle, in [0, 1].
        seed: the numpy ``default_rng`` seed.
    """
    _check_density(density, 1)
    _check_size(height, width)
    blocked = np.random.default_rng(seed).binomial(1, density, (height, width)).astype(bool)
    return GridMap(blocked=blocked, name=f"random:{width}x{height}:{density}:seed{seed}")


def maze_map(height: int, width: int, seed: int, loop_fraction: float = 0.65) -> GridMap:
    """A corridor maze: a random spanning tree on the even cells, then extra walls knocked out.

    Corridors are one cell wide. Removing ``loop_fraction`` of the remaining wall segments
    creates cycles (POGEMA's mazes have many), without which agents could never pass each other.

    Args:
        height: rows (odd sizes give a closed outer corridor).
        width: columns.
        seed: the numpy ``default_rng`` seed.
        loop_fraction: share of the remaining wall segments that are removed, in [0, 1].
    """
    if not 0.0 <= loop_fraction <= 1.0:
        raise ValueError(f"loop_fraction must be in [0, 1], got {loop_fraction}")
    _check_size(height, width)
    rng = np.random.default_rng(seed)
    blocked = np.ones((height, width), dtype=bool)
    lattice_rows, lattice_cols = (height + 1) // 2, (width + 1) // 2
    blocked[0::2, 0::2] = False
    visited = np.zeros((lattice_rows, lattice_cols), dtype=bool)
    stack = [(int(rng.integers(lattice_rows)), int(rng.integers(lattice_cols)))]
    visited[stack[0]] = True
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    while stack:
        row, col = stack[-1]
        options = [
            (row + dr, col + dc)
            for dr, dc in steps
            if 0 <= row + dr < lattice_rows
            and 0 <= col + dc < lattice_cols
            and not visited[row + dr, col + dc]
        ]
        if not options:
            stack.pop()
            continue
        next_row, next_col = options[int(rng.integers(len(options)))]
        visited[next_row, next_col] = True
        blocked[row + next_row, col + next_col] = False  # the wall cell between the two
        stack.append((next_row, next_col))
    # Wall segments: cells with exactly one even coordinate separate two lattice cells.
    rows, cols = np.nonzero(blocked)
    segment = (rows % 2) != (cols % 2)
    rows, cols = rows[segment], cols[segment]
    knock = rng.random(rows.size) < loop_fraction
    blocked[rows[knock], cols[knock]] = False
    return GridMap(blocked=blocked, name=f"maze:{width}x{height}:{loop_fraction}:seed{seed}")


def city_map(height: int, width: int, density: float, seed: int) -> GridMap:
    """Street-map-like layout: rectangular building blocks scattered until ``density`` is covered.

    Overlapping rectangles merge into the irregular blocks of city cut-outs (MovingAI's street
    maps), with open squares and streets of varying width between them, unlike the scattered
    single cells of ``random_map``.

    Args:
        height: rows.
        width: columns.
        density: share of cells to cover with buildings, in [0, 0.9].
        seed: the numpy ``default_rng`` seed.
    """
    _check_density(density, 0.9)
    _check_size(height, width)
    rng = np.random.default_rng(seed)
    blocked = np.zeros((height, width), dtype=bool)
    longest = max(2, min(height, width) // 6)
    while blocked.mean() < density:
        rows, cols = rng.integers(2, longest + 1, size=2)
        top, left = rng.integers(0, height - rows + 1), rng.integers(0, width - cols + 1)
        blocked[top : top + rows, left : left + cols] = True
    return GridMap(blocked=blocked, name=f"city:{width}x{height}:{density}:seed{seed}")


def warehouse_map(
    shelf_rows: int = 8,
    shelf_columns: int = 3,
    shelf_length: int = 10,
    station_columns: int = 2,
) -> GridMap:
    """A warehouse: shelf blocks with goal cells along them, start stations on both sides.

    Each shelf row is a band of 4 grid rows (corridor, goal row, shelf, goal row), plus a final
    corridor row. The defaults reproduce POGEMA's ``wfi_warehouse`` (46 x 33).

    Args:
        shelf_rows: number of shelf bands.
        shelf_columns: shelves per band, separated by one-cell aisles.
        shelf_length: shelf length in cells.
        station_columns: pairs of start-station columns on each side.
    """
    for name, value in (
        ("shelf_rows", shelf_rows),
        ("shelf_columns", shelf_columns),
        ("shelf_length", shelf_length),
        ("station_columns", station_columns),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    side = "!" + "@@!" * station_columns
    band_middle = side + ("#" * shelf_length + "!") * shelf_columns + "@@!" * station_columns
    band_goal = side + ("$" * shelf_length + "!") * shelf_columns + "@@!" * station_columns
    corridor = "!" * len(band_goal)
    lines = []
    for _ in range(shelf_rows):
        lines += [corridor, band_goal, band_middle, band_goal]
    lines.append(corridor)
    chars = np.array([list(line) for line in lines])
    free = chars != "#"
    # Stations sit on the side columns in the goal rows and the shelf rows alike.
    return GridMap(
        blocked=~free,
        start_cells=chars == "@",
        goal_cells=chars == "$",
        name=f"warehouse:{len(corridor)}x{len(lines)}",
    )


def _check_density(density: float, highest: float) -> None:
    if not 0.0 <= density <= highest:
        raise ValueError(f"density must be in [0, {highest}], got {density}")


def _check_size(height: int, width: int) -> None:
    if height < 2 or width < 2:
        raise ValueError(f"map size must be at least 2x2, got {width}x{height}")


def _parse_size(text: str, spec: str) -> tuple[int, int]:
    """``WxH`` -> (height, width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"map spec {spec!r}: expected a size WIDTHxHEIGHT, got {text!r}")
    return int(parts[1]), int(parts[0])


def _random_from_spec(args: list[str], spec: str, seed: int) -> GridMap:
    if len(args) != 2:
        raise ValueError(f"map spec {spec!r}: expected random:WIDTHxHEIGHT:DENSITY")
    height, width = _parse_size(args[0], spec)
    return random_map(height, width, float(args[1]), seed)


def _maze_from_spec(args: list[str], spec: str, seed: int) -> GridMap:
    if len(args) not in (1, 2):
        raise ValueError(f"map spec {spec!r}: expected maze:WIDTHxHEIGHT[:LOOP_FRACTION]")
    height, width = _parse_size(args[0], spec)
    loop_fraction = float(args[1]) if len(args) == 2 else 0.65
    return maze_map(height, width, seed, loop_fraction)


def _city_from_spec(args: list[str], spec: str, seed: int) -> GridMap:
    if len(args) != 2:
        raise ValueError(f"map spec {spec!r}: expected city:WIDTHxHEIGHT:DENSITY")
    height, width = _parse_size(args[0], spec)
    return city_map(height, width, float(args[1]), seed)


def _warehouse_from_spec(args: list[str], spec: str, seed: int) -> GridMap:
    del seed  # the layout is fixed; episodes differ by their start/goal draws
    if len(args) > 1:
        raise ValueError(f"map spec {spec!r}: expected warehouse[:SHELF_ROWSxSHELF_COLUMNS]")
    if not args:
        return warehouse_map()
    shelf_rows, shelf_columns = _parse_size(args[0], spec)
    return warehouse_map(shelf_rows=shelf_columns, shelf_columns=shelf_rows)


#: family name -> builder(args after the family, full spec, seed).
MAP_FAMILIES: dict[str, Callable[[list[str], str, int], GridMap]] = {
    "random": _random_from_spec,
    "maze": _maze_from_spec,
    "city": _city_from_spec,
    "warehouse": _warehouse_from_spec,
}


def generate_map(spec: str, seed: int) -> GridMap:
    """Build a map from a spec such as ``random:20x20:0.3``, ``maze:21x21`` or ``warehouse``.

    Args:
        spec: ``family[:WIDTHxHEIGHT[:PARAM]]``; families are the keys of ``MAP_FAMILIES``.
        seed: generator seed (the same spec and seed always give the same map).
    """
    family, *args = spec.split(":")
    builder = MAP_FAMILIES.get(family)
    if builder is None:
        raise ValueError(
            f"map spec {spec!r}: unknown family {family!r}; known: {list(MAP_FAMILIES)}"
        )
    return builder(args, spec, seed)
