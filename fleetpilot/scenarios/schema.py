"""The scenario schema: validated, frozen dataclasses shared by every simulator and launcher.

A :class:`Scenario` is what a ``sim/scenarios/*.yaml`` file says: either an explicit list of
agents or a generator family with a seed, plus obstacles, arena, timing and robot limits.
:meth:`Scenario.sample` turns it into a :class:`ScenarioInstance`, the concrete arrays (starts,
goals, obstacles, ...) that the batched training environment, the PyBullet world and the ROS
launch files consume. Every validation error names the field and the offending value, so the
YAML loader can prefix it with the file and key path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

DYNAMICS = ("single_integrator", "unicycle")
LAYOUT_ATTEMPTS = 20
"""Fresh draws a generator gets when random placement runs out of room."""
"""Motion models an agent may declare: planar velocity commands, or [v, omega] commands."""


def require_finite(name: str, value: Any) -> None:
    """Raises ValueError unless ``value`` is a finite real number (bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")


def require_positive(name: str, value: Any) -> None:
    require_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")


def require_non_negative(name: str, value: Any) -> None:
    require_finite(name, value)
    if value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")


def require_point(name: str, value: Any) -> None:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    ):
        raise ValueError(f"{name}: expected a list of 2 finite numbers, got {value!r}")


@dataclass(frozen=True)
class RobotSpec:
    """Body, motion model and limits of one robot.

    Attributes:
        dynamics: ``single_integrator`` (commands are planar velocities) or ``unicycle``
            (commands are [forward speed m/s, yaw rate rad/s]).
        radius: body radius [m].
        max_speed: largest speed [m/s].
        max_turn_rate: largest yaw rate [rad/s] (unicycle only, carried for both).
        projection_distance: distance ahead of the axle of the point a unicycle's safety filter
            controls [m] (unicycle only, carried for both).
    """

    dynamics: str = "single_integrator"
    radius: float = 0.2
    max_speed: float = 1.0
    max_turn_rate: float = 3.0
    projection_distance: float = 0.1

    def __post_init__(self) -> None:
        if self.dynamics not in DYNAMICS:
            raise ValueError(
                f"dynamics: expected one of {', '.join(DYNAMICS)}, got {self.dynamics!r}"
            )
        for name in ("radius", "max_speed", "max_turn_rate", "projection_distance"):
            require_positive(name, getattr(self, name))


@dataclass(frozen=True)
class AgentSpec:
    """One agent of an explicit scenario.

    Attributes:
        start: (x, y) start position of the axle centre [m], world frame.
        goal: (x, y) goal position [m], world frame.
        heading: start yaw [rad] counter-clockwise from +x; None faces the goal.
        robot: body, dynamics and limits.
    """

    start: tuple[float, float]
    goal: tuple[float, float]
    heading: float | None = None
    robot: RobotSpec = RobotSpec()

    def __post_init__(self) -> None:
        require_point("start", self.start)
        require_point("goal", self.goal)
        if self.heading is not None:
            require_finite("heading", self.heading)


@dataclass(frozen=True)
class Obstacle:
    """A static disc (a cylinder in 3-D).

    Attributes:
        center: (x, y) [m], world frame.
        radius: [m].
    """

    center: tuple[float, float]
    radius: float

    def __post_init__(self) -> None:
        require_point("center", self.center)
        require_positive("radius", self.radius)


@dataclass(frozen=True)
class Arena:
    """The rectangle the world is enclosed in (walls in the PyBullet world) [m]."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def __post_init__(self) -> None:
        for name in ("x_min", "y_min", "x_max", "y_max"):
            require_finite(name, getattr(self, name))
        if self.x_max <= self.x_min:
            raise ValueError(f"x_max: expected > x_min ({self.x_min!r}), got {self.x_max!r}")
        if self.y_max <= self.y_min:
            raise ValueError(f"y_max: expected > y_min ({self.y_min!r}), got {self.y_max!r}")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) [m], the form ``PyBulletWorld`` takes."""
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    def outside(self, points: np.ndarray, margin: float | np.ndarray) -> np.ndarray:
        """(K,) bool: which of ``points`` (K, 2) [m] lie closer than ``margin`` (scalar or
        (K,)) [m] to a wall, or beyond it."""
        return (
            (points[:, 0] < self.x_min + margin)
            | (points[:, 0] > self.x_max - margin)
            | (points[:, 1] < self.y_min + margin)
            | (points[:, 1] > self.y_max - margin)
        )


