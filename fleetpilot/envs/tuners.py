"""Tuners: whatever turns an observation into the per-agent CBF parameters (the action).

``make_tuner(spec)`` resolves a command-line spec through registries:

* ``fixed:alpha=1,gain=2`` -> :class:`FixedTuner`, the same parameters for every agent (the
  baseline); any parameter of :data:`~fleetpilot.envs.actions.ACTION_PARAMETERS` may be set.
* a directory -> a learned tuner. The directory holds ``tuner.yaml`` whose ``kind`` names a
  loader in :data:`DIRECTORY_TUNERS` (``"module:function"``, imported on use, called with the
  directory, returning a tuner). The learned GNN tuner registers its kind there.

A tuner is called with the observation Batch and returns a (B, N, P) action whose last axis
follows its ``action_parameters``; environments are built with those parameter names.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import torch
import yaml
from torch_geometric.data import Batch

from fleetpilot.envs.actions import ACTION_PARAMETERS, ActionLayout

TUNER_MANIFEST = "tuner.yaml"


class Tuner(Protocol):
    """Maps observations to actions."""

    action_parameters: tuple[str, ...]

    def __call__(self, observation: Batch) -> torch.Tensor: ...

    # Tuners with per-neighbour outputs return (action, (B, N, N) responsibility) instead.


def observation_scan(tuner) -> dict:
    """The obstacle scan ``tuner`` observes, as keyword arguments of :class:`NavEnvConfig` and
    :class:`~fleetpilot.envs.graph.NeighbourGraphBuilder`: ``obstacle_rays`` (a learned tuner's
    ``config.obstacle_rays``; 0 for tuners without a scan) and ``obstacle_ray_range`` (its reach
    [m]; None for the sensing radius)."""
    config = getattr(tuner, "config", None)
    return {
        "obstacle_rays": int(getattr(config, "obstacle_rays", 0)),
        "obstacle_ray_range": getattr(config, "obstacle_ray_range", None),
    }


@dataclass(frozen=True)
class FixedTuner:
    """The same parameters for every agent at every tick.

    Attributes:
        values: (name, value) pairs, names from ACTION_PARAMETERS, values within their bounds.
    """

    values: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("values: expected at least one name=value pair, got none")
        names = [name for name, _ in self.values]
        ActionLayout(tuple(names))  # known and unique
        for name, value in self.values:
            parameter = ACTION_PARAMETERS[name]
            if not (math.isfinite(value) and parameter.low <= value <= parameter.high):
                raise ValueError(
                    f"{name}: expected a value in [{parameter.low:g}, {parameter.high:g}], "
                    f"got {value!r}"
                )

    @property
    def action_parameters(self) -> tuple[str, ...]:
        """The parameter names set, in registry order."""
        given = dict(self.values)
        return tuple(name for name in ACTION_PARAMETERS if name in given)

    def __call__(self, observation: Batch) -> torch.Tensor:
        """(B, N, P) action, B = graphs in ``observation``, N = nodes per graph."""
        num_envs = observation.num_graphs
        layout = ActionLayout(self.action_parameters)
        action = layout.pack(
            dict(self.values), num_envs, observation.num_nodes // num_envs, observation.x.dtype
        )
        return action.to(observation.x.device)

    @classmethod
    def from_spec(cls, text: str) -> FixedTuner:
        """Parses ``alpha=1,gain=2`` (the part after ``fixed:``)."""
        pairs = []
        for item in text.split(","):
            name, separator, value = item.partition("=")
            if not separator or not name.strip():
                raise ValueError(
                    f"fixed tuner: expected name=value pairs separated by commas, got {item!r}"
                )
            try:
                number = float(value)
            except ValueError:
                raise ValueError(
                    f"fixed tuner: {name.strip()}: expected a number, got {value!r}"
                ) from None
            pairs.append((name.strip(), number))
        return cls(tuple(pairs))

    def describe(self) -> str:
        return "fixed:" + ",".join(f"{name}={value:g}" for name, value in self.values)


TUNER_KINDS: Mapping[str, Callable[[str], Tuner]] = MappingProxyType(
    {"fixed": FixedTuner.from_spec}
)
"""Spec prefix (before ``:``) -> parser of the rest of the spec; read-only."""

DIRECTORY_TUNERS: Mapping[str, str] = MappingProxyType(
    {"cbf_tuner_gnn": "fleetpilot.safety.tuner:load_tuner"}
)
"""``kind`` in a tuner directory's tuner.yaml -> ``"module:function"`` loader; read-only."""


def make_tuner(spec: str) -> Tuner:
    """A tuner from ``fixed:name=value,...`` or a learned tuner's directory.

    Raises:
        ValueError: naming the spec and what was expected.
    """
    kind, separator, rest = spec.partition(":")
    if separator and kind in TUNER_KINDS:
        return TUNER_KINDS[kind](rest)
    directory = Path(spec)
    if directory.is_dir():
        manifest = directory / TUNER_MANIFEST
        if not manifest.is_file():
            raise ValueError(f"{spec}: expected a tuner directory with {TUNER_MANIFEST}")
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        loader_kind = data.get("kind") if isinstance(data, dict) else None
        if loader_kind not in DIRECTORY_TUNERS:
            known = ", ".join(sorted(DIRECTORY_TUNERS)) or "none registered yet"
            raise ValueError(
                f"{manifest}: kind: expected a registered tuner kind ({known}), "
                f"got {loader_kind!r}"
            )
        module_name, _, function = DIRECTORY_TUNERS[loader_kind].partition(":")
        return getattr(importlib.import_module(module_name), function)(directory)
    raise ValueError(
        f"tuner: expected {' or '.join(f'{k}:...' for k in TUNER_KINDS)} or a tuner directory, "
        f"got {spec!r}"
    )
