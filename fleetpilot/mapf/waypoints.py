"""Lifelong MAPF for robots in continuous space: the next grid waypoint of every robot.

ROS-free core of the ``mapf_planner`` node. A :class:`GridFrame` places the grid in the world
(row 0 is the top row, as in MovingAI and POGEMA maps; y grows upwards), robots are placed on
distinct free cells nearest to them and goals snapped to the nearest free cells, any registered
planner (``fleetpilot.mapf.planners``) picks one move per robot, the simulator's collision rule
cancels conflicting moves, and each robot gets the centre of its next cell as its waypoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleetpilot.agent_states import as_float_array
from fleetpilot.mapf.collisions import resolve_moves
from fleetpilot.mapf.grid_map import MOVES, GridMap
from fleetpilot.mapf.planners import make_planner


@dataclass(frozen=True)
class GridFrame:
    """Where a grid lies in the world.

    Attributes:
        origin_x, origin_y: world position of the grid's lower-left corner [m].
        resolution: cell side [m], > 0.
        height: number of rows (row 0 is the top row).
    """

    origin_x: float
    origin_y: float
    resolution: float
    height: int

    def __post_init__(self) -> None:
        for name in ("origin_x", "origin_y"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: expected a finite number, got {getattr(self, name)!r}")
        if not math.isfinite(self.resolution) or self.resolution <= 0:
            raise ValueError(f"resolution: expected a positive number, got {self.resolution!r}")

    def to_cells(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) world points [m] -> (N, 2) int64 (row, col), possibly outside the grid."""
        col = np.floor((points[:, 0] - self.origin_x) / self.resolution)
        row = self.height - 1 - np.floor((points[:, 1] - self.origin_y) / self.resolution)
        return np.stack([row, col], axis=1).astype(np.int64)

    def to_world(self, cells: np.ndarray) -> np.ndarray:
        """(N, 2) (row, col) -> (N, 2) cell centres [m]."""
        x = self.origin_x + (cells[:, 1] + 0.5) * self.resolution
        y = self.origin_y + (self.height - cells[:, 0] - 0.5) * self.resolution
        return np.stack([x, y], axis=1)


_NEARBY = np.array([(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3)], dtype=np.int64)
"""(25, 2) (row, col) offsets of the cells within two cells of a robot's, row by row."""


def snap_to_free(
    grid: GridMap, cells: np.ndarray, distinct: bool, free_cells: np.ndarray | None = None
) -> np.ndarray:
    """Each cell moved to the nearest free cell (and, if ``distinct``, one nobody took yet).

    Ties go to the first free cell in row-major order. ``free_cells`` is
    ``np.argwhere(grid.free)``, passed by callers that snap often on one grid.
    """
    if free_cells is None:
        free_cells = np.argwhere(grid.free)
    if not len(free_cells):
        raise ValueError(f"map {grid.name!r}: no free cell")
    if not distinct:
        # A free cell is its own unique nearest free cell (distance 0): only the others search.
        rows, cols = cells[:, 0], cells[:, 1]
        inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        stays = inside & ~grid.blocked[np.where(inside, rows, 0), np.where(inside, cols, 0)]
        snapped = cells.copy()
        for index in np.flatnonzero(~stays):
            distance = np.abs(free_cells - cells[index]).sum(axis=1)
            snapped[index] = free_cells[np.argmin(distance)]
        return snapped
    taken = np.zeros(len(free_cells), dtype=bool)
    snapped = np.empty_like(cells)
    for index, cell in enumerate(cells):
        distance = np.abs(free_cells - cell).sum(axis=1).astype(float)
        distance[taken] = np.inf
        if taken.all():
            raise ValueError(f"map {grid.name!r}: more robots than free cells")
        choice = int(np.argmin(distance))
        taken[choice] = True
        snapped[index] = free_cells[choice]
    return snapped


