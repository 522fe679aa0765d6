"""Validated configuration of the online CBF tuner (the GNN that sets CBF parameters per tick).

The same object is written to and read from a tuner directory's ``tuner.yaml``; every field is
checked on construction, and a bad value raises a ValueError that names the field and the value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from fleetpilot.envs.actions import ACTION_PARAMETERS
from fleetpilot.envs.graph import EDGE_FEATURES, check_ray_range, node_feature_names
from fleetpilot.safety.constraints import MIN_RESPONSIBILITY

TUNER_KIND = "cbf_tuner_gnn"
"""``kind`` of the tuner directory's manifest; ``make_tuner`` dispatches on it."""

FORMAT_VERSION = 1

NODE_OUTPUTS = ("alpha", "gain", "tangential", "make_way")
"""Per-agent outputs the network can produce, a subset of the env's action parameters."""

DEFAULT_NODE_OUTPUTS = ("alpha", "gain", "tangential")
"""What a config that names no node outputs learns (make_way is a constant output instead)."""

INFERENCE_MODES = ("mean", "sample")

RESPONSIBILITY = "responsibility"
"""The per-neighbour output: agent i's share rho_ij of the pair (i, j)'s barrier condition."""


def _default_bounds() -> dict[str, tuple[float, float]]:
    return {"alpha": (0.2, 5.0), "gain": (0.5, 2.0), "tangential": (-1.0, 1.0)}


def _default_init() -> dict[str, float]:
    return {"alpha": 1.0, "gain": 1.0, "tangential": 0.0, RESPONSIBILITY: 0.6}


