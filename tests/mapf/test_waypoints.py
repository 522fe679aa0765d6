"""Grid waypoints for robots in continuous space: frames, snapping, conflict-free moves."""

import numpy as np
import pytest

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.string_maps import parse_string_map
from fleetpilot.mapf.waypoints import GridFrame, WaypointPlanner, robot_cells, snap_to_free

MAP = parse_string_map(
    """
    .....
    .###.
    .....
    """
)
FRAME = GridFrame(origin_x=-1.0, origin_y=2.0, resolution=0.5, height=3)


def test_frame_round_trips_cells_and_puts_row_zero_on_top():
    cells = np.array([[0, 0], [2, 4], [1, 2]])
    world = FRAME.to_world(cells)
    np.testing.assert_allclose(world[0], [-0.75, 3.25])  # top-left cell centre
    np.testing.assert_allclose(world[1], [1.25, 2.25])  # bottom-right
    np.testing.assert_array_equal(FRAME.to_cells(world), cells)


@pytest.mark.parametrize("planner", ["astar", "pibt", "follower-pibt"])
def test_robots_step_to_adjacent_free_cells_towards_their_goals(planner):
    waypoints = WaypointPlanner(MAP, FRAME, planner)
    positions = FRAME.to_world(np.array([[0, 0], [2, 4]])) + 0.05
    goals = FRAME.to_world(np.array([[0, 4], [2, 0]]))
    for _ in range(12):
        nxt = waypoints.next_waypoints(["a", "b"], positions, goals)
        steps = np.abs(FRAME.to_cells(nxt) - FRAME.to_cells(positions)).sum(axis=1)
        assert np.all(steps <= 1)  # one 4-connected move or a wait
        assert not MAP.blocked[tuple(FRAME.to_cells(nxt).T)].any()
        assert len({tuple(c) for c in FRAME.to_cells(nxt)}) == 2  # never one cell for two
        positions = nxt
    np.testing.assert_allclose(positions, goals)


def test_a_robot_inside_an_obstacle_cell_is_snapped_out():
    waypoints = WaypointPlanner(MAP, FRAME, "astar")
    inside_wall = FRAME.to_world(np.array([[1, 2]]))
    nxt = waypoints.next_waypoints(["a"], inside_wall, FRAME.to_world(np.array([[0, 0]])))
    assert not MAP.blocked[tuple(FRAME.to_cells(nxt)[0])]


AISLE = parse_string_map("#.#\n#.#\n#.#\n#.#\n#.#")  # a one-cell-wide aisle, 5 cells long
AISLE_FRAME = GridFrame(origin_x=0.0, origin_y=0.0, resolution=1.0, height=5)


@pytest.mark.parametrize("first", [0, 1])
def test_two_robots_in_one_aisle_cell_keep_their_order(first):
    # Both stand in the middle cell (row 2, y in [2, 3)): the lower one near its bottom edge.
    lower, upper = [1.5, 2.15], [1.5, 2.8]
    positions = np.array([lower, upper] if first == 0 else [upper, lower])
    cells = robot_cells(AISLE, AISLE_FRAME, positions)
    names = ("lower", "upper") if first == 0 else ("upper", "lower")
    by_robot = dict(zip(names, cells[:, 0], strict=True))
    # Row 0 is the top: the upper robot must keep a smaller row than the lower one, whichever
    # of them the planner lists first (listing order once put the lower robot above).
    assert by_robot["upper"] < by_robot["lower"]
    assert sorted(cells[:, 0].tolist()) == [2, 3]  # the upper one is nearer the centre (2.5)
    assert np.all(cells[:, 1] == 1)


def test_robots_beyond_every_nearby_free_cell_take_the_nearest_free_cell_left():
    # Four robots crowd the aisle's top cell: three find cells within two cells of theirs, the
    # fourth only further down.
    top = AISLE_FRAME.to_world(np.array([[0, 1]]))[0]
    positions = np.array([top, top + [0.0, -0.1], top + [0.0, -0.2], top + [0.0, -0.3]])
    cells = robot_cells(AISLE, AISLE_FRAME, positions)
    assert sorted(cells[:, 0].tolist()) == [0, 1, 2, 3]
    assert len({tuple(cell) for cell in cells}) == 4
    with pytest.raises(ValueError, match="more robots than free cells"):
        robot_cells(AISLE, AISLE_FRAME, np.repeat(positions, 2, axis=0)[:6])


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="resolution"):
        GridFrame(0.0, 0.0, 0.0, 3)
    with pytest.raises(ValueError, match="height: expected the map's 3 rows"):
        WaypointPlanner(MAP, GridFrame(0.0, 0.0, 1.0, 4), "astar")
    with pytest.raises(ValueError, match=r"positions\[0, 1\]"):
        WaypointPlanner(MAP, FRAME, "astar").next_waypoints(["a"], [[0.0, np.nan]], [[0, 0]])


