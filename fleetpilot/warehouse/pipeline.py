"""Which component runs each stage of the warehouse pipeline, chosen by name.

allocator (``fleetpilot.allocation.registry``) -> MAPF planner (``fleetpilot.mapf.planners``,
through grid waypoints) -> nominal controller -> CBF tuner (``fleetpilot.envs.tuners.make_tuner``)
-> unicycle CBF filter -> wheels. Two presets compare whole stacks: ``classical`` (greedy, PIBT,
a fixed CBF) and ``learned`` (the shipped two-stage allocator, Follower and GNN tuner). The
nominal controller is ``go-to-goal`` or a learned flow policy (``flow`` or ``flow:DIR``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from fleetpilot.allocation.registry import ALLOCATORS
from fleetpilot.mapf.planners import planner_names

CONTROLLERS = ("go-to-goal", "flow", "flow:DIR")
"""Nominal controllers toward the next waypoint: proportional go-to-goal, or a learned flow
policy (``fleetpilot.flow.nav_policy``) saved in DIR (``flow`` alone: :data:`DEFAULT_FLOW_POLICY`).
"""

DEFAULT_FLOW_POLICY = "policies/flow_nav"

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PipelineSpec:
    """One stack.

    Attributes:
        allocator: a registered static allocator (``greedy``, ``optimal``, ``auction``,
            ``two-stage``), run over idle robots and open tasks every ``allocation_period``.
        planner: a registered MAPF planner (``pibt``, ``follower``, ``astar``, ...).
        controller: the nominal controller: ``go-to-goal``, or ``flow`` / ``flow:DIR`` for a
            learned nominal policy (default DIR ``policies/flow_nav``; a relative
            ``policies/...`` path also resolves against the repository).
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
        ):
            if getattr(self, name) not in known:
                raise ValueError(
                    f"{name}: expected one of {', '.join(known)}, got {getattr(self, name)!r}"
                )
        if not _known_controller(self.controller):
            raise ValueError(
                f"controller: expected one of {', '.join(CONTROLLERS)}, got {self.controller!r}"
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
        if ":" in self.tuner.partition("/")[0]:
            return self.tuner
        return _resolve_directory(self.tuner)

    def flow_policy(self) -> str | None:
        """The learned controller's policy directory (resolved like the tuner's), or None for
        ``go-to-goal``."""
        kind, _, directory = self.controller.partition(":")
        if kind != "flow":
            return None
        return _resolve_directory(directory or DEFAULT_FLOW_POLICY)

    def label(self) -> str:
        """``allocator + planner + controller + tuner`` for tables."""
        return f"{self.allocator} + {self.planner} + {self.controller} + {self.tuner}"


def _known_controller(name: object) -> bool:
    if not isinstance(name, str):
        return False
    kind, colon, directory = name.partition(":")
    return name == "go-to-goal" or (kind == "flow" and (not colon or bool(directory)))


def _resolve_directory(path: str) -> str:
    """``path`` if it is a directory here, else the repository's ``path`` if that is one."""
    if Path(path).is_dir():
        return path
    shipped = REPOSITORY_ROOT / path
    return str(shipped) if shipped.is_dir() else path


PRESETS: dict[str, PipelineSpec] = {
    "classical": PipelineSpec("greedy", "pibt", "go-to-goal", "fixed:alpha=1,gain=1"),
    "learned": PipelineSpec("two-stage", "follower", "go-to-goal", "policies/cbf_tuner_gnn"),
}