@dataclass(frozen=True)
class TunerConfig:
    """Architecture and output parametrisation of the GNN tuner.

    Attributes:
        node_outputs: per-agent parameters the tuner sets, from NODE_OUTPUTS; those not listed
            keep the environment's default.
        per_neighbour_responsibility: whether the tuner also outputs rho_ij per sensed
            neighbour, squashed into [1/2, 1] so that any two shares of a pair sum to >= 1.
        bounds: name -> (low, high); each node output is squashed into its bounds (within the
            environment's action bounds).
        init: name -> the output the untrained network starts from (prior of the policy mean).
        constant_outputs: name -> value for parameters (from NODE_OUTPUTS, not node outputs)
            that the tuner sets to the same value for every agent and tick. For ``make_way``,
            which only acts on agents parked at their goal: PPO masks arrived agents out (their
            reward is 0 whatever they do), so a learned output there would get no gradient.
        hidden: width of the node embedding and the node/value heads.
        edge_hidden: width of the per-neighbour message network (dominates inference cost).
        obstacle_rays: rays of the coarse obstacle scan in each agent's observation
            (``fleetpilot.envs.graph.obstacle_ray_ranges``); 0 for none (the nearest obstacle
            point only).
        obstacle_ray_range: reach of that scan [m]; None for the sensing radius (every tuner
            before 2026-12-07). A scan reaching farther than the neighbour graph shows a wall
            across the room before the agent is pressed against it.
        node_features: the observation's node feature names, checked against the environment
            (filled in from ``obstacle_rays`` when not given).
        edge_features: the observation's edge feature names, checked against the environment.
        goal_scale: distances to the goal are clipped to this before encoding [m].
        init_log_std: initial log standard deviation of the exploration noise (pre-squash).
        inference: how the loaded tuner acts: ``mean`` (deterministic) or ``sample`` (each
            agent adds its own policy noise, as in training; what breaks exact symmetries).
        noise_seed: seed of the inference noise, so that a run repeats exactly.
    """

    node_outputs: tuple[str, ...] = DEFAULT_NODE_OUTPUTS
    per_neighbour_responsibility: bool = True
    bounds: dict[str, tuple[float, float]] = field(default_factory=_default_bounds)
    init: dict[str, float] = field(default_factory=_default_init)
    constant_outputs: dict[str, float] = field(default_factory=dict)
    hidden: int = 64
    edge_hidden: int = 32
    obstacle_rays: int = 0
    obstacle_ray_range: float | None = None
    node_features: tuple[str, ...] | None = None
    edge_features: tuple[str, ...] = EDGE_FEATURES
    goal_scale: float = 5.0
    init_log_std: float = -0.5
    inference: str = "mean"
    noise_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_outputs", tuple(self.node_outputs))
        rays = self.obstacle_rays
        if isinstance(rays, bool) or not isinstance(rays, int) or rays < 0:
            raise ValueError(f"obstacle_rays: expected an integer >= 0, got {rays!r}")
        object.__setattr__(self, "obstacle_ray_range", check_ray_range(self.obstacle_ray_range))
        expected_nodes = node_feature_names(rays)
        if self.node_features is None:
            object.__setattr__(self, "node_features", expected_nodes)
        object.__setattr__(self, "node_features", tuple(self.node_features))
        object.__setattr__(self, "edge_features", tuple(self.edge_features))
        if not self.node_outputs and not self.per_neighbour_responsibility:
            raise ValueError("node_outputs: expected at least one output, got none")
        for index, name in enumerate(self.node_outputs):
            if name not in NODE_OUTPUTS:
                raise ValueError(
                    f"node_outputs[{index}]: expected one of {', '.join(NODE_OUTPUTS)}, "
                    f"got {name!r}"
                )
        if len(set(self.node_outputs)) != len(self.node_outputs):
            raise ValueError(f"node_outputs: expected unique names, got {self.node_outputs}")
        if not isinstance(self.per_neighbour_responsibility, bool):
            raise ValueError(
                "per_neighbour_responsibility: expected true or false, "
                f"got {self.per_neighbour_responsibility!r}"
            )
        bounds = {}
        for name in self.node_outputs:
            if name not in self.bounds:
                raise ValueError(f"bounds.{name}: missing (every node output needs bounds)")
            pair = self.bounds[name]
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise ValueError(f"bounds.{name}: expected [low, high], got {pair!r}")
            low, high = float(pair[0]), float(pair[1])
            allowed = ACTION_PARAMETERS[name]
            if not (allowed.low <= low < high <= allowed.high):
                raise ValueError(
                    f"bounds.{name}: expected low < high within [{allowed.low:g}, "
                    f"{allowed.high:g}], got {list(pair)}"
                )
            bounds[name] = (low, high)
        object.__setattr__(self, "bounds", bounds)
        init = {}
        for name in self.output_names:
            if name not in self.init:
                raise ValueError(f"init.{name}: missing (every output needs a starting value)")
            value = float(self.init[name])
            low, high = (MIN_RESPONSIBILITY, 1.0) if name == RESPONSIBILITY else bounds[name]
            if not low < value < high:
                raise ValueError(
                    f"init.{name}: expected a value strictly inside ({low:g}, {high:g}), "
                    f"got {self.init[name]!r}"
                )
            init[name] = value
        object.__setattr__(self, "init", init)
        if not isinstance(self.constant_outputs, dict):
            raise ValueError(
                f"constant_outputs: expected a mapping name: value, got {self.constant_outputs!r}"
            )
        constants = {}
        for name, raw in self.constant_outputs.items():
            if name not in NODE_OUTPUTS or name in self.node_outputs:
                raise ValueError(
                    f"constant_outputs.{name}: expected one of {', '.join(NODE_OUTPUTS)} that is "
                    "not a node output"
                )
            allowed = ACTION_PARAMETERS[name]
            number = isinstance(raw, int | float) and not isinstance(raw, bool)
            if not (number and math.isfinite(raw) and allowed.low <= raw <= allowed.high):
                raise ValueError(
                    f"constant_outputs.{name}: expected a number in [{allowed.low:g}, "
                    f"{allowed.high:g}], got {raw!r}"
                )
            constants[name] = float(raw)
        object.__setattr__(self, "constant_outputs", constants)
        for name in ("hidden", "edge_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if self.node_features != expected_nodes:
            raise ValueError(
                f"node_features: expected the environment's {list(expected_nodes)} "
                f"(obstacle_rays {rays}), got {list(self.node_features)}"
            )
        if self.edge_features != EDGE_FEATURES:
            raise ValueError(
                f"edge_features: expected the environment's {list(EDGE_FEATURES)}, "
                f"got {list(self.edge_features)}"
            )
        for name in ("goal_scale", "init_log_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: expected a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if self.inference not in INFERENCE_MODES:
            raise ValueError(
                f"inference: expected one of {', '.join(INFERENCE_MODES)}, got {self.inference!r}"
            )
        if (
            isinstance(self.noise_seed, bool)
            or not isinstance(self.noise_seed, int)
            or self.noise_seed < 0
        ):
            raise ValueError(f"noise_seed: expected an integer >= 0, got {self.noise_seed!r}")
        if self.goal_scale <= 0:
            raise ValueError(f"goal_scale: expected a positive number, got {self.goal_scale!r}")

    @property
    def action_parameters(self) -> tuple[str, ...]:
        """The action's columns: node outputs, then the constant outputs."""
        return self.node_outputs + tuple(self.constant_outputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Node outputs, then ``responsibility`` when per-neighbour shares are on."""
        extra = (RESPONSIBILITY,) if self.per_neighbour_responsibility else ()
        return self.node_outputs + extra

    def to_dict(self) -> dict:
        """Plain YAML-ready data (tuples become lists)."""
        data = asdict(self)
        data["node_outputs"] = list(self.node_outputs)
        data["node_features"] = list(self.node_features)
        data["edge_features"] = list(self.edge_features)
        data["bounds"] = {name: list(pair) for name, pair in self.bounds.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> TunerConfig:
        """The config from parsed YAML; unknown keys are rejected by name."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}; expected {sorted(known)}")
        return cls(**data)