@dataclass(frozen=True)
class FittedArena:
    """An arena sized to the sampled layout: its bounding box grown by ``margin`` [m].

    Generator families whose size depends on the team size (circle swap, crossing groups)
    use it, so that overriding the number of agents never leaves agents outside the walls.
    """

    margin: float

    def __post_init__(self) -> None:
        require_positive("margin", self.margin)

    def fit(self, points: np.ndarray, obstacles: np.ndarray) -> Arena:
        """The arena around ``points`` (K, 2) and ``obstacles`` (M, 3) [x, y, r], in metres."""
        low = points.min(axis=0)
        high = points.max(axis=0)
        if len(obstacles):
            low = np.minimum(low, (obstacles[:, :2] - obstacles[:, 2:]).min(axis=0))
            high = np.maximum(high, (obstacles[:, :2] + obstacles[:, 2:]).max(axis=0))
        low, high = low - self.margin, high + self.margin
        return Arena(float(low[0]), float(low[1]), float(high[0]), float(high[1]))


@dataclass(frozen=True)
class PerceptionSpec:
    """How perception degrades (applied by the PyBullet world; carried by the training env).

    Attributes:
        position_noise: std of Gaussian noise on each position axis [m].
        velocity_noise: std of Gaussian noise on each velocity axis [m/s].
        dropout: probability that one detection of one neighbour is missed, in [0, 1).
        latency: age of the perceived state [s].
    """

    position_noise: float = 0.0
    velocity_noise: float = 0.0
    dropout: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        for name in ("position_noise", "velocity_noise", "latency"):
            require_non_negative(name, getattr(self, name))
        require_finite("dropout", self.dropout)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout!r}")


NOMINAL_TYPES = ("go-to-goal", "waypoints")
"""Nominal controllers of the PyBullet runner (``fleetpilot.sim.nominal``)."""


@dataclass(frozen=True)
class NominalSpec:
    """Which nominal controller proposes each robot's command before the safety filter.

    Attributes:
        type: ``go-to-goal`` (straight at the goal) or ``waypoints`` (an A* path on a grid of
            the static map, the obstacles and arena walls, followed with the go-to-goal law;
            the filter still sees only what the robot perceives).
        resolution: planning grid cell side [m] (``waypoints``).
        clearance: planned cells keep at least this distance from obstacle surfaces and the
            arena walls [m] (``waypoints``).
        lookahead: the waypoint is the farthest path cell within this distance that the robot
            sees in a straight line on the grid [m] (``waypoints``).
    """

    type: str = "go-to-goal"
    resolution: float = 0.25
    clearance: float = 0.35
    lookahead: float = 1.0

    def __post_init__(self) -> None:
        if self.type not in NOMINAL_TYPES:
            raise ValueError(
                f"type: expected one of {', '.join(NOMINAL_TYPES)}, got {self.type!r}"
            )
        for name in ("resolution", "lookahead"):
            require_positive(name, getattr(self, name))
        require_non_negative("clearance", self.clearance)
        if self.lookahead < self.resolution:
            raise ValueError(
                f"lookahead: expected at least the resolution ({self.resolution!r} m), "
                f"got {self.lookahead!r}"
            )


