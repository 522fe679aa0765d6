"""Nominal controllers of the PyBullet runner: what each robot would do if nothing were in the way.

``go-to-goal`` drives straight at the goal. ``waypoints`` knows the building: a grid of the
static map (the scenario's obstacles and arena walls, inflated by a clearance; never the robots)
is planned on with the MAPF package's A* kernel, every robot on its own, every tick; the robot's
waypoint is the farthest cell of its path within the lookahead that it sees in a straight line
on the grid, and its goal once the path ends within the lookahead. The go-to-goal law then
drives at the waypoint. Safety is not this module's business: the CBF filter still sees only
what the robot perceives (in lidar runs, its scan), never this map.
"""

from __future__ import annotations

import math

import numpy as np

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.search_kernels import astar_paths
from fleetpilot.mapf.waypoints import GridFrame, snap_to_free
from fleetpilot.scenarios import Arena, NominalSpec

COMFORT_MARGIN = 0.5
"""Free cells closer than clearance + this to a surface cost up to ``1 + COMFORT_COST`` [m]."""
COMFORT_COST = 2.0
NEIGHBOUR_COST = 10.0
"""Extra cost of a cell within ``neighbour_radius`` of a robot the planning robot knows of."""


def cell_centres(frame: GridFrame, height: int, width: int) -> np.ndarray:
    """(height*width, 2) world centres [m] of a grid's cells, row-major."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return frame.to_world(np.stack([rows.ravel(), cols.ravel()], axis=1))


def static_map(
    obstacles: np.ndarray, arena: Arena, resolution: float, clearance: float
) -> tuple[GridMap, GridFrame, np.ndarray]:
    """The planning grid of a floor: a cell is blocked when its centre is closer than
    ``clearance`` to an obstacle's surface or to the arena's walls; free cells near surfaces
    cost more to enter, so that paths keep to the middle of passages where they can.

    Args:
        obstacles: (M, 3) static discs [x m, y m, radius m], world frame.
        arena: the walls' rectangle.
        resolution: cell side [m].
        clearance: distance kept from surfaces [m].

    Returns:
        The grid (row 0 at the top, as everywhere in ``fleetpilot.mapf``), where it lies, and
        (H*W,) float64 costs of entering each cell (>= 1, row-major).
    """
    x_min, y_min, x_max, y_max = arena.bounds
    width = max(1, math.ceil((x_max - x_min) / resolution - 1e-9))
    height = max(1, math.ceil((y_max - y_min) / resolution - 1e-9))
    frame = GridFrame(float(x_min), float(y_min), float(resolution), height)
    centres = cell_centres(frame, height, width)
    gap = np.min(
        [centres[:, 0] - x_min, x_max - centres[:, 0], centres[:, 1] - y_min,
         y_max - centres[:, 1]],
        axis=0,
    )  # fmt: skip
    obstacles = np.asarray(obstacles, dtype=np.float64).reshape(-1, 3)
    if len(obstacles):
        gaps = (
            np.linalg.norm(centres[:, None, :] - obstacles[None, :, :2], axis=2)
            - obstacles[None, :, 2]
        )
        gap = np.minimum(gap, gaps.min(axis=1))
    blocked = gap < clearance
    cost = 1.0 + COMFORT_COST * np.clip((clearance + COMFORT_MARGIN - gap) / COMFORT_MARGIN, 0, 1)
    return GridMap(blocked.reshape(height, width), name="static map"), frame, cost


class WaypointNominal:
    """Each robot's next waypoint on an A* path through the static map.

    Args:
        obstacles: (M, 3) the building's static discs [x m, y m, radius m]; robots are never
            part of the map.
        arena: the walls' rectangle.
        spec: grid resolution, clearance and lookahead.
    """

    def __init__(self, obstacles: np.ndarray, arena: Arena, spec: NominalSpec) -> None:
        self.spec = spec
        self.grid, self.frame, self._cost = static_map(
            obstacles, arena, spec.resolution, spec.clearance
        )
        if not self.grid.free.any():
            raise ValueError(
                f"nominal.clearance: no free cell is {spec.clearance!r} m from every obstacle"
            )
        self._free = np.ascontiguousarray(self.grid.free.reshape(-1))
        self._centres = cell_centres(self.frame, self.grid.height, self.grid.width)
        self._cells_ahead = max(1, int(spec.lookahead / spec.resolution))

    def _sees(self, start: np.ndarray, end: np.ndarray) -> bool:
        """Whether the straight segment between two world points crosses only free cells."""
        steps = max(2, int(np.ceil(np.linalg.norm(end - start) / (0.25 * self.spec.resolution))))
        points = start + np.linspace(0.0, 1.0, steps)[:, None] * (end - start)
        cells = self.frame.to_cells(points)
        inside = self.grid.is_free(cells)
        return bool(inside.all())

    def waypoints(
        self,
        positions: np.ndarray,
        goals: np.ndarray,
        known: np.ndarray | None = None,
        neighbour_radius: float = 0.0,
    ) -> np.ndarray:
        """(N, 2) waypoints [m] for robots at ``positions`` (N, 2) heading for ``goals`` (N, 2).

        Args:
            positions, goals: (N, 2) world frame [m].
            known: (N, N) bool, ``known[i, j]``: robot i knows where robot j is (it reports
                itself and is in range); cells within ``neighbour_radius`` of such a robot cost
                ``NEIGHBOUR_COST`` more to robot i, so that paths bend around parked robots.
                None: robots plan on the static map alone.
            neighbour_radius: [m].

        A robot whose path ends within the lookahead, or whose goal cannot be reached on the
        map, gets its goal itself.
        """
        positions = np.asarray(positions, dtype=np.float64)
        goals = np.asarray(goals, dtype=np.float64)
        width = self.grid.width
        cells = snap_to_free(self.grid, self.frame.to_cells(positions), distinct=False)
        goal_cells = snap_to_free(self.grid, self.frame.to_cells(goals), distinct=False)
        start = (cells[:, 0] * width + cells[:, 1]).astype(np.int64)
        goal = (goal_cells[:, 0] * width + goal_cells[:, 1]).astype(np.int64)
        agent_cost = np.zeros((1, 1), dtype=np.float32)
        use_agent_cost = known is not None and bool(known.any())
        if use_agent_cost:
            near = (
                np.linalg.norm(self._centres[:, None, :] - positions[None, :, :], axis=2)
                < neighbour_radius
            )  # (cells, N)
            agent_cost = (NEIGHBOUR_COST * (known.astype(np.float32) @ near.T)).astype(np.float32)
        paths, lengths = astar_paths(
            self._free, width, start, goal, self._cost, agent_cost,
            use_agent_cost, self._cells_ahead + 1, np.zeros((1, 1)), False,
        )  # fmt: skip
        result = goals.copy()
        own_free = self.grid.is_free(self.frame.to_cells(positions))
        for robot in range(len(positions)):
            length = int(lengths[robot])
            if length <= self._cells_ahead + 1:
                continue  # at the goal's cell, near it, or unreachable: drive at the goal
            # A robot pushed into the clearance band looks from its path's first cell.
            origin = (
                positions[robot]
                if own_free[robot]
                else self.frame.to_world(cells[robot : robot + 1])[0]
            )
            ahead = paths[robot, 1 : self._cells_ahead + 1]
            centres = self.frame.to_world(np.stack([ahead // width, ahead % width], axis=1))
            result[robot] = centres[0]
            for centre in centres[::-1]:
                if self._sees(origin, centre):
                    result[robot] = centre
                    break
        return result


def make_nominal(spec: NominalSpec, obstacles: np.ndarray, arena: Arena) -> WaypointNominal | None:
    """The waypoint source of ``spec`` (None for ``go-to-goal``: robots drive at their goals)."""
    if spec.type == "go-to-goal":
        return None
    return WaypointNominal(obstacles, arena, spec)