def random_case(rng):
    """A random map, frame and robot positions, often crowded, outside or far from free cells."""
    height, width = (int(n) for n in rng.integers(1, 10, size=2))
    grid = GridMap(rng.random((height, width)) < rng.uniform(0.0, 0.8))
    frame = GridFrame(
        rng.uniform(-3, 3), rng.uniform(-3, 3), float(rng.choice([0.3, 1.0])), height
    )
    count = int(rng.integers(0, 12))
    corner = np.array([frame.origin_x, frame.origin_y])
    size = np.array([width, height]) * frame.resolution
    positions = corner + rng.uniform(-0.5, 1.5, (count, 2)) * size  # a third outside the grid
    if count and rng.random() < 0.5:  # several robots inside one cell
        crowd = int(rng.integers(1, count + 1))
        positions[:crowd] = positions[0] + rng.uniform(-0.1, 0.1, (crowd, 2)) * frame.resolution
    if count and rng.random() < 0.3:  # on cell corners and centres: distance ties
        positions = np.round(positions / frame.resolution * 2) * frame.resolution / 2
    return grid, frame, positions


def centre_distance(frame, position, cell):
    centre = frame.to_world(np.array([cell]))[0]
    return float(np.linalg.norm(centre - position))


def reference_robot_cells(grid, frame, positions):
    """robot_cells spelled out: nearest (robot, nearby free cell) pair first, then the rest."""
    pairs = []
    for who, (row, col) in enumerate(frame.to_cells(positions).tolist()):
        for r in range(row - 2, row + 3):
            for c in range(col - 2, col + 3):
                if grid.is_free(np.array([r, c])):
                    pairs.append((centre_distance(frame, positions[who], (r, c)), who, r, c))
    cells: dict[int, tuple[int, int]] = {}
    for _, who, r, c in sorted(pairs):
        if who not in cells and (r, c) not in cells.values():
            cells[who] = (r, c)
    for who in range(len(positions)):
        if who not in cells:
            left = [tuple(cell) for cell in np.argwhere(grid.free).tolist()]
            left = [cell for cell in left if cell not in cells.values()]
            if not left:
                raise ValueError("more robots than free cells")
            cells[who] = min(left, key=lambda cell: centre_distance(frame, positions[who], cell))
    return np.array([cells[who] for who in range(len(positions))], dtype=np.int64).reshape(-1, 2)


def test_robot_cells_match_a_nearest_first_greedy_over_robot_cell_pairs():
    rng = np.random.default_rng(7)
    outcomes = {"cells": 0, "too many robots": 0}
    for _ in range(400):
        grid, frame, positions = random_case(rng)
        try:
            expected = reference_robot_cells(grid, frame, positions)
        except ValueError:
            with pytest.raises(ValueError, match="more robots than free cells"):
                robot_cells(grid, frame, positions)
            outcomes["too many robots"] += 1
            continue
        cells = robot_cells(grid, frame, positions)
        assert cells.dtype == np.int64
        np.testing.assert_array_equal(cells, expected)
        outcomes["cells"] += 1
    assert min(outcomes.values()) >= 40  # both outcomes were exercised


def test_snap_to_free_keeps_free_cells_and_moves_the_others_to_the_nearest_free_cell():
    rng = np.random.default_rng(11)
    for _ in range(200):
        grid, frame, positions = random_case(rng)
        free_cells = np.argwhere(grid.free)
        if not len(free_cells):
            with pytest.raises(ValueError, match="no free cell"):
                snap_to_free(grid, frame.to_cells(positions), distinct=False)
            continue
        cells = frame.to_cells(positions)
        snapped = snap_to_free(grid, cells, distinct=False)
        np.testing.assert_array_equal(
            snap_to_free(grid, cells, distinct=False, free_cells=free_cells), snapped
        )
        for cell, moved in zip(cells, snapped, strict=True):
            if grid.is_free(cell):
                np.testing.assert_array_equal(moved, cell)
            else:
                gaps = np.abs(free_cells - cell).sum(axis=1)
                nearest = free_cells[np.flatnonzero(gaps == gaps.min())[0]]  # first on ties
                np.testing.assert_array_equal(moved, nearest)