@dataclass(frozen=True)
class GeneratorSpec:
    """A randomized family of layouts.

    Attributes:
        family: a name in :data:`fleetpilot.scenarios.families.FAMILIES`.
        num_agents: default team size (``Scenario.sample(num_agents=...)`` overrides it).
        seed: default seed of :meth:`Scenario.sample`.
        params: the family's validated parameters (its own frozen dataclass).
    """

    family: str
    num_agents: int
    seed: int = 0
    params: Any = None

    def __post_init__(self) -> None:
        from fleetpilot.scenarios.families import FAMILIES

        if self.family not in FAMILIES:
            raise ValueError(
                f"family: expected one of {', '.join(sorted(FAMILIES))}, got {self.family!r}"
            )
        family = FAMILIES[self.family]
        if self.params is None:
            object.__setattr__(self, "params", family.params_type())
        if not isinstance(self.params, family.params_type):
            raise ValueError(
                f"params: expected {family.params_type.__name__}, got {type(self.params).__name__}"
            )
        for name in ("num_agents", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        if self.num_agents < family.min_agents:
            raise ValueError(
                f"num_agents: family {self.family} needs at least {family.min_agents} agents, "
                f"got {self.num_agents!r}"
            )


@dataclass(frozen=True, eq=False)
class ScenarioInstance:
    """One concrete layout: what a simulator needs to place robots and obstacles.

    Attributes:
        name: the scenario's name.
        starts: (N, 2) float64, start positions [m], world frame.
        start_headings: (N,) float64, start yaw [rad].
        goals: (N, 2) float64, goal positions [m], world frame.
        robots: (N,) each agent's body, dynamics and limits.
        obstacles: (M, 3) float64, static discs [x m, y m, radius m].
        arena: the enclosing rectangle.
        dt: control period [s].
        horizon: episode length [s].
        sensing_radius: neighbours and obstacles farther than this are not seen [m].
        safety_distance: smallest allowed centre distance between two agents [m]; agent-obstacle
            centre distances must stay above safety_distance / 2 + obstacle radius.
        goal_tolerance: an agent within this distance of its goal has arrived [m].
        perception: perception degradations.
    """

    name: str
    starts: np.ndarray
    start_headings: np.ndarray
    goals: np.ndarray
    robots: tuple[RobotSpec, ...]
    obstacles: np.ndarray
    arena: Arena
    dt: float
    horizon: float
    sensing_radius: float
    safety_distance: float
    goal_tolerance: float
    perception: PerceptionSpec = PerceptionSpec()

    def __post_init__(self) -> None:
        count = len(self.robots)
        for name, shape in (
            ("starts", (count, 2)),
            ("start_headings", (count,)),
            ("goals", (count, 2)),
        ):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.shape != shape or not np.all(np.isfinite(array)):
                raise ValueError(
                    f"{name}: expected finite numbers of shape {shape}, got {array!r}"
                )
            object.__setattr__(self, name, array)
        obstacles = np.asarray(self.obstacles, dtype=np.float64).reshape(-1, 3)
        object.__setattr__(self, "obstacles", obstacles)
        check_layout(self)

    @property
    def num_agents(self) -> int:
        return len(self.robots)

    @property
    def radii(self) -> np.ndarray:
        """(N,) float64, body radii [m]."""
        return np.array([robot.radius for robot in self.robots])

    @property
    def start_poses(self) -> np.ndarray:
        """(N, 3) float64, [x m, y m, heading rad], the form ``PyBulletWorld`` takes."""
        return np.column_stack([self.starts, self.start_headings])

    @property
    def max_steps(self) -> int:
        """Control ticks in one episode: ceil(horizon / dt)."""
        return math.ceil(self.horizon / self.dt - 1e-9)

    def agents(self) -> tuple[AgentSpec, ...]:
        return tuple(
            AgentSpec(tuple(start), tuple(goal), float(heading), robot)
            for start, goal, heading, robot in zip(
                self.starts.tolist(),
                self.goals.tolist(),
                self.start_headings.tolist(),
                self.robots,
                strict=True,
            )
        )


def _pairs_closer_than(points: np.ndarray, distance: float) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, of ``points`` (K, 2) closer than ``distance``, or None."""
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
    close = np.argwhere(np.triu(gaps < distance, k=1))
    return (int(close[0, 0]), int(close[0, 1])) if len(close) else None


def check_layout(instance: ScenarioInstance) -> None:
    """Raises ValueError (naming ``agents[i].start`` etc.) if a layout cannot be run safely.

    Starts and goals must keep the safety distance from each other and from obstacles, keep
    the whole body inside the arena, and every start must be farther than the goal tolerance
    from its goal.
    """
    distance = instance.safety_distance
    for kind, points in (("start", instance.starts), ("goal", instance.goals)):
        pair = _pairs_closer_than(points, distance)
        if pair is not None:
            i, j = pair
            gap = float(np.linalg.norm(points[i] - points[j]))
            raise ValueError(
                f"agents[{j}].{kind}: expected at least the safety distance {distance:g} m from "
                f"agents[{i}].{kind}, got {gap:.3f} m"
            )
        outside = instance.arena.outside(points, instance.radii)
        if outside.any():
            index = int(np.argmax(outside))
            raise ValueError(
                f"agents[{index}].{kind}: expected a point at least the body radius inside the "
                f"arena {instance.arena.bounds}, got {tuple(points[index].tolist())}"
            )
        if len(instance.obstacles):
            centres, radii = instance.obstacles[:, :2], instance.obstacles[:, 2]
            gaps = np.linalg.norm(points[:, None] - centres[None], axis=-1) - radii[None]
            too_close = np.argwhere(gaps < distance / 2)
            if len(too_close):
                i, m = (int(v) for v in too_close[0])
                raise ValueError(
                    f"agents[{i}].{kind}: expected at least {distance / 2:g} m from the surface "
                    f"of obstacles[{m}], got {gaps[i, m]:.3f} m"
                )
    travel = np.linalg.norm(instance.goals - instance.starts, axis=1)
    if np.any(travel <= instance.goal_tolerance):
        index = int(np.argmax(travel <= instance.goal_tolerance))
        raise ValueError(
            f"agents[{index}].goal: expected farther than the goal tolerance "
            f"{instance.goal_tolerance:g} m from the start, got {travel[index]:.3f} m"
        )


@dataclass(frozen=True)
class Scenario:
    """What one scenario file declares (see ``sim/scenarios/README.md`` for the YAML form).

    Attributes:
        name: short identifier.
        dt: control period [s].
        horizon: episode length [s].
        sensing_radius: perception and neighbour-graph range [m].
        arena: an explicit rectangle, or a margin around the sampled layout.
        robot: default body, dynamics and limits of every agent (agents may override fields).
        agents: explicit agents; empty when ``generator`` makes them.
        obstacles: static obstacles (a generator may add more).
        generator: a randomized family, or None for an explicit scenario.
        safety_distance: smallest allowed centre distance between agents [m]; None means twice
            the largest body radius.
        goal_tolerance: arrival distance [m].
        perception: perception degradations.
        nominal: the PyBullet runner's nominal controller (``fleetpilot sim``).
        description: one or two sentences for people.
        source: where the scenario came from (a file path), for error messages.
    """

    name: str
    dt: float
    horizon: float
    sensing_radius: float
    arena: Arena | FittedArena
    robot: RobotSpec = RobotSpec()
    agents: tuple[AgentSpec, ...] = ()
    obstacles: tuple[Obstacle, ...] = ()
    generator: GeneratorSpec | None = None
    safety_distance: float | None = None
    goal_tolerance: float = 0.1
    perception: PerceptionSpec = PerceptionSpec()
    nominal: NominalSpec = NominalSpec()
    description: str = ""
    source: str = field(default="<memory>", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        for name in ("dt", "horizon", "sensing_radius", "goal_tolerance"):
            require_positive(name, getattr(self, name))
        if self.horizon < self.dt:
            raise ValueError(
                f"horizon: expected at least dt ({self.dt!r} s), got {self.horizon!r}"
            )
        if bool(self.agents) == (self.generator is not None):
            raise ValueError(
                "agents: expected either a non-empty agents list or a generator block, "
                f"got {'both' if self.agents else 'neither'}"
            )
        largest_radius = max([self.robot.radius] + [agent.robot.radius for agent in self.agents])
        if self.safety_distance is not None:
            require_positive("safety_distance", self.safety_distance)
            if self.safety_distance < 2 * largest_radius:
                raise ValueError(
                    f"safety_distance: expected at least twice the largest body radius "
                    f"({2 * largest_radius:g} m), got {self.safety_distance!r}"
                )
        if self.resolved_safety_distance >= self.sensing_radius:
            raise ValueError(
                f"sensing_radius: expected more than the safety distance "
                f"({self.resolved_safety_distance:g} m), got {self.sensing_radius!r}"
            )

    @property
    def resolved_safety_distance(self) -> float:
        """The safety distance [m]: as declared, or twice the largest body radius."""
        if self.safety_distance is not None:
            return float(self.safety_distance)
        return 2.0 * max([self.robot.radius] + [agent.robot.radius for agent in self.agents])

    @property
    def num_agents(self) -> int:
        """The default team size."""
        return self.generator.num_agents if self.generator else len(self.agents)

    def sample(self, seed: int | tuple[int, ...] | None = None, num_agents: int | None = None):
        """A concrete layout.

        Args:
            seed: seeds the generator (an int or a tuple of ints, as numpy's ``default_rng``
                takes); None uses the file's ``generator.seed``. Ignored by explicit scenarios.
            num_agents: team size; None keeps the file's. Only generator families can change it.

        Returns:
            ScenarioInstance: starts, goals, obstacles and the settings to run them with.
        """
        static_obstacles = np.array(
            [[*obstacle.center, obstacle.radius] for obstacle in self.obstacles], dtype=np.float64
        ).reshape(-1, 3)
        if self.generator is None:
            if num_agents is not None and num_agents != len(self.agents):
                raise ValueError(
                    f"{self.source}: num_agents: scenario {self.name!r} lists its "
                    f"{len(self.agents)} agents explicitly; only generator families can change "
                    f"the team size, got {num_agents!r}"
                )
            starts = np.array([agent.start for agent in self.agents], dtype=np.float64)
            goals = np.array([agent.goal for agent in self.agents], dtype=np.float64)
            headings = [agent.heading for agent in self.agents]
            robots = tuple(agent.robot for agent in self.agents)
            obstacles = static_obstacles
        else:
            from fleetpilot.scenarios.families import FAMILIES, LayoutContext
            from fleetpilot.scenarios.placement import PlacementError

            count = self.generator.num_agents if num_agents is None else num_agents
            family = FAMILIES[self.generator.family]
            if isinstance(count, bool) or not isinstance(count, int) or count < family.min_agents:
                raise ValueError(
                    f"{self.source}: num_agents: family {self.generator.family} needs an integer "
                    f">= {family.min_agents}, got {count!r}"
                )
            rng = np.random.default_rng(self.generator.seed if seed is None else seed)
            context = LayoutContext(
                safety_distance=self.resolved_safety_distance,
                radius=self.robot.radius,
                arena=self.arena if isinstance(self.arena, Arena) else None,
                obstacles=static_obstacles,
            )
            for attempt in range(LAYOUT_ATTEMPTS):
                try:
                    layout = family.generate(self.generator.params, count, rng, context)
                    break
                except PlacementError as error:
                    # Random packing can jam; redraw from the same stream (still seeded).
                    if attempt == LAYOUT_ATTEMPTS - 1:
                        raise ValueError(
                            f"{self.source}: generator: {error} (after {LAYOUT_ATTEMPTS} attempts)"
                        ) from error
                except ValueError as error:  # the family's message starts with the key path
                    raise ValueError(f"{self.source}: {error}") from error
            starts, goals = layout.starts, layout.goals
            headings = [None] * count
            robots = (self.robot,) * count
            obstacles = np.concatenate([static_obstacles, layout.obstacles])
        facing_goal = np.arctan2(goals[:, 1] - starts[:, 1], goals[:, 0] - starts[:, 0])
        start_headings = np.array(
            [facing_goal[i] if h is None else h for i, h in enumerate(headings)], dtype=np.float64
        )
        arena = self.arena
        if isinstance(arena, FittedArena):
            arena = arena.fit(np.concatenate([starts, goals]), obstacles)
        try:
            return ScenarioInstance(
                name=self.name,
                starts=starts,
                start_headings=start_headings,
                goals=goals,
                robots=robots,
                obstacles=obstacles,
                arena=arena,
                dt=float(self.dt),
                horizon=float(self.horizon),
                sensing_radius=float(self.sensing_radius),
                safety_distance=self.resolved_safety_distance,
                goal_tolerance=float(self.goal_tolerance),
                perception=self.perception,
            )
        except ValueError as error:
            raise ValueError(f"{self.source}: {error}") from error


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of a dataclass type, in declaration order."""
    return tuple(f.name for f in fields(cls))
