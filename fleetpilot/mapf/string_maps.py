"""POGEMA-style string maps.

One line per row: ``.`` free (start and goal allowed), ``#`` obstacle, ``@`` free start-only cell,
``$`` free goal-only cell, ``!`` free cell that is neither. When the map uses none of ``@$!``,
every free cell may hold starts and goals (masks are None), as in POGEMA's ``GridConfig``.
"""

from __future__ import annotations

import numpy as np

from fleetpilot.mapf.errors import MapFormatError
from fleetpilot.mapf.grid_map import GridMap

_SPECIAL = frozenset("@$!")


def parse_string_map(text: str, source: str = "<string>") -> GridMap:
    """Parse a POGEMA-style string map (surrounding blank lines and indentation are ignored).

    Raises:
        MapFormatError: naming the source, line and what was expected.
    """
    rows = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)]
    rows = [(number, line) for number, line in rows if line]
    if not rows:
        raise MapFormatError(source, 1, "at least one map row", "no rows")
    width = len(rows[0][1])
    blocked = np.zeros((len(rows), width), dtype=bool)
    starts = np.zeros_like(blocked)
    goals = np.zeros_like(blocked)
    for row, (number, line) in enumerate(rows):
        if len(line) != width:
            raise MapFormatError(source, number, f"{width} characters like the first row", line)
        for col, char in enumerate(line):
            if char == "#":
                blocked[row, col] = True
            elif char == ".":
                starts[row, col] = goals[row, col] = True
            elif char == "@":
                starts[row, col] = True
            elif char == "$":
                goals[row, col] = True
            elif char != "!":
                raise MapFormatError(source, number, f"one of '.#@$!' at column {col + 1}", char)
    if not any(char in _SPECIAL for _, line in rows for char in line):
        return GridMap(blocked=blocked, name=source)
    return GridMap(blocked=blocked, start_cells=starts, goal_cells=goals, name=source)


def format_string_map(grid: GridMap) -> str:
    """The POGEMA string form of a grid; start/goal masks become ``@``, ``$`` and ``!``."""
    starts = grid.free if grid.start_cells is None else grid.start_cells
    goals = grid.free if grid.goal_cells is None else grid.goal_cells
    chars = np.full(grid.blocked.shape, "!", dtype="<U1")
    chars[starts & goals] = "."
    chars[starts & ~goals] = "@"
    chars[goals & ~starts] = "$"
    chars[grid.blocked] = "#"
    return "\n".join("".join(row) for row in chars)
