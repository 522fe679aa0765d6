"""Lifelong multi-agent path finding on 4-connected grids (ROS-free cores).

Maps (:mod:`.grid_map`, :mod:`.movingai`, :mod:`.string_maps`, :mod:`.generators`,
:mod:`.occupancy`), the lifelong simulator (:mod:`.simulator`, collision rule in
:mod:`.collisions`, POGEMA-compatible tasks in :mod:`.tasks`) and planners chosen by name
(:func:`make_planner`: ``astar``, ``follower-planner``, ``follower``, ``pibt``, ``pibt-traffic``).

Names are imported lazily so that ``import fleetpilot.mapf.eval_mapf`` (done by the CLI to build
its parser) does not load numba.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MOVES": "grid_map",
    "GridMap": "grid_map",
    "generate_map": "generators",
    "maze_map": "generators",
    "random_map": "generators",
    "warehouse_map": "generators",
    "read_map": "movingai",
    "write_map": "movingai",
    "read_scen": "movingai",
    "write_scen": "movingai",
    "parse_string_map": "string_maps",
    "format_string_map": "string_maps",
    "GridGeometry": "occupancy",
    "OccupancyThresholds": "occupancy",
    "grid_from_occupancy": "occupancy",
    "occupancy_from_grid": "occupancy",
    "make_planner": "planners",
    "planner_names": "planners",
    "EpisodeResult": "simulator",
    "LifelongSim": "simulator",
    "SimConfig": "simulator",
    "run_episode": "simulator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fleetpilot.mapf' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fleetpilot.mapf.{module}"), name)
