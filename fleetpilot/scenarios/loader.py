"""Loading scenario YAML files into validated :class:`~fleetpilot.scenarios.schema.Scenario` trees.

Every error names the file, the key path and what was expected, e.g.
``sim/scenarios/foo.yaml: agents[3].goal: expected a list of 2 finite numbers, got 'abc'``.
Types are converted here; ranges and cross-field rules are checked by the dataclasses, whose
messages start with the field name, so they are prefixed with the parent key path.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from fleetpilot.scenarios.families import FAMILIES
from fleetpilot.scenarios.schema import (
    AgentSpec,
    Arena,
    FittedArena,
    GeneratorSpec,
    NominalSpec,
    Obstacle,
    PerceptionSpec,
    RobotSpec,
    Scenario,
)

SCHEMA_VERSION = 1
SCENARIO_KEYS = (
    "version",
    "name",
    "description",
    "dt",
    "horizon",
    "sensing_radius",
    "safety_distance",
    "goal_tolerance",
    "arena",
    "robot",
    "perception",
    "nominal",
    "agents",
    "obstacles",
    "generator",
)
REQUIRED_KEYS = ("name", "dt", "horizon", "sensing_radius", "arena")


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file, the key and the expectation."""


class FieldReader:
    """Converts raw YAML values, raising ScenarioError that name ``source`` and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {message}")

    def mapping(
        self, value: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {value!r}")
        for key in value:
            if key not in allowed:
                raise self.fail(
                    _join(where, str(key)),
                    f"unknown key (expected one of {', '.join(allowed)})",
                )
        for key in required:
            if key not in value:
                raise self.fail(_join(where, key), "missing required key")
        return value

    def sequence(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {value!r}")
        return value

    def convert(self, value: Any, hint: Any, where: str) -> Any:
        """Converts ``value`` to the type ``hint`` (float, int, str, bool, 2-tuples, optionals)."""
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            options = typing.get_args(hint)
            if value is None and type(None) in options:
                return None
            (hint,) = [option for option in options if option is not type(None)]
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(where, f"expected a number, got {value!r}")
            if not math.isfinite(value):
                raise self.fail(where, f"expected a finite number, got {value!r}")
            return float(value)
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(where, f"expected an integer, got {value!r}")
            return value
        if hint is str:
            if not isinstance(value, str):
                raise self.fail(where, f"expected a string, got {value!r}")
            return value
        if hint is bool:
            if not isinstance(value, bool):
                raise self.fail(where, f"expected true or false, got {value!r}")
            return value
        if typing.get_origin(hint) is tuple:
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in value
                )
            ):
                raise self.fail(where, f"expected a list of 2 finite numbers, got {value!r}")
            return (float(value[0]), float(value[1]))
        raise TypeError(f"{where}: no YAML conversion for {hint!r}")

    def build(self, cls: type, where: str, **kwargs: Any) -> Any:
        """``cls(**kwargs)``, with the dataclass's own ValueError prefixed by ``where``."""
        try:
            return cls(**kwargs)
        except ValueError as error:
            # Dataclass messages start with the field name ("radius: expected ..."), so the
            # parent path joins them with a dot.
            raise ScenarioError(f"{self.source}: {_join(where, str(error))}") from error

    def flat(
        self, cls: type, value: Any, where: str, base: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Converts a mapping of ``cls``'s fields (all optional, merged over ``base``)."""
        hints = typing.get_type_hints(cls)
        names = tuple(f.name for f in fields(cls))
        data = self.mapping({} if value is None else value, where, names)
        kwargs = dict(base or {})
        for key, raw in data.items():
            kwargs[key] = self.convert(raw, hints[key], _join(where, key))
        return kwargs


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _robot_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RobotSpec))


