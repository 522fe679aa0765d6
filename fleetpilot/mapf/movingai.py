"""MovingAI benchmark ``.map`` and ``.scen`` files (https://movingai.com/benchmarks/formats.html).

``.map``::

    type octile
    height H
    width W
    map
    <H lines of W characters>

``.``, ``G`` and ``S`` are free; ``@``, ``O``, ``T`` and ``W`` are blocked. ``.scen`` files start
with ``version 1`` and hold one tab-separated task per line: bucket, map file, map width, map
height, start x, start y, goal x, goal y, optimal (8-connected) length; x is the column and y the
row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetpilot.mapf.errors import MapFormatError
from fleetpilot.mapf.grid_map import GridMap

FREE_CHARS = frozenset(".GS")
BLOCKED_CHARS = frozenset("@OTW")


def parse_map(text: str, source: str = "<string>") -> GridMap:
    """Parse the text of a MovingAI ``.map`` file.

    Args:
        text: the file's contents.
        source: the name used in error messages and as the map's name.

    Returns:
        The grid; MovingAI maps carry no start/goal masks.

    Raises:
        MapFormatError: naming the file, line and what was expected.
    """
    lines = text.splitlines()

    def header_value(index: int, key: str) -> str:
        if index >= len(lines):
            raise MapFormatError(source, index + 1, f"header line '{key} ...'", "end of file")
        parts = lines[index].split()
        if len(parts) != 2 or parts[0].lower() != key:
            raise MapFormatError(source, index + 1, f"header line '{key} <value>'", lines[index])
        return parts[1]

    header_value(0, "type")
    dims = {}
    for index, key in ((1, "height"), (2, "width")):
        value = header_value(index, key)
        if not value.isdigit() or int(value) < 1:
            raise MapFormatError(source, index + 1, f"a positive integer {key}", lines[index])
        dims[key] = int(value)
    if len(lines) < 4 or lines[3].strip().lower() != "map":
        found = lines[3] if len(lines) > 3 else "end of file"
        raise MapFormatError(source, 4, "the line 'map'", found)
    height, width = dims["height"], dims["width"]
    blocked = np.zeros((height, width), dtype=bool)
    for row in range(height):
        line_number = 5 + row
        if 4 + row >= len(lines):
            raise MapFormatError(source, line_number, f"map row {row} of {height}", "end of file")
        line = lines[4 + row].rstrip("\r\n")
        if len(line) != width:
            raise MapFormatError(
                source, line_number, f"{width} map characters", f"{len(line)} characters: {line}"
            )
        for col, char in enumerate(line):
            if char in BLOCKED_CHARS:
                blocked[row, col] = True
            elif char not in FREE_CHARS:
                raise MapFormatError(
                    source, line_number, f"one of '.GS@OTW' at column {col + 1}", char
                )
    trailing = [line for line in lines[4 + height :] if line.strip()]
    if trailing:
        raise MapFormatError(source, 5 + height, "end of file after the map rows", trailing[0])
    return GridMap(blocked=blocked, name=Path(source).stem)


def read_map(path: str | Path) -> GridMap:
    """Read a MovingAI ``.map`` file; see :func:`parse_map`."""
    path = Path(path)
    return parse_map(path.read_text(encoding="ascii", errors="replace"), source=str(path))


def format_map(grid: GridMap) -> str:
    """The MovingAI ``.map`` text of a grid (``.`` free, ``@`` blocked)."""
    rows = ["".join("@" if cell else "." for cell in row) for row in grid.blocked]
    header = f"type octile\nheight {grid.height}\nwidth {grid.width}\nmap\n"
    return header + "\n".join(rows) + "\n"


def write_map(grid: GridMap, path: str | Path) -> None:
    """Write a grid as a MovingAI ``.map`` file."""
    Path(path).write_text(format_map(grid), encoding="ascii")


@dataclass(frozen=True)
class ScenarioTask:
    """One line of a ``.scen`` file; cells are ``(row, col)``.

    Attributes:
        bucket: the difficulty bucket.
        map_file: the map file name as written in the scenario.
        map_width: map width in cells.
        map_height: map height in cells.
        start: ``(row, col)`` of the start cell.
        goal: ``(row, col)`` of the goal cell.
        optimal_length: the 8-connected optimal path length given by the file.
    """

    bucket: int
    map_file: str
    map_width: int
    map_height: int
    start: tuple[int, int]
    goal: tuple[int, int]
    optimal_length: float


def parse_scen(text: str, source: str = "<string>") -> list[ScenarioTask]:
    """Parse the text of a MovingAI ``.scen`` file.

    Raises:
        MapFormatError: naming the file, line and what was expected.
    """
    lines = text.splitlines()
    if not lines or lines[0].split()[:1] != ["version"]:
        raise MapFormatError(source, 1, "'version 1'", lines[0] if lines else "end of file")
    tasks = []
    for index, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != 9:
            raise MapFormatError(source, index, "9 tab-separated fields", line)
        try:
            bucket, width, height, sx, sy, gx, gy = (int(fields[i]) for i in (0, 2, 3, 4, 5, 6, 7))
            optimal = float(fields[8])
        except ValueError:
            raise MapFormatError(
                source, index, "integers in fields 1, 3-8 and a number in field 9", line
            ) from None
        for name, value, limit in (("start x", sx, width), ("goal x", gx, width)):
            if not 0 <= value < limit:
                raise MapFormatError(source, index, f"{name} in [0, {limit})", str(value))
        for name, value, limit in (("start y", sy, height), ("goal y", gy, height)):
            if not 0 <= value < limit:
                raise MapFormatError(source, index, f"{name} in [0, {limit})", str(value))
        tasks.append(ScenarioTask(bucket, fields[1], width, height, (sy, sx), (gy, gx), optimal))
    return tasks


def read_scen(path: str | Path) -> list[ScenarioTask]:
    """Read a MovingAI ``.scen`` file; see :func:`parse_scen`."""
    path = Path(path)
    return parse_scen(path.read_text(encoding="ascii", errors="replace"), source=str(path))


def format_scen(tasks: list[ScenarioTask]) -> str:
    """The ``.scen`` text of tasks (``version 1`` format)."""
    lines = ["version 1"]
    for task in tasks:
        lines.append(
            "\t".join(
                [
                    str(task.bucket),
                    task.map_file,
                    str(task.map_width),
                    str(task.map_height),
                    str(task.start[1]),
                    str(task.start[0]),
                    str(task.goal[1]),
                    str(task.goal[0]),
                    f"{task.optimal_length:.8f}",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def write_scen(tasks: list[ScenarioTask], path: str | Path) -> None:
    """Write tasks as a MovingAI ``.scen`` file."""
    Path(path).write_text(format_scen(tasks), encoding="ascii")
