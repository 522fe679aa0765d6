"""Warehouse scenario files (``sim/scenarios/warehouse_*.yaml``): floor, fleet, task stream and
the default pipeline, validated with errors that name the file, the key and the expectation."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.mapf.errors import MapFormatError
from fleetpilot.scenarios import PerceptionSpec, RobotSpec, ScenarioInstance
from fleetpilot.scenarios.loader import FieldReader, ScenarioError
from fleetpilot.warehouse.layout import WarehouseLayout, parse_layout
from fleetpilot.warehouse.pipeline import PipelineSpec
from fleetpilot.warehouse.tasks import TaskStreamSpec, generate_tasks

KIND = "warehouse"
SCHEMA_VERSION = 1
TOP_KEYS = (
    "version",
    "kind",
    "name",
    "description",
    "dt",
    "horizon",
    "sensing_radius",
    "safety_distance",
    "goal_tolerance",
    "deadlock_time",
    "num_robots",
    "seed",
    "robot",
    "perception",
    "layout",
    "tasks",
    "pipeline",
)
REQUIRED_KEYS = ("kind", "name", "dt", "horizon", "num_robots", "layout")
LAYOUT_KEYS = ("map", "resolution", "shelf_radius")


@dataclass(frozen=True, eq=False)
class WarehouseInstance:
    """One sampled episode: the floor, where robots park, the tasks, the world to simulate.

    Attributes:
        scenario: the scenario it was sampled from.
        seed: the sampling seed.
        layout: the floor.
        homes: (N, 2) each robot's parking position [m] (where it starts and waits for work).
        tasks: every task released during the episode.
        world: the PyBullet world's content (robots at their homes, shelves, walls).
    """

    scenario: WarehouseScenario
    seed: int
    layout: WarehouseLayout
    homes: np.ndarray
    tasks: list[FleetTask]
    world: ScenarioInstance

    @property
    def num_robots(self) -> int:
        return len(self.homes)


@dataclass(frozen=True, eq=False)
class WarehouseScenario:
    """A validated warehouse scenario file.

    ``deadlock_time``: a robot with a task that barely moves (below the run's deadlock speed)
    for this long is deadlocked [s]; waiting at a busy station for a while is normal, so it is
    longer than the navigation scenarios' 5 s.
    """

    name: str
    description: str
    dt: float
    horizon: float
    sensing_radius: float
    safety_distance: float
    goal_tolerance: float
    deadlock_time: float
    num_robots: int
    seed: int
    robot: RobotSpec
    perception: PerceptionSpec
    layout: WarehouseLayout
    tasks: TaskStreamSpec
    pipeline: PipelineSpec
    source: str = "<scenario>"

    def sample(self, seed: int | None = None, num_robots: int | None = None) -> WarehouseInstance:
        """Robots parked on distinct random floor cells facing a random way, and the task
        stream, both from ``seed`` (default: the file's).

        Raises:
            ValueError: naming num_robots when the floor has fewer parking cells.
        """
        seed = self.seed if seed is None else seed
        count = self.num_robots if num_robots is None else num_robots
        parking = self.layout.parking_cells
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count < len(parking):
            raise ValueError(
                f"{self.source}: num_robots: expected 1..{len(parking) - 1} (the floor's parking "
                f"cells less one), got {count!r}"
            )
        rng = np.random.default_rng(seed)
        cells = self.layout.frame.to_world(
            parking[rng.choice(len(parking), size=count + 1, replace=False)]
        )
        homes = cells[:count]
        headings = rng.uniform(-math.pi, math.pi, size=count)
        tasks = generate_tasks(self.tasks, self.layout, self.horizon, seed)
        world = ScenarioInstance(
            name=self.name,
            starts=homes,
            start_headings=headings,
            # The pipeline sets goals every tick; the world's placeholder is a free cell.
            goals=cells[1:],
            robots=(self.robot,) * count,
            obstacles=self.layout.obstacles,
            arena=self.layout.arena,
            dt=self.dt,
            horizon=self.horizon,
            sensing_radius=self.sensing_radius,
            safety_distance=self.safety_distance,
            goal_tolerance=self.goal_tolerance,
            perception=self.perception,
        )
        return WarehouseInstance(self, seed, self.layout, homes, tasks, world)


def is_warehouse_file(path: str | Path) -> bool:
    """Whether a scenario file declares ``kind: warehouse`` (navigation files have no kind)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == KIND


def load_warehouse(path: str | Path) -> WarehouseScenario:
    """Reads and validates one warehouse scenario file.

    Raises:
        ScenarioError: (a ValueError) naming the file, the key and what was expected.
        FileNotFoundError: when the file does not exist.
    """
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ScenarioError(f"{source}: not valid YAML: {error}") from error
    return parse_warehouse(data, source)


def parse_warehouse(data: Any, source: str) -> WarehouseScenario:
    """Builds a WarehouseScenario from the result of ``yaml.safe_load``."""
    reader = FieldReader(source)
    top = reader.mapping(data, "", TOP_KEYS, REQUIRED_KEYS)
    if top["kind"] != KIND:
        raise reader.fail("kind", f"expected {KIND!r}, got {top['kind']!r}")
    if top.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise reader.fail("version", f"expected {SCHEMA_VERSION}, got {top['version']!r}")
    settings: dict[str, Any] = {
        key: reader.convert(top[key], hint, key)
        for key, hint in (
            ("name", str),
            ("description", str),
            ("dt", float),
            ("horizon", float),
            ("sensing_radius", float),
            ("safety_distance", float),
            ("goal_tolerance", float),
            ("deadlock_time", float),
            ("num_robots", int),
            ("seed", int),
        )
        if key in top
    }
    settings.setdefault("description", "")
    settings.setdefault("sensing_radius", 2.0)
    settings.setdefault("goal_tolerance", 0.25)
    settings.setdefault("seed", 0)
    settings.setdefault("deadlock_time", 20.0)
    for key in ("dt", "horizon", "sensing_radius", "goal_tolerance", "deadlock_time"):
        if settings[key] <= 0:
            raise reader.fail(key, f"expected a positive number, got {settings[key]!r}")
    if settings["num_robots"] < 1:
        raise reader.fail("num_robots", f"expected an integer >= 1, got {settings['num_robots']}")
    robot = reader.build(RobotSpec, "robot", **reader.flat(RobotSpec, top.get("robot"), "robot"))
    settings.setdefault("safety_distance", 2.0 * robot.radius)
    if not 0 < settings["safety_distance"] < settings["sensing_radius"]:
        raise reader.fail(
            "safety_distance",
            f"expected a number in (0, sensing_radius), got {settings['safety_distance']!r}",
        )
    perception = reader.build(
        PerceptionSpec,
        "perception",
        **reader.flat(PerceptionSpec, top.get("perception"), "perception"),
    )
    pipeline = reader.build(
        PipelineSpec, "pipeline", **reader.flat(PipelineSpec, top.get("pipeline"), "pipeline")
    )
    tasks = _parse_tasks(reader, top.get("tasks"))
    layout = _parse_layout(reader, top["layout"], source)
    scenario = WarehouseScenario(
        robot=robot,
        perception=perception,
        layout=layout,
        tasks=tasks,
        pipeline=pipeline,
        source=source,
        **settings,
    )
    try:
        scenario.sample()  # a floor too small for the fleet fails now, naming the file
    except ValueError as error:
        raise ScenarioError(str(error)) from error
    return scenario


def _parse_tasks(reader: FieldReader, raw: Any) -> TaskStreamSpec:
    names = tuple(field.name for field in dataclasses.fields(TaskStreamSpec))
    data = reader.mapping({} if raw is None else raw, "tasks", names)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(TaskStreamSpec):
        if field.name not in data:
            continue
        where = f"tasks.{field.name}"
        if field.name in ("value", "deadline"):
            kwargs[field.name] = reader.convert(data[field.name], tuple[float, float], where)
        else:
            hint = float if field.name == "rate_per_minute" else int
            kwargs[field.name] = reader.convert(data[field.name], hint, where)
    return reader.build(TaskStreamSpec, "tasks", **kwargs)


def _parse_layout(reader: FieldReader, raw: Any, source: str) -> WarehouseLayout:
    data = reader.mapping(raw, "layout", LAYOUT_KEYS, ("map",))
    text = reader.convert(data["map"], str, "layout.map")
    resolution = reader.convert(data.get("resolution", 1.0), float, "layout.resolution")
    shelf_radius = reader.convert(data.get("shelf_radius", 0.45), float, "layout.shelf_radius")
    try:
        return parse_layout(text, resolution, shelf_radius, f"{source}: layout.map")
    except MapFormatError as error:
        raise ScenarioError(str(error)) from error
    except ValueError as error:
        raise ScenarioError(f"{source}: layout.{error}") from error
