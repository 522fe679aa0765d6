"""What a warehouse robot's ``cbf_safety`` node must keep clear of: the shelves (its
``obstacles`` parameter, flat x, y, r triples) and the walls (its ``arena`` parameter, exact
linear barriers as in the in-process pipeline's filter)."""

from __future__ import annotations

from fleetpilot.warehouse.layout import WarehouseLayout


def safety_parameters(layout: WarehouseLayout) -> dict[str, list[float]]:
    """``{"obstacles": [x0, y0, r0, ...], "arena": [x_min, y_min, x_max, y_max]}``."""
    return {
        "obstacles": [float(v) for v in layout.obstacles.reshape(-1)],
        "arena": [float(v) for v in layout.arena.bounds],
    }
