"""MAPF planners behind one interface, chosen by name: ``make_planner("pibt")``.

A planner has ``reset(grid, positions, goals, seed)`` and ``act(positions, goals) -> actions``
with positions/goals (N, 2) int64 ``(row, col)`` and actions (N,) int64 in [0, 5)
(0 wait, 1 up, 2 down, 3 left, 4 right).
"""

from fleetpilot.mapf.planners.base import PLANNERS, Planner, make_planner, planner_names

__all__ = ["PLANNERS", "Planner", "make_planner", "planner_names"]
