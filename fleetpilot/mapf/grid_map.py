"""The grid map every MAPF component works on: obstacles plus optional start/goal cell masks.

Coordinates are ``(row, col)`` integer cells, row 0 at the top (as in MovingAI ``.map`` files and
POGEMA); a flat cell index is ``row * width + col``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Grid moves indexed by action, identical to POGEMA: stay, up, down, left, right.
MOVES: np.ndarray = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
NUM_ACTIONS = 5


@dataclass(frozen=True, eq=False)
class GridMap:
    """A 4-connected grid.

    Attributes:
        blocked: (H, W) bool, True where a cell is an obstacle.
        start_cells: (H, W) bool or None; cells where agents may start (POGEMA's ``@``/``.``).
            None means every free cell.
        goal_cells: (H, W) bool or None; cells that may be goals (POGEMA's ``$``/``.``).
            None means every free cell.
        name: a label for reports (file name or generator spec).
    """

    blocked: np.ndarray
    start_cells: np.ndarray | None = None
    goal_cells: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        blocked = np.asarray(self.blocked)
        if blocked.ndim != 2 or blocked.shape[0] < 1 or blocked.shape[1] < 1:
            raise ValueError(f"GridMap.blocked must be a non-empty 2-D array, got {blocked.shape}")
        object.__setattr__(self, "blocked", np.ascontiguousarray(blocked, dtype=bool))
        for field in ("start_cells", "goal_cells"):
            mask = getattr(self, field)
            if mask is None:
                continue
            mask = np.ascontiguousarray(mask, dtype=bool)
            if mask.shape != blocked.shape:
                raise ValueError(
                    f"GridMap.{field} has shape {mask.shape}, expected {blocked.shape}"
                )
            if np.any(mask & self.blocked):
                raise ValueError(f"GridMap.{field} marks obstacle cells")
            object.__setattr__(self, field, mask)

    @property
    def height(self) -> int:
        return int(self.blocked.shape[0])

    @property
    def width(self) -> int:
        return int(self.blocked.shape[1])

    @property
    def free(self) -> np.ndarray:
        """(H, W) bool, True where a cell is traversable."""
        return ~self.blocked

    @property
    def num_free(self) -> int:
        return int(np.count_nonzero(~self.blocked))

    def is_free(self, cells: np.ndarray) -> np.ndarray:
        """Whether cells are inside the map and free.

        Args:
            cells: (..., 2) int, ``(row, col)``.

        Returns:
            (...) bool.
        """
        cells = np.asarray(cells)
        rows, cols = cells[..., 0], cells[..., 1]
        inside = (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        result = np.zeros(rows.shape, dtype=bool)
        result[inside] = ~self.blocked[rows[inside], cols[inside]]
        return result

    def same_layout(self, other: GridMap) -> bool:
        """True when obstacles and start/goal masks are identical."""

        def same_mask(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            if a is None or b is None:
                return a is None and b is None
            return bool(np.array_equal(a, b))

        return (
            np.array_equal(self.blocked, other.blocked)
            and same_mask(self.start_cells, other.start_cells)
            and same_mask(self.goal_cells, other.goal_cells)
        )
