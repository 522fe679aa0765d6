"""The planner interface, the name registry and helpers shared by planners."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

from fleetpilot.mapf.grid_map import GridMap

#: planner name -> ("module:Class", preset config fields); imported on first use so that torch
#: loads only when a learned planner is asked for.
PLANNERS: dict[str, tuple[str, dict[str, Any]]] = {
    "astar": ("fleetpilot.mapf.planners.astar:AStarPlanner", {}),
    "follower-planner": ("fleetpilot.mapf.planners.follower_planner:FollowerPlanner", {}),
    "follower": ("fleetpilot.mapf.planners.follower:FollowerPolicyPlanner", {}),
    # The learned Follower with a PIBT collision shield (CS-PIBT).
    "follower-pibt": (
        "fleetpilot.mapf.planners.follower:FollowerPolicyPlanner",
        {"collision_shield": True},
    ),
    "pibt": ("fleetpilot.mapf.planners.pibt:PIBTPlanner", {}),
    # PIBT ordering moves by a traffic-aware cost-to-go (the Follower static penalty).
    "pibt-traffic": ("fleetpilot.mapf.planners.pibt:PIBTPlanner", {"traffic_weight": 2.0}),
}

#: planners that run the shipped learned policy (``policies/follower``).
LEARNED_PLANNERS = ("follower", "follower-pibt")


class Planner(Protocol):
    """What every MAPF planner provides."""

    def reset(self, grid: GridMap, positions: np.ndarray, goals: np.ndarray, seed: int) -> None:
        """Start an episode.

        Args:
            grid: the map.
            positions: (N, 2) int64 start cells ``(row, col)``.
            goals: (N, 2) int64 first goals.
            seed: episode seed for any randomness of the planner.
        """

    def act(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Actions for all agents.

        Args:
            positions: (N, 2) int64 current cells.
            goals: (N, 2) int64 current goals (new ones appear after arrivals).

        Returns:
            (N,) int64 actions in [0, 5).
        """


def planner_names() -> list[str]:
    """Registered planner names."""
    return list(PLANNERS)


def runnable_planners(names: list[str]) -> tuple[list[str], list[str]]:
    """(the planners of ``names`` that can run here, the learned ones left out because the
    shipped ``policies/follower`` is missing)."""
    from fleetpilot.mapf.planners.follower import DEFAULT_POLICY_DIR

    if (DEFAULT_POLICY_DIR / "config.json").exists():
        return list(names), []
    learned = [name for name in names if name in LEARNED_PLANNERS]
    return [name for name in names if name not in LEARNED_PLANNERS], learned


def make_planner(name: str, **options: Any) -> Planner:
    """Build a planner by name; ``options`` are fields of that planner's config dataclass.

    Raises:
        ValueError: for an unknown name or option.
    """
    entry = PLANNERS.get(name)
    if entry is None:
        raise ValueError(f"unknown planner {name!r}; known: {planner_names()}")
    target, preset = entry
    module_name, class_name = target.split(":")
    planner_class = getattr(importlib.import_module(module_name), class_name)
    config_class = planner_class.config_class
    try:
        config = config_class(**{**preset, **options})
    except TypeError as error:
        raise ValueError(f"planner {name!r}: {error}") from None
    return planner_class(config)


def flat_cells(cells: np.ndarray, width: int) -> np.ndarray:
    """(N, 2) ``(row, col)`` -> (N,) int64 flat indices."""
    return (cells[:, 0] * width + cells[:, 1]).astype(np.int64)


def actions_towards(current: np.ndarray, target: np.ndarray, width: int) -> np.ndarray:
    """Actions that move each agent from ``current`` to the adjacent flat cell ``target``.

    Args:
        current: (N,) int64 flat cells.
        target: (N,) int64 flat cells, each equal or 4-adjacent to ``current``.
        width: grid width.

    Returns:
        (N,) int64 actions; 0 where target equals current or is not adjacent.
    """
    delta = target - current
    actions = np.zeros(current.shape, dtype=np.int64)
    actions[delta == -width] = 1
    actions[delta == width] = 2
    actions[(delta == -1) & (target // width == current // width)] = 3
    actions[(delta == 1) & (target // width == current // width)] = 4
    return actions