def robot_cells(grid: GridMap, frame: GridFrame, positions: np.ndarray) -> np.ndarray:
    """(N, 2) distinct free (row, col) cells for robots at world ``positions`` (N, 2) [m].

    Robot-cell pairs are taken nearest first, by the distance from the robot to the cell's
    centre, among the free cells within two cells of the robot (ties by robot index, then row,
    then column). Two robots inside one cell thus keep their real order along an aisle: the
    nearer one gets the cell, the other the neighbouring cell on its own side (first-come by
    index could put it on the far side of the first, and a planner that believes the robots
    already passed each other never lets them).
    Robots left without a nearby cell take the nearest free cell left anywhere.
    """
    count, width = len(positions), grid.width
    raw = frame.to_cells(positions)
    candidates = raw[:, None, :] + _NEARBY[None]  # (N, 25, 2)
    rows, cols = candidates[..., 0], candidates[..., 1]
    inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < width)
    usable = inside & ~grid.blocked[np.where(inside, rows, 0), np.where(inside, cols, 0)]
    robot, slot = np.nonzero(usable)
    pairs = candidates[robot, slot]  # (P, 2)
    distance = np.linalg.norm(frame.to_world(pairs) - positions[robot], axis=1)
    order = np.argsort(distance, kind="stable")
    # Plain Python ints and flat cell keys: numpy scalars and tuples cost more per pair.
    pair_robots = robot[order].tolist()
    pair_keys = (pairs[order, 0] * width + pairs[order, 1]).tolist()
    key_of = [-1] * count
    taken: set[int] = set()
    unplaced = count
    for who, key in zip(pair_robots, pair_keys, strict=True):
        if key_of[who] < 0 and key not in taken:
            key_of[who] = key
            taken.add(key)
            unplaced -= 1
            if not unplaced:
                break
    keys = np.array(key_of, dtype=np.int64)
    cells = np.stack([keys // width, keys % width], axis=1)
    homeless = np.flatnonzero(keys < 0)
    if len(homeless):
        free_keys = np.flatnonzero(~grid.blocked.reshape(-1))
        free_cells = np.stack([free_keys // width, free_keys % width], axis=1)
        free_centres = frame.to_world(free_cells)
        left = ~np.isin(free_keys, np.fromiter(taken, dtype=np.int64, count=len(taken)))
        for who in homeless:
            if not left.any():
                raise ValueError(f"map {grid.name!r}: more robots than free cells")
            gaps = np.where(left, np.linalg.norm(free_centres - positions[who], axis=1), np.inf)
            choice = int(np.argmin(gaps))
            cells[who] = free_cells[choice]
            left[choice] = False
    return cells


class WaypointPlanner:
    """One registered MAPF planner driving robots through grid waypoints."""

    def __init__(self, grid: GridMap, frame: GridFrame, planner: str, seed: int = 0) -> None:
        if frame.height != grid.height:
            raise ValueError(f"height: expected the map's {grid.height} rows, got {frame.height}")
        self.grid, self.frame, self.seed = grid, frame, seed
        self._planner = make_planner(planner)
        self._robots: tuple[str, ...] | None = None
        self._free = np.ascontiguousarray(grid.free.reshape(-1))
        self._free_cells = np.argwhere(grid.free)  # the grid never changes: found once
        self._occupant = np.full(grid.height * grid.width, -1, dtype=np.int64)

    def next_waypoints(self, robot_ids, positions, goals) -> np.ndarray:
        """(N, 2) world waypoints [m]: the centre of each robot's next cell.

        Args:
            robot_ids: N unique names (a change of the team restarts the planner).
            positions, goals: (N, 2) world positions and goals [m].
        """
        robot_ids = tuple(robot_ids)
        positions = as_float_array("positions", positions, (len(robot_ids), 2))
        goals = as_float_array("goals", goals, (len(robot_ids), 2))
        if not robot_ids:
            return np.zeros((0, 2))
        cells = robot_cells(self.grid, self.frame, positions)
        goal_cells = snap_to_free(
            self.grid, self.frame.to_cells(goals), distinct=False, free_cells=self._free_cells
        )
        if robot_ids != self._robots:
            self._planner.reset(self.grid, cells, goal_cells, self.seed)
            self._robots = robot_ids
        actions = np.asarray(self._planner.act(cells, goal_cells), dtype=np.int64)
        moved = cells + MOVES[actions]
        inside = (
            (moved[:, 0] >= 0)
            & (moved[:, 0] < self.grid.height)
            & (moved[:, 1] >= 0)
            & (moved[:, 1] < self.grid.width)
        )
        width = self.grid.width
        proposed = np.where(inside, moved[:, 0] * width + moved[:, 1], -1)
        current = cells[:, 0] * width + cells[:, 1]
        nxt = resolve_moves(current, proposed, self._free, self._occupant)
        return self.frame.to_world(np.stack([nxt // width, nxt % width], axis=1))
