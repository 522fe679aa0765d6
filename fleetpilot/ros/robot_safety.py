"""One robot's safety loop, ROS-free: inputs in, a safe command and its status out.

The ``cbf_safety`` node only converts messages and calls this. Each tick the robot's own pose,
its perceived neighbours and its nominal command go through the tuner (CBF parameters) and the
unicycle CBF filter, with the robot at row 0 and its neighbours after it; each row's QP only
depends on its own command, so only row 0 (this robot's decentralized filter) is solved. The
robot is stopped (zero command, STOPPED) whenever an input is missing, stale, invalid, or the
tuner or filter fails; it is never left with an earlier command. Input ages come from the
steady clock (:class:`~fleetpilot.safety.watchdog.InputWatchdog`), never from message stamps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from fleetpilot.agent_states import AgentStates
from fleetpilot.ros.tuning import ParameterSource, TunedParameters
from fleetpilot.safety import SafetyMode, UnicycleCBF
from fleetpilot.safety.cbf import DEFAULT_REACTION_TIME
from fleetpilot.safety.neighbour_tracker import NeighbourTracker, TrackerConfig
from fleetpilot.safety.scan_obstacles import (
    ScanGeometry,
    ScanReduction,
    StaticMap,
    scan_to_obstacles,
    unlisted_rate,
)
from fleetpilot.safety.watchdog import InputWatchdog

ODOMETRY, NEIGHBOURS, NOMINAL, SCAN = "odom", "neighbors", "cmd_vel_nominal", "scan"
STOP = np.zeros(2)
OWN_ROW = (0,)  # this robot's row in the filter; its neighbours follow


@dataclass(frozen=True)
class RobotSafetyConfig:
    """Everything one robot's safety loop needs; ROS parameters map onto these fields.

    Attributes:
        robot_id: this robot's name; it is removed from neighbour lists (fleet-wide lists
            include the robot itself).
        safety_distance: smallest centre-to-centre distance kept to neighbours [m].
        sensing_radius: neighbours and obstacle surfaces farther than this are ignored [m].
        max_speed: forward/backward speed limit [m/s].
        max_turn_rate: yaw-rate limit [rad/s].
        projection_distance: distance ahead of the axle of the filtered point [m].
        control_period: tick period [s]; the filter's discrete-time condition uses it.
        odometry_timeout: odometry older than this stops the robot [s].
        neighbours_timeout: a neighbour list older than this stops the robot [s].
        nominal_timeout: a nominal command older than this stops the robot [s].
        obstacles: (M, 3) static discs [x m, y m, radius m], world frame.
        arena: (x_min, y_min, x_max, y_max) [m] walls to keep D/2 from (exact linear
            barriers), or None for none.
        scan: how laser scans become obstacle discs, or None to use no lidar. With a lidar,
            a scan older than ``scan_timeout`` stops the robot like any other input. With
            ``scan.static_tolerance`` > 0, ``obstacles`` and ``arena`` are also the map that
            tells static returns apart: those on them (away from unmapped returns) carry no
            motion margin.
        scan_timeout: a scan older than this stops the robot [s].
        track_hold_time: a neighbour missing from the latest list is kept this long [s], as
            a disc grown by ``neighbour_max_speed`` x its age (where it can have got to).
        neighbour_max_speed: the fastest a neighbour can move [m/s].
        reaction_time: how long the base keeps its measured velocity before a new command
            takes hold [s]; the axle keeps D/2 from walls and obstacles also where that motion
            takes it (:class:`~fleetpilot.safety.cbf.UnicycleCBF`). 0 for a base that stops
            within a tick.
    """

    robot_id: str = "robot_0"
    safety_distance: float = 0.5
    sensing_radius: float = 2.0
    max_speed: float = 1.0
    max_turn_rate: float = 3.0
    projection_distance: float = 0.1
    control_period: float = 0.05
    odometry_timeout: float = 0.5
    neighbours_timeout: float = 0.5
    nominal_timeout: float = 0.5
    obstacles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    arena: tuple[float, float, float, float] | None = None
    scan: ScanReduction | None = None
    scan_timeout: float = 0.5
    track_hold_time: float = 0.5
    neighbour_max_speed: float = 1.0
    reaction_time: float = DEFAULT_REACTION_TIME

    def __post_init__(self) -> None:
        if not self.robot_id:
            raise ValueError("robot_id: expected a non-empty robot name")
        for name in (
            "safety_distance",
            "sensing_radius",
            "max_speed",
            "max_turn_rate",
            "projection_distance",
            "control_period",
            "odometry_timeout",
            "neighbours_timeout",
            "nominal_timeout",
            "scan_timeout",
            "track_hold_time",
            "neighbour_max_speed",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
        value = self.reaction_time
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"reaction_time: expected a finite number >= 0 s, got {value!r}")
        obstacles = obstacles_from_flat(np.asarray(self.obstacles, dtype=float).reshape(-1))
        object.__setattr__(self, "obstacles", obstacles)
        if self.arena is not None:
            object.__setattr__(self, "arena", arena_from_flat(self.arena))


def arena_from_flat(values) -> tuple[float, float, float, float] | None:
    """[] (no walls) or [x_min, y_min, x_max, y_max] [m], as ROS parameters hold it.

    Raises:
        ValueError: naming ``arena`` unless it is empty or 4 finite numbers with min < max.
    """
    flat = np.asarray(list(values), dtype=float).reshape(-1)
    if not len(flat):
        return None
    if (
        len(flat) != 4
        or not np.all(np.isfinite(flat))
        or not (flat[0] < flat[2] and flat[1] < flat[3])
    ):
        raise ValueError(
            f"arena: expected [] or [x_min, y_min, x_max, y_max] with min < max, "
            f"got {flat.tolist()}"
        )
    return tuple(float(v) for v in flat)


def obstacles_from_flat(values) -> np.ndarray:
    """A flat [x0, y0, r0, x1, ...] list (as ROS parameters hold it) -> (M, 3) discs."""
    flat = np.asarray(values, dtype=float).reshape(-1)
    if len(flat) % 3:
        raise ValueError(
            f"obstacles: expected x, y, radius triples (a multiple of 3 numbers), got {len(flat)}"
        )
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"obstacles: expected finite numbers, got {flat.tolist()}")
    discs = flat.reshape(-1, 3)
    if np.any(discs[:, 2] <= 0):
        index = int(np.argmax(discs[:, 2] <= 0))
        raise ValueError(f"obstacles[{index}].radius: expected > 0 m, got {discs[index, 2]!r}")
    return discs


@dataclass(frozen=True)
class SafetyDecision:
    """What one tick decided.

    Attributes:
        command: (2,) [v m/s, omega rad/s] to send to the base; zero unless the robot may move.
        mode: SafetyMode code.
        reason: why the robot was stopped, braked or relaxed; empty otherwise.
        min_barrier: smallest barrier value over this robot's constraints [m^2]; inf if none.
        num_constraints: neighbour and obstacle constraints in this robot's QP.
        slack: how far the relaxation lowered a violated constraint [m^2/s]; 0 unless RELAXED.
        parameters: the CBF parameters used (None when the tick stopped before tuning).
        neighbour_ids: ids of the neighbours within the sensing radius.
        neighbour_indices: their positions in the neighbour list (row - 1 of the filter).
        solve_time: wall time of tuner + filter [s].
    """

    command: np.ndarray
    mode: int
    reason: str = ""
    min_barrier: float = math.inf
    num_constraints: int = 0
    slack: float = 0.0
    parameters: TunedParameters | None = None
    neighbour_ids: tuple[str, ...] = ()
    neighbour_indices: tuple[int, ...] = ()
    solve_time: float = 0.0


class RobotSafetyLoop:
    """Holds the latest valid inputs and turns them into a safe command on each tick.

    Args:
        config: the loop's settings.
        tuner: chooses the CBF parameters each tick.
    """

    def __init__(self, config: RobotSafetyConfig, tuner: ParameterSource) -> None:
        self.config = config
        self.tuner = tuner
        self.filter = UnicycleCBF(
            safety_distance=config.safety_distance,
            sensing_radius=config.sensing_radius,
            max_speed=config.max_speed,
            max_turn_rate=config.max_turn_rate,
            projection_distance=config.projection_distance,
            dt=config.control_period,
            arena=config.arena,
            reaction_time=config.reaction_time,
        )
        timeouts = {
            ODOMETRY: config.odometry_timeout,
            NEIGHBOURS: config.neighbours_timeout,
            NOMINAL: config.nominal_timeout,
        }
        if config.scan is not None:
            timeouts[SCAN] = config.scan_timeout
        self.watchdog = InputWatchdog(timeouts)
        self._scan: tuple[np.ndarray, ScanGeometry] | None = None
        # Used by the scan conversion only when scan.static_tolerance > 0.
        mapped = len(config.obstacles) > 0 or config.arena is not None
        self._static_map = StaticMap(config.obstacles, config.arena) if mapped else None
        self._tracker_config = TrackerConfig(
            max_speed=config.neighbour_max_speed, hold_time=config.track_hold_time
        )
        self._tracker = NeighbourTracker(self._tracker_config)
        self._lost = np.zeros((0, 3))
        self._invalid: dict[str, str] = {}
        self._pose = np.zeros(3)
        self._velocity = np.zeros(2)
        self._neighbours = AgentStates.empty()
        self._nominal = STOP.copy()
        self._goal: np.ndarray | None = None

    def warm_up(self) -> None:
        """Runs the filter once on made-up inputs so the first real tick is not slowed by the
        solver's one-time compilation."""
        poses = np.array([[0.0, 0.0, 0.0], [self.config.safety_distance * 2, 0.0, np.pi]])
        self.filter.filter_with_report(poses, np.zeros((2, 2)), agents=OWN_ROW)

    # Inputs (already converted and validated by the caller) ------------------------------------
    def set_odometry(self, now: float, pose: np.ndarray, velocity: np.ndarray) -> None:
        """Own pose (3,) [x, y, yaw] and world velocity (2,), received at steady time ``now``."""
        self._pose, self._velocity = pose, velocity
        self._accept(ODOMETRY, now)

    def set_neighbours(self, now: float, neighbours: AgentStates) -> None:
        """Perceived neighbours (this robot, if listed, is dropped)."""
        keep = [i for i, robot in enumerate(neighbours.ids) if robot != self.config.robot_id]
        if len(keep) != len(neighbours):
            neighbours = neighbours.subset(keep)
        self._neighbours = neighbours
        self._tracker.update(
            now, neighbours.positions, neighbours.radii, neighbours.ids, neighbours.velocities
        )
        # Neighbours that dropped out of the list: discs of where they can have got to since.
        tracks = self._tracker.neighbours(now)
        lost = tracks.ages > 0
        self._lost = np.column_stack([tracks.positions[lost], tracks.radii[lost]])
        self._accept(NEIGHBOURS, now)

    def set_nominal(self, now: float, command: np.ndarray) -> None:
        """Nominal command (2,) [v m/s, omega rad/s]."""
        self._nominal = command
        self._accept(NOMINAL, now)

    def set_scan(self, now: float, ranges: np.ndarray, geometry: ScanGeometry) -> None:
        """A laser scan from a sensor at the robot's centre, aligned with its heading."""
        if self.config.scan is None:
            raise ValueError("scan: this loop has no lidar configured (RobotSafetyConfig.scan)")
        self._scan = (np.asarray(ranges, dtype=float), geometry)
        self._accept(SCAN, now)

    def set_goal(self, goal: np.ndarray | None) -> None:
        """Current goal (2,) [m] for the tuner's observation, or None when unknown."""
        self._goal = None if goal is None else np.asarray(goal, dtype=float)

    def reject(self, name: str, reason: str) -> None:
        """Input ``name`` delivered an invalid message: stop until a valid one arrives."""
        self.watchdog.forget(name)
        self._invalid[name] = reason

    def reset(self) -> None:
        """Forgets every input (on deactivation), so a reactivated loop starts stopped."""
        for name in self.watchdog.timeouts:
            self.watchdog.forget(name)
        self._invalid.clear()
        self._scan = None
        self._tracker = NeighbourTracker(self._tracker_config)
        self._lost = np.zeros((0, 3))

    def _accept(self, name: str, now: float) -> None:
        self._invalid.pop(name, None)
        self.watchdog.feed(name, now)

    # Tick ------------------------------------------------------------------------------------
    def input_problem(self, now: float) -> str | None:
        """Why the robot must stand still before any computation, or None."""
        if self._invalid:
            name, reason = next(iter(self._invalid.items()))  # the first rejected input
            return f"{name} rejected: {reason}"
        return self.watchdog.problem(now)

    def tick(self, now: float) -> SafetyDecision:
        """The command for this tick at steady time ``now`` [s]; never raises."""
        problem = self.input_problem(now)
        if problem is not None:
            return SafetyDecision(STOP.copy(), SafetyMode.STOPPED, problem)
        started = time.perf_counter()
        try:
            decision = self._filter()
        except Exception as error:  # noqa: BLE001 - any failure must stop the robot, not crash
            return SafetyDecision(
                STOP.copy(),
                SafetyMode.STOPPED,
                f"safety filter failed: {type(error).__name__}: {error}",
                solve_time=time.perf_counter() - started,
            )
        return replace(decision, solve_time=time.perf_counter() - started)

    def _obstacles(self) -> tuple[np.ndarray, bool]:
        """Known static discs, neighbours that dropped out of the list (grown discs), and what
        the latest scan sees (listed neighbours masked out); and whether any of them may be a
        robot with no report (a lost track, a return charged the motion margin)."""
        parts = [self.config.obstacles, self._lost]
        may_move = len(self._lost) > 0
        if self._scan is not None:
            ranges, geometry = self._scan
            known = np.column_stack([self._neighbours.positions, self._neighbours.radii])
            circles, moving = scan_to_obstacles(
                ranges,
                geometry,
                self._pose,
                self.config.scan,
                known,
                self._static_map,
                report_moving=True,
            )
            parts.append(circles)
            may_move = may_move or bool(moving.any())
        return np.concatenate(parts), may_move

    def _filter(self) -> SafetyDecision:
        neighbours = self._neighbours
        distances = np.hypot(*(neighbours.positions - self._pose[:2]).T)
        in_range = tuple(int(i) for i in np.flatnonzero(distances <= self.config.sensing_radius))
        obstacles, may_move = self._obstacles()
        # The tuner's obstacle scan ranges over what the filter keeps clear of: map and lidar.
        parameters = self.tuner.parameters(
            self._pose, self._velocity, self._goal, neighbours, self.config, obstacles
        )
        poses = np.concatenate(
            [self._pose[None], np.column_stack([neighbours.positions, neighbours.headings])]
        )
        commands = np.zeros((len(poses), 2))
        commands[0] = self._nominal
        velocities = np.zeros((len(poses), 2))  # only row 0's own rows use a velocity
        velocities[0] = self._velocity
        report = self.filter.filter_with_report(
            poses,
            commands,
            alpha=unlisted_rate(parameters.alpha, may_move),
            responsibility=parameters.responsibility,
            obstacles=obstacles if len(obstacles) else None,
            agents=OWN_ROW,  # the neighbours' rows would be solved for nothing
            velocities=velocities,
            # Lost tracks and scan discs include robots: the axle keeps clear of the map only.
            axle_obstacles=self.config.obstacles,
        )
        mode = int(report.status[0])
        command = report.commands[0].copy()
        if not np.all(np.isfinite(command)):
            return SafetyDecision(
                STOP.copy(), SafetyMode.STOPPED, f"safety filter returned {command.tolist()}"
            )
        reason = ""
        if mode == SafetyMode.BRAKING:
            command = STOP.copy()
            reason = "no command keeps every barrier from shrinking: braking"
        elif mode == SafetyMode.RELAXED:
            reason = "constraints infeasible (already inside a safety distance): relaxed"
        return SafetyDecision(
            command,
            mode,
            reason,
            float(report.min_barrier[0]),
            int(report.num_constraints[0]),
            float(report.slack[0]),
            parameters,
            tuple(neighbours.ids[i] for i in in_range),
            in_range,
        )
