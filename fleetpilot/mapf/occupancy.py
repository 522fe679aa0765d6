"""Conversion between ``nav_msgs/OccupancyGrid`` fields and :class:`GridMap`, ROS-free.

OccupancyGrid stores ``data`` row-major with cell ``(x=0, y=0)`` at ``info.origin`` and y growing
upwards; values are -1 (unknown) or 0..100 (occupancy probability in percent). A
:class:`GridMap` has row 0 at the top, so grid row ``r`` holds OccupancyGrid row
``y = height - 1 - r`` and column ``c`` is ``x``: the grid then reads like the map image a map
server loaded. World coordinates of a cell are those of its centre, rotated by the origin's yaw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.mapf.grid_map import GridMap


@dataclass(frozen=True)
class GridGeometry:
    """Where a grid lies in the map frame (``nav_msgs/MapMetaData``).

    Attributes:
        resolution: cell edge length, metres.
        origin_x: x of the corner of cell (x=0, y=0), metres, map frame.
        origin_y: y of that corner, metres.
        origin_yaw: rotation of the grid about z, radians.
    """

    resolution: float = 1.0
    origin_x: float = 0.0
    origin_y: float = 0.0
    origin_yaw: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.resolution) or self.resolution <= 0:
            raise ValueError(f"GridGeometry.resolution must be > 0, got {self.resolution}")
        for name in ("origin_x", "origin_y", "origin_yaw"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"GridGeometry.{name} must be finite, got {getattr(self, name)}")

    def cells_to_world(self, cells: np.ndarray, height: int) -> np.ndarray:
        """Cell centres in the map frame.

        Args:
            cells: (..., 2) int, ``(row, col)`` grid cells.
            height: grid height in cells (rows are flipped, see the module docstring).

        Returns:
            (..., 2) float64, ``(x, y)`` metres.
        """
        cells = np.asarray(cells)
        local_x = (cells[..., 1] + 0.5) * self.resolution
        local_y = (height - 1 - cells[..., 0] + 0.5) * self.resolution
        cos, sin = np.cos(self.origin_yaw), np.sin(self.origin_yaw)
        world_x = self.origin_x + cos * local_x - sin * local_y
        world_y = self.origin_y + sin * local_x + cos * local_y
        return np.stack([world_x, world_y], axis=-1)

    def world_to_cells(self, points: np.ndarray, height: int) -> np.ndarray:
        """The grid cells containing map-frame points (may lie outside the grid).

        Args:
            points: (..., 2) float, ``(x, y)`` metres.
            height: grid height in cells.

        Returns:
            (..., 2) int64 ``(row, col)``.
        """
        points = np.asarray(points, dtype=np.float64)
        dx, dy = points[..., 0] - self.origin_x, points[..., 1] - self.origin_y
        cos, sin = np.cos(self.origin_yaw), np.sin(self.origin_yaw)
        local_x = cos * dx + sin * dy
        local_y = -sin * dx + cos * dy
        col = np.floor(local_x / self.resolution).astype(np.int64)
        y_index = np.floor(local_y / self.resolution).astype(np.int64)
        return np.stack([height - 1 - y_index, col], axis=-1)


@dataclass(frozen=True)
class OccupancyThresholds:
    """How occupancy values become obstacles.

    Attributes:
        occupied_from: values >= this (0..100) are obstacles (map_server's default is 65).
        unknown_is_blocked: whether -1 (unknown) cells are obstacles.
    """

    occupied_from: int = 65
    unknown_is_blocked: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.occupied_from <= 101:
            raise ValueError(
                f"OccupancyThresholds.occupied_from must be in [0, 101], got {self.occupied_from}"
            )


def grid_from_occupancy(
    width: int,
    height: int,
    data: np.ndarray | list[int],
    thresholds: OccupancyThresholds | None = None,
) -> GridMap:
    """A :class:`GridMap` from OccupancyGrid fields.

    Args:
        width: ``info.width``, cells.
        height: ``info.height``, cells.
        data: ``data``, width*height int8 values, -1 or 0..100, row-major from the origin.
        thresholds: conversion thresholds; defaults to :class:`OccupancyThresholds`.

    Raises:
        ValueError: on a size mismatch or values outside -1..100.
    """
    thresholds = thresholds or OccupancyThresholds()
    values = np.asarray(data, dtype=np.int16).reshape(-1)
    if width < 1 or height < 1 or values.size != width * height:
        raise ValueError(
            f"OccupancyGrid data has {values.size} cells, expected width*height = {width}*{height}"
        )
    if np.any((values < -1) | (values > 100)):
        bad = values[(values < -1) | (values > 100)][0]
        raise ValueError(f"OccupancyGrid data values must be -1 or 0..100, found {bad}")
    grid = values.reshape(height, width)[::-1]
    blocked = grid >= thresholds.occupied_from
    if thresholds.unknown_is_blocked:
        blocked |= grid < 0
    else:
        blocked &= grid >= 0
    return GridMap(blocked=blocked, name="occupancy_grid")


def occupancy_from_grid(grid: GridMap) -> np.ndarray:
    """OccupancyGrid ``data`` for a grid: 100 for obstacles, 0 for free cells.

    Returns:
        (height*width,) int8, row-major from the origin (bottom row of the grid first).
    """
    return np.where(grid.blocked[::-1], 100, 0).astype(np.int8).reshape(-1)