def parse_scenario(data: Any, source: str) -> Scenario:
    """Builds a Scenario from the result of ``yaml.safe_load`` (``source`` names it in errors)."""
    reader = FieldReader(source)
    top = reader.mapping(data, "", SCENARIO_KEYS, REQUIRED_KEYS)
    version = top.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise reader.fail("version", f"expected {SCHEMA_VERSION}, got {version!r}")
    settings = {
        key: reader.convert(top[key], hint, key)
        for key, hint in (
            ("name", str),
            ("description", str),
            ("dt", float),
            ("horizon", float),
            ("sensing_radius", float),
            ("safety_distance", float | None),
            ("goal_tolerance", float),
        )
        if key in top
    }
    robot_kwargs = reader.flat(RobotSpec, top.get("robot"), "robot")
    robot = reader.build(RobotSpec, "robot", **robot_kwargs)
    perception = reader.build(
        PerceptionSpec,
        "perception",
        **reader.flat(PerceptionSpec, top.get("perception"), "perception"),
    )
    nominal = reader.build(
        NominalSpec, "nominal", **reader.flat(NominalSpec, top.get("nominal"), "nominal")
    )
    agents = tuple(
        _parse_agent(reader, raw, f"agents[{index}]", robot_kwargs)
        for index, raw in enumerate(reader.sequence(top.get("agents", []), "agents"))
    )
    obstacles = tuple(
        _parse_obstacle(reader, raw, f"obstacles[{index}]")
        for index, raw in enumerate(reader.sequence(top.get("obstacles", []), "obstacles"))
    )
    generator = _parse_generator(reader, top["generator"]) if "generator" in top else None
    scenario = reader.build(
        Scenario,
        "",
        arena=_parse_arena(reader, top["arena"]),
        robot=robot,
        perception=perception,
        nominal=nominal,
        agents=agents,
        obstacles=obstacles,
        generator=generator,
        source=source,
        **settings,
    )
    try:
        scenario.sample()  # a layout that cannot be run fails now, naming the file
    except ValueError as error:
        raise ScenarioError(str(error)) from error
    return scenario


def _parse_agent(
    reader: FieldReader, raw: Any, where: str, robot_kwargs: dict[str, Any]
) -> AgentSpec:
    data = reader.mapping(
        raw, where, ("start", "goal", "heading", *_robot_fields()), ("start", "goal")
    )
    hints = typing.get_type_hints(AgentSpec)
    own = {k: v for k, v in data.items() if k in ("start", "goal", "heading")}
    kwargs = {
        key: reader.convert(value, hints[key], _join(where, key)) for key, value in own.items()
    }
    overrides = {k: v for k, v in data.items() if k not in own}
    robot = reader.build(
        RobotSpec, where, **reader.flat(RobotSpec, overrides, where, robot_kwargs)
    )
    return reader.build(AgentSpec, where, robot=robot, **kwargs)


def _parse_obstacle(reader: FieldReader, raw: Any, where: str) -> Obstacle:
    data = reader.mapping(raw, where, ("center", "radius"), ("center", "radius"))
    return reader.build(Obstacle, where, **reader.flat(Obstacle, data, where))


def _parse_arena(reader: FieldReader, raw: Any) -> Arena | FittedArena:
    if isinstance(raw, dict) and "margin" in raw:
        data = reader.mapping(raw, "arena", ("margin",))
        return reader.build(FittedArena, "arena", **reader.flat(FittedArena, data, "arena"))
    bounds = ("x_min", "y_min", "x_max", "y_max")
    if not isinstance(raw, dict):
        raise reader.fail(
            "arena", f"expected a mapping with {', '.join(bounds)} or margin, got {raw!r}"
        )
    data = reader.mapping(raw, "arena", bounds, bounds)
    return reader.build(Arena, "arena", **reader.flat(Arena, data, "arena"))


def _parse_generator(reader: FieldReader, raw: Any) -> GeneratorSpec:
    data = reader.mapping(
        raw, "generator", ("family", "num_agents", "seed", "params"), ("family", "num_agents")
    )
    family = reader.convert(data["family"], str, "generator.family")
    if family not in FAMILIES:
        raise reader.fail(
            "generator.family", f"expected one of {', '.join(sorted(FAMILIES))}, got {family!r}"
        )
    params_type = FAMILIES[family].params_type
    params = reader.build(
        params_type,
        "generator.params",
        **reader.flat(params_type, data.get("params"), "generator.params"),
    )
    return reader.build(
        GeneratorSpec,
        "generator",
        family=family,
        num_agents=reader.convert(data["num_agents"], int, "generator.num_agents"),
        seed=reader.convert(data.get("seed", 0), int, "generator.seed"),
        params=params,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Reads and validates one scenario file.

    Raises:
        ScenarioError: (a ValueError) naming the file, the key and what was expected.
        FileNotFoundError: when the file does not exist.
    """
    source = str(path)
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{source}: not valid YAML: {error}") from error
    return parse_scenario(data, source)


def navigation_files(directory: str | Path) -> list[Path]:
    """The navigation scenario files in ``directory``: its ``*.yaml`` files without a ``kind``
    (files with one, such as ``kind: warehouse`` floors, follow their own schema)."""
    paths = []
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            data = None  # malformed: kept, so that loading it reports the error
        if not (isinstance(data, dict) and "kind" in data):
            paths.append(path)
    return paths
