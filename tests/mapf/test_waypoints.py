"""Grid waypoints for robots in continuous space: frames, snapping, conflict-free moves."""

import numpy as np
import pytest

from fleetpilot.mapf.string_maps import parse_string_map
from fleetpilot.mapf.waypoints import GridFrame, WaypointPlanner, robot_cells

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
