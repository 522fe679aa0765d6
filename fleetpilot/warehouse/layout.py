"""A warehouse floor from a character map: shelves, aisles, pick and drop stations.

One character per grid cell, one line per row (row 0 is the top, the +y side):
``.`` floor, ``#`` shelf, ``P`` pick station, ``D`` drop station. The same grid is the MAPF
planner's occupancy grid (shelves blocked, stations free) and, cell by cell, the physical world:
every shelf cell is a cylinder of radius ``shelf_radius`` (a PyBullet body and an obstacle disc of
the CBF filter), and the arena walls enclose the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fleetpilot.mapf.errors import MapFormatError
from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.waypoints import GridFrame
from fleetpilot.scenarios import Arena

FLOOR, SHELF, PICK, DROP = ".", "#", "P", "D"
CELL_KINDS = FLOOR + SHELF + PICK + DROP


@dataclass(frozen=True, eq=False)
class WarehouseLayout:
    """A parsed floor.

    Attributes:
        grid: the occupancy grid (shelves blocked).
        frame: where the grid lies in the world (lower-left corner at the origin).
        pick_cells, drop_cells: (K, 2) int64 ``(row, col)`` of the stations.
        shelf_radius: radius of each shelf cell's cylinder [m].
    """

    grid: GridMap
    frame: GridFrame
    pick_cells: np.ndarray
    drop_cells: np.ndarray
    shelf_radius: float

    @property
    def obstacles(self) -> np.ndarray:
        """(M, 3) [x, y, radius] of the shelf cylinders [m]."""
        centres = self.frame.to_world(np.argwhere(self.grid.blocked))
        return np.column_stack([centres, np.full(len(centres), self.shelf_radius)])

    @property
    def arena(self) -> Arena:
        """The walls around the grid."""
        frame = self.frame
        return Arena(
            frame.origin_x,
            frame.origin_y,
            frame.origin_x + self.grid.width * frame.resolution,
            frame.origin_y + self.grid.height * frame.resolution,
        )

    @property
    def pick_stations(self) -> np.ndarray:
        """(K, 2) world positions of the pick stations [m]."""
        return self.frame.to_world(self.pick_cells)

    @property
    def drop_stations(self) -> np.ndarray:
        """(K, 2) world positions of the drop stations [m]."""
        return self.frame.to_world(self.drop_cells)

    @property
    def parking_cells(self) -> np.ndarray:
        """(K, 2) floor cells that are not stations: where robots start and wait for work."""
        return np.argwhere(self._chars == FLOOR)

    @property
    def _chars(self) -> np.ndarray:
        chars = np.full(self.grid.blocked.shape, FLOOR, dtype="<U1")
        chars[self.grid.blocked] = SHELF
        chars[tuple(self.pick_cells.T)] = PICK
        chars[tuple(self.drop_cells.T)] = DROP
        return chars

    def render(self) -> str:
        """The map text this layout was parsed from (normalised)."""
        return "\n".join("".join(row) for row in self._chars)


def parse_layout(
    text: str, resolution: float, shelf_radius: float, source: str = "<map>"
) -> WarehouseLayout:
    """Parses a warehouse map (surrounding blank lines and indentation are ignored).

    Raises:
        MapFormatError: naming the source, line and what was expected (unknown characters,
            ragged rows, no station of a kind, stations the floor does not connect).
        ValueError: naming ``resolution`` or ``shelf_radius`` when out of range.
    """
    if not math.isfinite(resolution) or resolution <= 0:
        raise ValueError(f"resolution: expected a positive number, got {resolution!r}")
    if not math.isfinite(shelf_radius) or not 0 < shelf_radius <= resolution / 2:
        raise ValueError(
            f"shelf_radius: expected a number in (0, resolution / 2 = {resolution / 2:g}], "
            f"got {shelf_radius!r}"
        )
    rows = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)]
    rows = [(number, line) for number, line in rows if line]
    if not rows:
        raise MapFormatError(source, 1, "at least one map row", "no rows")
    width = len(rows[0][1])
    chars = np.full((len(rows), width), FLOOR, dtype="<U1")
    for row, (number, line) in enumerate(rows):
        if len(line) != width:
            raise MapFormatError(source, number, f"{width} characters like the first row", line)
        for col, char in enumerate(line):
            if char not in CELL_KINDS:
                expected = f"one of {CELL_KINDS!r} at column {col + 1}"
                raise MapFormatError(source, number, expected, char)
            chars[row, col] = char
    for kind, name in ((PICK, "pick"), (DROP, "drop")):
        if not (chars == kind).any():
            expected = f"at least one {name} station {kind!r}"
            raise MapFormatError(source, rows[0][0], expected, "none")
    _require_connected(chars, source, rows[0][0])
    grid = GridMap(blocked=chars == SHELF, name=source)
    return WarehouseLayout(
        grid=grid,
        frame=GridFrame(0.0, 0.0, resolution, grid.height),
        pick_cells=np.argwhere(chars == PICK),
        drop_cells=np.argwhere(chars == DROP),
        shelf_radius=shelf_radius,
    )


def _require_connected(chars: np.ndarray, source: str, line: int) -> None:
    """Every station must be reachable from every other over the floor (4-connected)."""
    labels, _ = ndimage.label(chars != SHELF)
    station_labels = set(labels[(chars == PICK) | (chars == DROP)].tolist())
    if len(station_labels) > 1:
        raise MapFormatError(source, line, "every station reachable from the others", "islands")
