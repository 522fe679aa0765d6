"""Which component runs each stage of the warehouse pipeline, chosen by name.

allocator (``fleetpilot.allocation.registry``) -> MAPF planner (``fleetpilot.mapf.planners``,
through grid waypoints) -> nominal controller -> CBF tuner (``fleetpilot.envs.tuners.make_tuner``)
-> unicycle CBF filter -> wheels. Two presets compare whole stacks: ``classical`` (greedy, PIBT,
a fixed CBF) and ``learned`` (the shipped two-stage allocator, Follower and GNN tuner).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from fleetpilot.allocation.registry import ALLOCATORS
from fleetpilot.mapf.planners import planner_names

CONTROLLERS = ("go-to-goal",)
"""Nominal controllers toward the next waypoint (a learned navigation policy is not shipped)."""

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PipelineSpec:
    """One stack.

    Attributes:
        allocator: a registered static allocator (``greedy``, ``optimal``, ``auction``,
            ``two-stage``), run over idle robots and open tasks every ``allocation_period``.
        planner: a registered MAPF planner (``pibt``, ``follower``, ``astar``, ...).
        controller: the nominal controller (``go-to-goal``).
        tuner: ``fixed:alpha=...,gain=...`` or a learned tuner's directory (a relative
            ``policies/...`` path also resolves against the repository).
        allocation_period: time between allocation rounds [s], > 0.
    """

    allocator: str = "greedy"
    planner: str = "pibt"
    controller: str = "go-to-goal"
    tuner: str = "fixed:alpha=1,gain=1"
    allocation_period: float = 1.0

    def __post_init__(self) -> None:
        for name, known in (
            ("allocator", sorted(ALLOCATORS)),
            ("planner", planner_names()),
            ("controller", list(CONTROLLERS)),
        ):
            if getattr(self, name) not in known:
                raise ValueError(
                    f"{name}: expected one of {', '.join(known)}, got {getattr(self, name)!r}"
                )
        if not isinstance(self.tuner, str) or not self.tuner:
            raise ValueError(f"tuner: expected a tuner spec, got {self.tuner!r}")
        if not math.isfinite(self.allocation_period) or self.allocation_period <= 0:
            raise ValueError(
                f"allocation_period: expected a positive number, got {self.allocation_period!r}"
            )

    def with_stages(self, **stages: str | None) -> PipelineSpec:
        """A copy with the given stages replaced (None keeps a stage)."""
        return dataclasses.replace(self, **{k: v for k, v in stages.items() if v is not None})

    def resolved_tuner(self) -> str:
        """The tuner spec, with a ``policies/...`` directory found from the repository root."""
        if ":" in self.tuner.partition("/")[0] or Path(self.tuner).is_dir():
            return self.tuner
        shipped = REPOSITORY_ROOT / self.tuner
        return str(shipped) if shipped.is_dir() else self.tuner

    def label(self) -> str:
        """``allocator + planner + controller + tuner`` for tables."""
        return f"{self.allocator} + {self.planner} + {self.controller} + {self.tuner}"


PRESETS: dict[str, PipelineSpec] = {
    "classical": PipelineSpec("greedy", "pibt", "go-to-goal", "fixed:alpha=1,gain=1"),
    "learned": PipelineSpec("two-stage", "follower", "go-to-goal", "policies/cbf_tuner_gnn"),
}
