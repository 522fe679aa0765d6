"""Where an evaluation's maps come from: a file (MovingAI ``.map`` or POGEMA string map) or a
generator spec, per episode seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleetpilot.mapf.generators import generate_map
from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.movingai import read_map
from fleetpilot.mapf.string_maps import parse_string_map


def load_map_file(path: str | Path) -> GridMap:
    """Read a ``.map`` (MovingAI) file, or any other file as a POGEMA string map."""
    path = Path(path)
    if path.suffix.lower() == ".map":
        return read_map(path)
    return parse_string_map(path.read_text(encoding="utf-8"), source=str(path))


@dataclass(frozen=True)
class MapSource:
    """Exactly one of a map file or a generator spec.

    Attributes:
        path: a map file; every episode uses it.
        spec: a generator spec (``random:20x20:0.3``); episode seed s uses map seed s.
    """

    path: str | None = None
    spec: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.spec is None):
            raise ValueError(f"MapSource needs exactly one of path and spec, got {self}")
        if self.path is not None and not Path(self.path).is_file():
            raise ValueError(f"MapSource.path {self.path!r} is not a file")
        if self.spec is not None:
            generate_map(self.spec, 0)  # fail early on a malformed spec

    @property
    def label(self) -> str:
        return self.path if self.path is not None else str(self.spec)

    def map_for_seed(self, seed: int) -> GridMap:
        if self.path is not None:
            return load_map_file(self.path)
        return generate_map(self.spec, seed)
