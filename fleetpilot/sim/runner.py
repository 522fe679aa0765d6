"""The per-robot control loop in the PyBullet world: tuner -> nominal controller -> CBF -> wheels.

Every control tick (the scenario's dt), for every robot:

1. the tuner reads the neighbour-graph observation (built like the training environment's, from
   the simulator's state) and returns that robot's CBF alpha and controller gains;
2. the go-to-goal controller proposes a planar velocity for the point ahead of the axle (zero
   once the robot has arrived: arrived robots park), turned into a [v, omega] command; it drives
   at the goal, or with ``nominal: {type: waypoints}`` at the next waypoint of an A* path
   through the static map (``fleetpilot.sim.nominal``; the filter never sees that map);
3. the unicycle CBF filter makes the command safe against the neighbours the robot *perceives*
   (simulated perception: sensing radius, noise, dropout, latency) and the obstacles;
4. the safe command becomes wheel velocity targets, and physics runs for dt.

Arrival, deadlock, path length and distances are measured with the training environment's own
metrics code; collisions are PyBullet contacts (robot-robot per pair, robot-obstacle and
robot-wall per robot), so the summary has exactly the keys of ``fleetpilot eval nav``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from fleetpilot.envs.dynamics import velocity_to_unicycle
from fleetpilot.envs.metrics import EpisodeMetrics, MetricsConfig, MetricsTracker
from fleetpilot.envs.nominal import NOMINAL_PARAMETERS, make_way_reach, nominal_with_parking
from fleetpilot.envs.tuners import Tuner
from fleetpilot.safety import UnicycleCBF
from fleetpilot.safety.scan_obstacles import (
    ScanGeometry,
    ScanReduction,
    StaticMap,
    scan_to_obstacles,
    unlisted_rate,
)
from fleetpilot.scenarios import NominalSpec, ScenarioInstance
from fleetpilot.sim.lidar import LidarConfig, SimulatedLidar
from fleetpilot.sim.nominal import make_nominal
from fleetpilot.sim.perception import NeighbourPerception
from fleetpilot.sim.scenario_world import build_world, control_substeps, shared_robot
from fleetpilot.sim.tuner_stage import TunerStage
from fleetpilot.sim.world import Contact, PyBulletWorld, WorldConfig

STATIC_SIGMAS = 5.0
"""Scan returns within this many range-noise sigmas of the map may be static (lidar runs)."""


@dataclass(frozen=True)
class SimConfig:
    """Settings of a simulated run (the scenario supplies everything else).

    Attributes:
        physics_dt: fixed physics step [s]; the scenario's dt must be a multiple of it.
        gui: open PyBullet's window.
        real_time: pace the loop to the wall clock (useful with ``gui``).
        max_steps: control ticks before the run is cut off; None uses the scenario's horizon.
        deadlock_speed: a robot slower than this is stalled [m/s] (as in the training env).
        deadlock_time: stalled this long in a row (not at the goal) is a deadlock [s].
        perception_seed: seeds perception noise and dropout.
        tuner_noise_seed: seeds a sampling tuner's policy noise; None: the tuner's current
            seed (a fresh tuner's is its configured one). Episodes that differ only in
            perception noise repeat nearly exactly when the tuner's noise repeats too
            (``fleetpilot sim`` gives each episode its own).
        lidar: with a lidar, obstacles and arena walls are not given to the filters: every
            robot sees them only through its own scan (``fleetpilot.safety.scan_obstacles``).
        silent_robots: the last this many robots are in nobody's neighbour list (robots that
            report nothing); only lidars see them. Needs ``lidar``.
        world: the other physics settings (solver, friction model, contacts); None for the
            defaults of ``WorldConfig``. ``physics_dt`` and ``gui`` above take precedence.
        nominal: the nominal controller; None for go-to-goal (``fleetpilot sim`` passes the
            scenario file's ``nominal:`` block, or ``--nominal``).
        static_returns: with a lidar and the ``waypoints`` controller (robots given the
            building's map), scan returns on the map and away from unmapped returns get no
            motion margin (``fleetpilot.safety.scan_obstacles``, static returns); False
            charges every return.
    """

    physics_dt: float = WorldConfig.physics_dt
    gui: bool = False
    real_time: bool = False
    max_steps: int | None = None
    deadlock_speed: float = 0.05
    deadlock_time: float = 5.0
    perception_seed: int = 0
    tuner_noise_seed: int | None = None
    lidar: LidarConfig | None = None
    silent_robots: int = 0
    world: WorldConfig | None = None
    nominal: NominalSpec | None = None
    static_returns: bool = True

    def __post_init__(self) -> None:
        if self.nominal is not None and not isinstance(self.nominal, NominalSpec):
            raise ValueError(f"nominal: expected a NominalSpec or None, got {self.nominal!r}")
        if self.silent_robots < 0 or (self.silent_robots and self.lidar is None):
            raise ValueError(
                f"silent_robots: expected 0, or >= 0 with a lidar, got {self.silent_robots!r}"
            )
        if self.max_steps is not None and (
            isinstance(self.max_steps, bool)
            or not isinstance(self.max_steps, int)
            or self.max_steps < 1
        ):
            raise ValueError(f"max_steps: expected an integer >= 1, got {self.max_steps!r}")
        if self.tuner_noise_seed is not None and (
            isinstance(self.tuner_noise_seed, bool)
            or not isinstance(self.tuner_noise_seed, int)
            or self.tuner_noise_seed < 0
        ):
            raise ValueError(
                "tuner_noise_seed: expected an integer >= 0 or None, "
                f"got {self.tuner_noise_seed!r}"
            )


@dataclass(frozen=True)
class Tick:
    """What happened on one control tick (arrays over the N robots).

    Attributes:
        time: simulated time at the end of the tick [s].
        poses: (N, 3) [x m, y m, yaw rad] at the end of the tick.
        velocities: (N, 2) world-frame linear velocities at the end of the tick [m/s].
        yaw_rates: (N,) [rad/s] at the end of the tick.
        nominal: (N, 2) [v, omega] from the nominal controller.
        commands: (N, 2) [v, omega] after the safety filter (sent to the wheels).
        status: (N,) SafetyMode codes.
        min_barrier: (N,) smallest barrier value of each robot's QP [m^2] (inf without rows).
        num_constraints: (N,) neighbour and obstacle rows in each robot's QP.
        solve_time: (N,) filter time per robot [s].
        alpha: (N,) CBF alpha used [1/s].
        gain: (N,) nominal gain used [1/s].
        tangential: (N,) sideways bias used.
        min_distance: smallest centre distance between two robots at the end of the tick [m].
        scans: (N, beams) lidar ranges [m] the filters used (LaserScan convention), or None.
        scan_geometry: their beam layout, or None.
    """

    time: float
    poses: np.ndarray
    velocities: np.ndarray
    yaw_rates: np.ndarray
    nominal: np.ndarray
    commands: np.ndarray
    status: np.ndarray
    min_barrier: np.ndarray
    num_constraints: np.ndarray
    solve_time: np.ndarray
    alpha: np.ndarray
    gain: np.ndarray
    tangential: np.ndarray
    min_distance: float
    scans: np.ndarray | None = None
    scan_geometry: ScanGeometry | None = None


class Filtered(NamedTuple):
    """What the filters did to every robot's command this tick (arrays over the N robots)."""

    commands: np.ndarray
    status: np.ndarray
    min_barrier: np.ndarray
    num_constraints: np.ndarray
    solve_time: np.ndarray


def make_tick(time, poses, velocities, yaw_rates, nominal, filtered: Filtered, params,
              min_distance, scans=None, scan_geometry=None) -> Tick:  # fmt: skip
    """A :class:`Tick` from the state after the tick, the nominal command, the filters' output
    and the tuner's parameters (``alpha``, ``gain``, ``tangential``)."""
    return Tick(
        time=time,
        poses=poses,
        velocities=velocities,
        yaw_rates=yaw_rates,
        nominal=nominal,
        commands=filtered.commands,
        status=filtered.status,
        min_barrier=filtered.min_barrier,
        num_constraints=filtered.num_constraints,
        solve_time=filtered.solve_time,
        alpha=params["alpha"],
        gain=params["gain"],
        tangential=params["tangential"],
        min_distance=min_distance,
        scans=scans,
        scan_geometry=scan_geometry,
    )


def run_ticks(episode, on_tick, progress: bool, label: str, postfix) -> None:
    """Steps ``episode`` (``running``, ``step() -> Tick``, ``max_steps``) to its end.

    Args:
        on_tick: sees every tick, or None.
        progress: show a progress bar labelled ``label`` with ``postfix()`` (a dict) after it.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episode.max_steps, desc=label, unit="tick", leave=False)
    try:
        while episode.running:
            tick = episode.step()
            if on_tick is not None:
                on_tick(tick)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(postfix(), refresh=False)
    finally:
        if bar is not None:
            bar.close()


class PerceivedFilter:
    """The unicycle CBF filter, fed with what each robot perceives.

    With exact perception every robot's neighbour list is the true state within the sensing
    radius, which is what one batched call computes; otherwise each robot solves its own QP
    against its own (noisy, delayed, incomplete) neighbour list.
    """

    def __init__(
        self,
        cbf: UnicycleCBF,
        perception: NeighbourPerception,
        scan_reduction: ScanReduction | None = None,
        scan_geometry=None,
        silent: frozenset[str] = frozenset(),
        static_map: StaticMap | None = None,
    ) -> None:
        self.cbf = cbf
        self.perception = perception
        self.scan_reduction, self.scan_geometry, self.silent = (
            scan_reduction,
            scan_geometry,
            silent,
        )
        self.static_map = static_map  # tells static scan returns apart; never an obstacle
        self._index = {name: index for index, name in enumerate(perception.ids)}
        config = perception.config
        self.exact = (
            config.position_noise == 0
            and config.velocity_noise == 0
            and config.dropout == 0
            and config.latency == 0
        )

    def __call__(
        self,
        poses,
        commands,
        alpha,
        obstacles,
        responsibility=None,
        scans=None,
        velocities=None,
    ):
        """poses (N, 3), commands (N, 2), alpha (N,), obstacles (M, 3) or None, responsibility
        (N, N) shares or None, scans (N, beams) ranges or None, velocities (N, 2) each robot's
        own measured velocity or None -> safe commands (N, 2), status (N,), min_barrier (N,),
        num_constraints (N,), solve_time (N,) [s]."""
        count = len(poses)
        if self.exact and scans is None and not self.silent:
            start = time.perf_counter()
            report = self.cbf.filter_with_report(
                poses, commands, alpha, obstacles, responsibility, velocities=velocities
            )
            elapsed = np.full(count, (time.perf_counter() - start) / count)
            return Filtered(
                report.commands,
                report.status,
                report.min_barrier,
                report.num_constraints,
                elapsed,
            )
        # Scan discs include robots; the axle's own rows keep clear of mapped obstacles only.
        mapped = np.zeros((0, 3)) if obstacles is None else obstacles
        safe = np.zeros((count, 2))
        status = np.zeros(count, dtype=np.int64)
        barrier, constraints, elapsed = np.zeros(count), np.zeros(count, int), np.zeros(count)
        for robot in range(count):
            start = time.perf_counter()
            seen = self.perception.observe(robot, poses[robot, :2])
            if self.silent:
                seen = seen.subset(
                    [i for i, name in enumerate(seen.ids) if name not in self.silent]
                )
            robot_obstacles, may_move = obstacles, False
            if scans is not None:
                known = np.column_stack([seen.positions, seen.radii])
                robot_obstacles, moving = scan_to_obstacles(
                    scans[robot],
                    self.scan_geometry,
                    poses[robot],
                    self.scan_reduction,
                    known,
                    self.static_map,
                    report_moving=True,
                )
                robot_obstacles = robot_obstacles if len(robot_obstacles) else None
                may_move = bool(moving.any())
            local_poses = np.concatenate(
                [poses[robot : robot + 1], np.column_stack([seen.positions, seen.headings])]
            )
            # Neighbours' own commands do not enter this robot's rows; only row 0 is used.
            local_commands = np.zeros((len(local_poses), 2))
            local_commands[0] = commands[robot]
            local_shares = None
            if responsibility is not None:
                seen_index = [self._index[name] for name in seen.ids]
                local_shares = np.full((len(local_poses), len(local_poses)), 0.5)
                local_shares[0, 1:] = responsibility[robot, seen_index]
            local_velocities = None
            if velocities is not None:
                local_velocities = np.zeros((len(local_poses), 2))
                local_velocities[0] = velocities[robot]
            report = self.cbf.filter_with_report(
                local_poses,
                local_commands,
                unlisted_rate(alpha[robot], may_move),
                robot_obstacles,
                local_shares,
                velocities=local_velocities,
                axle_obstacles=None if scans is None else mapped,
            )
            safe[robot], status[robot] = report.commands[0], report.status[0]
            barrier[robot], constraints[robot] = report.min_barrier[0], report.num_constraints[0]
            elapsed[robot] = time.perf_counter() - start
        return Filtered(safe, status, barrier, constraints, elapsed)


def scenario_filter(instance: ScenarioInstance, walls: bool = True) -> UnicycleCBF:
    """The unicycle CBF filter for ``instance``'s robots: its safety and sensing distances, the
    shared robot's limits, its control period and, if ``walls``, its arena walls."""
    robot = shared_robot(instance)
    return UnicycleCBF(
        safety_distance=instance.safety_distance,
        sensing_radius=instance.sensing_radius,
        max_speed=robot.max_speed,
        max_turn_rate=robot.max_turn_rate,
        projection_distance=robot.projection_distance,
        dt=instance.dt,
        arena=instance.arena.bounds if walls else None,
    )


class ScenarioRun:
    """One episode of a scenario instance in a fresh PyBullet world.

    Args:
        instance: the sampled layout.
        tuner: observation graph -> (1, N, P) action (``fleetpilot.envs.tuners.make_tuner``).
        config: run settings.
    """

    def __init__(
        self, instance: ScenarioInstance, tuner: Tuner, config: SimConfig | None = None
    ) -> None:
        self.instance = instance
        self.tuner = tuner
        self.config = config or SimConfig()
        self.robot = shared_robot(instance)
        self.substeps = control_substeps(instance, self.config.physics_dt)
        self.max_steps = self.config.max_steps or instance.max_steps
        self.tuner_stage = TunerStage(
            tuner,
            instance.num_agents,
            instance.sensing_radius,
            instance.obstacles,
            self.config.tuner_noise_seed,
        )
        self.world: PyBulletWorld
        self.world, self.perception = build_world(
            instance,
            gui=self.config.gui,
            physics_dt=self.config.physics_dt,
            perception_seed=self.config.perception_seed,
            world_config=self.config.world,
        )
        lidar = self.config.lidar
        self.lidar = None if lidar is None else SimulatedLidar(lidar, self.config.perception_seed)
        silent = instance.num_agents - self.config.silent_robots
        self._silent = np.arange(instance.num_agents) >= max(silent, 0)
        # The building's map (obstacles and walls, never robots) for the planner; in lidar runs
        # it also tells the scan conversion which returns are walls and pillars (they get no
        # motion margin), never the filter an obstacle.
        self.nominal = make_nominal(
            self.config.nominal or NominalSpec(), instance.obstacles, instance.arena
        )
        static_map = None
        if lidar is not None and self.nominal is not None and self.config.static_returns:
            static_map = StaticMap(instance.obstacles, instance.arena.bounds)
        self.filter = PerceivedFilter(
            # The world's walls, unless only the lidar may see them.
            scenario_filter(instance, walls=lidar is None),
            self.perception,
            None
            if lidar is None
            else ScanReduction(
                max_range=instance.sensing_radius,
                body_radius=self.world.robot.body_radius,
                range_sigma=lidar.noise_sigma,
                # Silent robots move unseen between ticks: one tick at the team's top speed.
                motion_margin=shared_robot(instance).max_speed * instance.dt,
                # A wall return farther than 5 sigma from the map: about 1 in 2 million.
                static_tolerance=STATIC_SIGMAS * lidar.noise_sigma,
                # Any return of a silent robot lies within its diameter of all the others.
                static_window=2 * max(self.world.robot.body_radius, float(instance.radii.max())),
            ),
            None if lidar is None else lidar.geometry,
            frozenset(self.perception.ids[max(silent, 0) :]),
            static_map,
        )
        count = instance.num_agents
        as_tensor = dict(dtype=torch.float64)
        self._goals = torch.tensor(instance.goals, **as_tensor).unsqueeze(0)
        self._radii = torch.tensor(instance.radii, **as_tensor).unsqueeze(0)
        self.metrics = MetricsTracker(
            MetricsConfig(
                dt=instance.dt,
                goal_tolerance=instance.goal_tolerance,
                deadlock_speed=self.config.deadlock_speed,
                deadlock_time=self.config.deadlock_time,
            ),
            1,
            count,
            torch.device("cpu"),
        )
        self.metrics.resize_obstacles(self.tuner_stage.obstacles.shape[1])
        starts = torch.tensor(instance.starts, **as_tensor).unsqueeze(0)
        self.metrics.reset(torch.tensor([0]), starts, self._goals)
        self.steps = 0
        self.wall_seconds = 0.0
        self._geometry = None
        self._poses = self.world.poses()
        linear, self._yaw_rates = self.world.velocities()
        self._velocities = linear
        self.perception.record(self.world.time, self._poses, self._velocities)

    @property
    def running(self) -> bool:
        """False once every robot arrived or the step limit was reached."""
        return self.steps < self.max_steps and not bool(self.metrics.arrived.all())

    def _reported_neighbours(self) -> np.ndarray:
        """(N, N) bool: robot i knows where robot j is (j reports itself and is within the
        sensing radius). Silent robots are known to nobody's planner."""
        positions = self._poses[:, :2]
        distances = np.linalg.norm(positions[:, None] - positions[None], axis=2)
        known = distances <= self.instance.sensing_radius
        np.fill_diagonal(known, False)
        known[:, self._silent] = False
        return known

    def _parameters(self, positions: torch.Tensor, targets: torch.Tensor) -> dict[str, np.ndarray]:
        return self.tuner_stage(
            positions,
            self._velocities,
            self._poses[:, 2],
            targets,
            self.metrics.arrived,
            self._geometry,
        )

    def step(self) -> Tick:
        """Runs one control tick; returns what happened."""
        if not self.running:
            raise RuntimeError("step: the run has ended")
        start = time.perf_counter()
        previous = torch.tensor(self._poses[:, :2]).unsqueeze(0)
        targets = self._goals
        if self.nominal is not None:  # the tuner's observation also sees the waypoint
            waypoints = self.nominal.waypoints(
                self._poses[:, :2],
                self.instance.goals,
                self._reported_neighbours(),
                self.instance.safety_distance,
            )
            targets = torch.tensor(waypoints).unsqueeze(0)
        params = self._parameters(previous, targets)
        velocity = nominal_with_parking(
            previous,
            targets,
            self.metrics.arrived,
            {name: torch.tensor(params[name]).unsqueeze(0) for name in NOMINAL_PARAMETERS},
            self.robot.max_speed,
            make_way_reach(self.instance.safety_distance, self.instance.sensing_radius),
        )
        headings = torch.tensor(self._poses[:, 2]).unsqueeze(0)
        nominal = velocity_to_unicycle(velocity, headings, self.robot.projection_distance)[0]
        nominal = nominal.numpy()
        obstacles = self.instance.obstacles if len(self.instance.obstacles) else None
        scans = None
        if self.lidar is not None:
            obstacles, scans = None, self.lidar.scan(self.world)  # seen only by the lidar
        filtered = self.filter(
            self._poses,
            nominal,
            params["alpha"],
            obstacles,
            params["responsibility"],
            scans,
            velocities=self._velocities,
        )
        self.world.command(filtered.commands)
        self.world.advance(self.instance.dt)

        self._poses = self.world.poses()
        self._velocities, self._yaw_rates = self.world.velocities()
        self.perception.record(self.world.time, self._poses, self._velocities)
        positions = torch.tensor(self._poses[:, :2]).unsqueeze(0)
        geometry = self.tuner_stage.geometry(positions)
        self._geometry = geometry  # the next tick's observation starts from this state
        self.metrics.update(
            previous,
            positions,
            self._goals,
            self._radii,
            geometry.distances,
            geometry.obstacle_gaps,
            torch.tensor(filtered.status).unsqueeze(0),
            torch.tensor([True]),
        )
        self.steps += 1
        self.wall_seconds += time.perf_counter() - start
        if self.config.real_time:
            time.sleep(max(0.0, self.instance.dt - (time.perf_counter() - start)))
        return make_tick(
            self.world.time,
            self._poses,
            self._velocities,
            self._yaw_rates,
            nominal,
            filtered,
            params,
            float(geometry.distances.min()),
            scans,
            None if self.lidar is None else self.lidar.config.geometry,
        )

    def run(self, on_tick: Callable[[Tick], None] | None = None, progress: bool = False) -> None:
        """Steps until every robot arrived or the step limit; ``on_tick`` sees every tick."""

        def postfix() -> dict:
            return {"arrived": int(self.metrics.arrived.sum())}

        run_ticks(self, on_tick, progress, self.instance.name, postfix)

    def episode(self) -> EpisodeMetrics:
        """The run's metrics, with collisions counted from PyBullet contacts."""
        metrics = self.metrics.episode(0)
        contacts = self.world.contacts
        per_robot = count_contacts_per_robot(contacts, self.instance.num_agents)
        agent_collisions = sum(1 for c in contacts if c.other_kind == "robot")
        static_collisions = sum(1 for c in contacts if c.other_kind != "robot")
        agents = dict(metrics.agents, collisions=per_robot)
        return dataclasses.replace(
            metrics,
            collisions=agent_collisions + static_collisions,
            agent_collisions=agent_collisions,
            obstacle_collisions=static_collisions,
            agents=agents,
        )

    def contact_counts(self) -> dict[str, int]:
        """Contact starts by what the robot touched: ``robot`` (per pair), ``obstacle``,
        ``wall`` (the batched training environment has no walls)."""
        counts = {"robot": 0, "obstacle": 0, "wall": 0}
        for contact in self.world.contacts:
            counts[contact.other_kind] += 1
        return counts

    @property
    def real_time_factor(self) -> float:
        """Simulated seconds per wall-clock second of the loop so far."""
        return self.steps * self.instance.dt / max(self.wall_seconds, 1e-9)

    def close(self) -> None:
        self.world.close()

    def __enter__(self) -> ScenarioRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def count_contacts_per_robot(contacts: list[Contact], count: int) -> list[int]:
    """Contact starts each robot took part in (a robot-robot contact counts for both)."""
    per_robot = [0] * count
    for contact in contacts:
        per_robot[contact.robot] += 1
        if contact.other_kind == "robot":
            per_robot[contact.other] += 1
    return per_robot
