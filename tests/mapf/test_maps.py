"""Map formats and generators: round trips, clear errors, seeded generation."""

import numpy as np
import pytest

from fleetpilot.mapf.errors import MapFormatError
from fleetpilot.mapf.generators import (
    city_map,
    generate_map,
    maze_map,
    random_map,
    warehouse_map,
)
from fleetpilot.mapf.movingai import (
    ScenarioTask,
    format_map,
    parse_map,
    read_map,
    read_scen,
    write_map,
    write_scen,
)
from fleetpilot.mapf.occupancy import (
    GridGeometry,
    OccupancyThresholds,
    grid_from_occupancy,
    occupancy_from_grid,
)
from fleetpilot.mapf.search_kernels import connected_components
from fleetpilot.mapf.string_maps import format_string_map, parse_string_map


@pytest.mark.parametrize("spec", ["random:13x9:0.3", "maze:15x11", "warehouse"])
def test_movingai_map_round_trip(tmp_path, spec):
    grid = generate_map(spec, seed=4)
    path = tmp_path / "grid.map"
    write_map(grid, path)
    loaded = read_map(path)
    assert np.array_equal(loaded.blocked, grid.blocked)
    assert (loaded.height, loaded.width) == (grid.height, grid.width)


def test_movingai_reads_all_terrain_characters():
    text = "type octile\nheight 2\nwidth 4\nmap\n.GS@\nOTW.\n"
    grid = parse_map(text)
    assert grid.blocked.tolist() == [[False, False, False, True], [True, True, True, False]]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("type octile\nheight 2\nwidth 3\nmap\n...\n..\n", 6, "3 map characters"),
        ("type octile\nheight 2\nwidth 3\nmap\n...\n.x.\n", 6, "one of '.GS@OTW' at column 2"),
        ("type octile\nheight two\nwidth 3\nmap\n", 2, "a positive integer height"),
        ("type octile\nheight 2\nwidth 3\n...\n", 4, "the line 'map'"),
        ("type octile\nheight 3\nwidth 3\nmap\n...\n...\n", 7, "map row 2 of 3"),
    ],
)
def test_malformed_map_names_file_line_and_expectation(tmp_path, text, line, expected):
    path = tmp_path / "broken.map"
    path.write_text(text)
    with pytest.raises(MapFormatError) as info:
        read_map(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: expected {expected}")
    assert info.value.line == line


def test_scen_round_trip_and_errors(tmp_path):
    tasks = [
        ScenarioTask(0, "a.map", 8, 6, start=(5, 1), goal=(0, 7), optimal_length=7.41421356),
        ScenarioTask(3, "a.map", 8, 6, start=(2, 2), goal=(2, 3), optimal_length=1.0),
    ]
    path = tmp_path / "a.map.scen"
    write_scen(tasks, path)
    assert read_scen(path) == tasks
    path.write_text("version 1\n0\ta.map\t8\t6\t1\t9\t7\t0\t7.4\n")
    with pytest.raises(MapFormatError, match=r"a\.map\.scen:2: expected start y in \[0, 6\)"):
        read_scen(path)
    path.write_text("0\ta.map\t8\t6\t1\t1\t7\t0\t7.4\n")
    with pytest.raises(MapFormatError, match=r":1: expected 'version 1'"):
        read_scen(path)


def test_string_map_round_trip_keeps_start_and_goal_masks():
    grid = warehouse_map()
    again = parse_string_map(format_string_map(grid))
    assert again.same_layout(grid)
    plain = random_map(7, 9, 0.3, seed=2)
    assert parse_string_map(format_string_map(plain)).same_layout(plain)
    with pytest.raises(MapFormatError, match=r"<string>:2: expected 3 characters"):
        parse_string_map("...\n..\n")


def test_warehouse_matches_pogema_wfi_layout():
    grid = warehouse_map()
    assert (grid.width, grid.height) == (46, 33)
    assert int(grid.start_cells.sum()) == 192
    assert int(grid.goal_cells.sum()) == 480
    # Goal cells line the shelves: each touches a shelf cell above or below.
    rows, cols = np.nonzero(grid.goal_cells)
    above = grid.blocked[np.clip(rows - 1, 0, None), cols]
    below = grid.blocked[np.clip(rows + 1, None, grid.height - 1), cols]
    assert np.all(above | below)
    labels = connected_components(grid.free.reshape(-1), grid.width)
    assert labels.max() == 0  # one connected free space


def test_generators_are_seeded_and_shaped():
    a, b, c = random_map(20, 30, 0.25, 1), random_map(20, 30, 0.25, 1), random_map(20, 30, 0.25, 2)
    assert a.blocked.shape == (20, 30)
    assert np.array_equal(a.blocked, b.blocked) and not np.array_equal(a.blocked, c.blocked)
    assert 0.15 < a.blocked.mean() < 0.35
    maze = maze_map(21, 21, seed=3)
    assert np.array_equal(maze.blocked, maze_map(21, 21, seed=3).blocked)
    labels = connected_components(maze.free.reshape(-1), 21)
    assert labels.max() == 0  # a spanning tree plus loops is connected
    with pytest.raises(ValueError, match="unknown family 'forest'"):
        generate_map("forest:10x10", 0)
    with pytest.raises(ValueError, match="density must be in"):
        generate_map("random:10x10:1.5", 0)


def test_city_maps_are_seeded_blocks_covering_the_density():
    a, b = city_map(64, 64, 0.3, seed=4), generate_map("city:64x64:0.3", 4)
    assert a.blocked.shape == (64, 64) and np.array_equal(a.blocked, b.blocked)
    assert not np.array_equal(a.blocked, city_map(64, 64, 0.3, seed=5).blocked)
    # Covered up to the density by the last block (at most 10x10 cells on a 64x64 map).
    assert 0.3 <= a.blocked.mean() < 0.3 + 100 / 64**2

    # Buildings, not scattered cells: almost every blocked cell has a blocked neighbour
    # on each axis, which an independent random map at the same density rarely gives.
    def clustered(grid):
        padded = np.pad(grid.blocked, 1)
        core = padded[1:-1, 1:-1]
        vertical = padded[:-2, 1:-1] | padded[2:, 1:-1]
        horizontal = padded[1:-1, :-2] | padded[1:-1, 2:]
        return (core & vertical & horizontal).sum() / core.sum()

    assert clustered(a) > 0.95 > 0.3 > clustered(random_map(64, 64, 0.3, 4))
    with pytest.raises(ValueError, match="density must be in \\[0, 0.9\\], got 0.95"):
        generate_map("city:64x64:0.95", 0)
    with pytest.raises(ValueError, match="expected city:WIDTHxHEIGHT:DENSITY"):
        generate_map("city:64x64", 0)


def test_occupancy_grid_round_trip_and_thresholds():
    grid = random_map(9, 14, 0.3, seed=5)
    data = occupancy_from_grid(grid)
    assert data.dtype == np.int8 and data.size == 9 * 14
    assert np.array_equal(grid_from_occupancy(14, 9, data).blocked, grid.blocked)
    # Row 0 of the OccupancyGrid (y = 0) is the bottom row of the grid.
    assert np.array_equal(data[:14] == 100, grid.blocked[-1])
    raw = np.array([-1, 0, 64, 65, 100, 30], dtype=np.int8)
    strict = grid_from_occupancy(3, 2, raw)
    lenient = grid_from_occupancy(3, 2, raw, OccupancyThresholds(50, unknown_is_blocked=False))
    # data row 0 (-1, 0, 64) is grid row 1.
    assert strict.blocked.tolist() == [[True, True, False], [True, False, False]]
    assert lenient.blocked.tolist() == [[True, True, False], [False, False, True]]
    with pytest.raises(ValueError, match="expected width\\*height"):
        grid_from_occupancy(4, 2, raw)
    with pytest.raises(ValueError, match="found 120"):
        grid_from_occupancy(3, 2, np.array([0, 0, 120, 0, 0, 0]))


def test_grid_geometry_world_and_cell_conversions_invert():
    geometry = GridGeometry(resolution=0.05, origin_x=-3.0, origin_y=2.0, origin_yaw=0.7)
    cells = np.array([[0, 0], [4, 7], [8, 13]])
    world = geometry.cells_to_world(cells, height=9)
    assert np.array_equal(geometry.world_to_cells(world, height=9), cells)
    # Cell (row 8 = bottom, col 0) centre is half a cell from the origin along both axes.
    corner = geometry.cells_to_world(np.array([8, 0]), height=9)
    local = np.array([0.025, 0.025])
    rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    assert np.allclose(corner, np.array([-3.0, 2.0]) + rotation @ local)
    with pytest.raises(ValueError, match="GridGeometry.resolution must be > 0, got 0"):
        GridGeometry(resolution=0)


def test_format_map_header():
    text = format_map(random_map(3, 5, 0.0, 0))
    assert text.splitlines()[:4] == ["type octile", "height 3", "width 5", "map"]
