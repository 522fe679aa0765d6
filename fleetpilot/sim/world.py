"""A PyBullet world of differential-drive robots, circular obstacles and arena walls.

Robots are driven the way real ones are: unicycle commands become wheel velocity targets for
torque-limited motors, and the physics engine decides how the base moves. Poses, velocities
and contacts are read back from the simulator, never assumed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pybullet

from fleetpilot.agent_states import as_float_array
from fleetpilot.sim.robot import URDF_PATH, DiffDriveSpec

RAY_BATCH = 16_384
"""Rays per PyBullet ray-test call (its batch limit)."""

CONTACT_MARGIN = 0.05
"""Slack [m] beyond the body radius (wheels, casters, penetration) in the contact pre-check."""

TOUCH_TOLERANCE = 1e-3
"""A contact point counts as a touch when the bodies are at most this far apart [m]. Bullet
also reports points up to the contact breaking threshold apart (near misses), which are not
contacts."""


@dataclass(frozen=True)
class WorldConfig:
    """Physics settings of a world.

    Attributes:
        physics_dt: fixed physics step [s]; control periods must be multiples of it. At
            25 ms the base follows wheel commands to within about 0.03 m/s and 0.03 rad/s in
            steady state (turning in place at 1 rad/s about 5 % slow), as 10 and 20 ms do;
            33 ms and longer track worse (``benchmarks/pybullet_world.py --tracking``).
        solver_iterations: constraint-solver iterations per step (PyBullet's default is 50).
        gui: open PyBullet's GUI window instead of running headless (DIRECT).
        wall_height: height of arena walls and obstacle cylinders [m].
        wall_thickness: thickness of arena walls [m].
        contact_breaking_threshold: how far apart [m] two shapes may drift before Bullet drops
            a contact point it keeps from earlier steps (Bullet's default is 0.02 m). A rolling
            wheel leaves a trail of such points: with 2 cm each wheel soon carries 3-4, with
            1 cm fewer, for a cheaper step and the same tracking. Bullet holds this in a
            process-wide variable: every world sets it when it is built, so worlds that step
            at the same time in one process must agree on it.
        cone_friction: Bullet's cone friction model (PyBullet's default); False uses the
            pyramid model (two independent friction directions per contact, as ODE does),
            which costs about 15 % less per step and, at a 20 ms step, tracks fast turns
            closer (0.05 against 0.12 rad/s worst turn-rate error).
    """

    physics_dt: float = 0.025
    solver_iterations: int = 10
    gui: bool = False
    wall_height: float = 0.4
    wall_thickness: float = 0.1
    contact_breaking_threshold: float = 0.01
    cone_friction: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.physics_dt <= 0.05:
            raise ValueError(
                f"physics_dt: expected a step in (0, 0.05] s, got {self.physics_dt!r}"
            )
        if self.solver_iterations < 1:
            raise ValueError(f"solver_iterations: expected >= 1, got {self.solver_iterations!r}")
        if not 0 < self.contact_breaking_threshold <= 0.1:
            raise ValueError(
                "contact_breaking_threshold: expected a distance in (0, 0.1] m, "
                f"got {self.contact_breaking_threshold!r}"
            )
        for name in ("wall_height", "wall_thickness"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected a positive size, got {getattr(self, name)!r}")


PREVIOUS_WORLD = WorldConfig(physics_dt=0.02, contact_breaking_threshold=0.02)
"""The defaults before the 25 ms step (kept for comparisons: ``fleetpilot sim --previous-physics``,
``benchmarks/pybullet_world.py``)."""


@dataclass(frozen=True)
class Contact:
    """The start of a contact between a robot and another robot, obstacle or wall."""

    time: float
    robot: int
    other_kind: str  # "robot", "obstacle" or "wall"
    other: int  # robot or obstacle index; -1 for walls


class PyBulletWorld:
    """Robots, obstacles and walls in one PyBullet physics client.

    Args:
        start_poses: (N, 3) float, [x m, y m, heading rad] of each robot's axle centre.
        obstacles: (M, 3) float, [x m, y m, radius m] of static cylinders, or None.
        arena: (x_min, y_min, x_max, y_max) [m] enclosed by walls, or None for no walls.
        robot: the robot model (must match the URDF).
        config: physics settings.
    """

    def __init__(
        self,
        start_poses: np.ndarray,
        obstacles: np.ndarray | None = None,
        arena: tuple[float, float, float, float] | None = None,
        robot: DiffDriveSpec | None = None,
        config: WorldConfig | None = None,
    ) -> None:
        self.robot = robot or DiffDriveSpec()
        self.config = config or WorldConfig()
        start_poses = as_float_array("start_poses", start_poses, (None, 3))
        self.obstacles = (
            np.zeros((0, 3))
            if obstacles is None
            else as_float_array("obstacles", obstacles, (None, 3))
        )
        if np.any(self.obstacles[:, 2] <= 0):
            raise ValueError("obstacles: every radius (column 2) must be positive")
        self.time = 0.0
        self._client = pybullet.connect(pybullet.GUI if self.config.gui else pybullet.DIRECT)
        self._call = _ClientCalls(self._client)
        self._call.setGravity(0, 0, -9.81)
        self._call.setPhysicsEngineParameter(
            fixedTimeStep=self.config.physics_dt,
            numSolverIterations=self.config.solver_iterations,
            contactBreakingThreshold=self.config.contact_breaking_threshold,
            enableConeFriction=int(self.config.cone_friction),
        )
        self._ground = self._create_static(pybullet.GEOM_PLANE, (0, 0, 0), {})
        self._walls = self._create_walls(arena) if arena is not None else []
        self._arena = None if arena is None else tuple(float(v) for v in arena)
        self._obstacle_bodies = [
            self._create_static(
                pybullet.GEOM_CYLINDER,
                (x, y, self.config.wall_height / 2),
                {"radius": r, "height": self.config.wall_height},
            )
            for x, y, r in self.obstacles
        ]
        self._robots = [self._load_robot(pose) for pose in start_poses]
        self._wheel_joints = self._find_wheel_joints(self._robots[0]) if self._robots else []
        self._kind_of_body = {body: ("robot", i) for i, body in enumerate(self._robots)}
        self._kind_of_body.update(
            {b: ("obstacle", i) for i, b in enumerate(self._obstacle_bodies)}
        )
        self._kind_of_body.update({b: ("wall", -1) for b in self._walls})
        self._touching: set[tuple[int, int]] = set()
        self.contacts: list[Contact] = []
        self._state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        if self.config.gui:
            self._frame_gui_camera(start_poses)

    # Construction -----------------------------------------------------------------------------
    def _create_static(self, shape: int, position, size: dict) -> int:
        collision = self._call.createCollisionShape(shape, **size)
        return self._call.createMultiBody(
            baseMass=0, baseCollisionShapeIndex=collision, basePosition=position
        )

    def _create_walls(self, arena: tuple[float, float, float, float]) -> list[int]:
        x_min, y_min, x_max, y_max = (float(v) for v in arena)
        if not (x_max > x_min and y_max > y_min):
            raise ValueError(
                f"arena: expected (x_min, y_min, x_max, y_max) with max > min, got {arena}"
            )
        t, h = self.config.wall_thickness, self.config.wall_height
        cx, cy = (x_min + x_max) / 2, (y_min + y_max) / 2
        width, depth = x_max - x_min + 2 * t, y_max - y_min + 2 * t
        walls = [  # (centre, half extents): south, north, west, east, just outside the arena
            ((cx, y_min - t / 2), (width / 2, t / 2)),
            ((cx, y_max + t / 2), (width / 2, t / 2)),
            ((x_min - t / 2, cy), (t / 2, depth / 2)),
            ((x_max + t / 2, cy), (t / 2, depth / 2)),
        ]
        return [
            self._create_static(pybullet.GEOM_BOX, (x, y, h / 2), {"halfExtents": (hx, hy, h / 2)})
            for (x, y), (hx, hy) in walls
        ]

    def _frame_gui_camera(self, start_poses: np.ndarray) -> None:
        """Points the window's camera down at the arena (or the robots), side panels hidden,
        so the whole scenario is in view when the window opens."""
        if self._arena is not None:
            x_min, y_min, x_max, y_max = self._arena
        else:
            (x_min, y_min), (x_max, y_max) = start_poses[:, :2].min(0), start_poses[:, :2].max(0)
        span = max(x_max - x_min, y_max - y_min, 2.0)
        self._call.configureDebugVisualizer(pybullet.COV_ENABLE_GUI, 0)
        self._call.resetDebugVisualizerCamera(
            cameraDistance=0.8 * span,
            cameraYaw=0.0,
            cameraPitch=-75.0,
            cameraTargetPosition=((x_min + x_max) / 2, (y_min + y_max) / 2, 0.0),
        )

    def _load_robot(self, pose: np.ndarray) -> int:
        body = self._call.loadURDF(
            str(URDF_PATH),
            # 0.5 mm up: a robot dropped from higher bounces on its casters for its first
            # tenths of a second and turns slower while it does.
            basePosition=(pose[0], pose[1], self.robot.axle_height + 0.0005),
            baseOrientation=pybullet.getQuaternionFromEuler((0, 0, pose[2])),
        )
        for joint in range(self._call.getNumJoints(body)):
            name = self._call.getJointInfo(body, joint)[1].decode()
            if "caster" in name:  # casters roll freely in every direction
                self._call.changeDynamics(
                    body, joint, lateralFriction=0.0, rollingFriction=0.0, spinningFriction=0.0
                )
            elif "wheel" in name:
                self._call.changeDynamics(body, joint, lateralFriction=1.0)
        return body

    def _find_wheel_joints(self, body: int) -> list[int]:
        names = {
            self._call.getJointInfo(body, j)[1].decode(): j
            for j in range(self._call.getNumJoints(body))
        }
        return [names["left_wheel_joint"], names["right_wheel_joint"]]

    # Stepping ---------------------------------------------------------------------------------
    @property
    def num_robots(self) -> int:
        return len(self._robots)

    def command(self, commands: np.ndarray) -> None:
        """Sets every robot's wheel velocity targets from unicycle commands (N, 2) [v, omega]."""
        commands = as_float_array("commands", commands, (self.num_robots, 2))
        wheel_rates = self.robot.wheel_speeds(commands)
        forces = [self.robot.wheel_torque, self.robot.wheel_torque]
        set_motors = self._call.setJointMotorControlArray
        for body, rates in zip(self._robots, wheel_rates.tolist(), strict=True):
            set_motors(
                body,
                self._wheel_joints,
                pybullet.VELOCITY_CONTROL,
                targetVelocities=rates,
                forces=forces,
            )

    def advance(self, duration: float) -> None:
        """Steps physics for ``duration`` seconds (a whole number of physics steps)."""
        steps = round(duration / self.config.physics_dt)
        if steps < 1 or not math.isclose(steps * self.config.physics_dt, duration, rel_tol=1e-6):
            step = self.config.physics_dt
            raise ValueError(f"duration: expected a multiple of physics_dt={step}, got {duration}")
        # Contact queries are asked pair by pair, only about the pairs that could touch within
        # this advance: a query of the whole world also returns the 4-6 points where every
        # robot's wheels and casters touch the ground, as Python tuples to skip (90 us a step
        # with 16 robots, 230 us with 64, against about 4 us per pair).
        pairs = self._contact_pairs(duration)
        self._state = None  # poses and velocities change
        for _ in range(steps):
            self._call.stepSimulation()
            self.time += self.config.physics_dt
            if pairs:
                self._record_contacts(pairs)

    def _contact_pairs(self, duration: float) -> list[tuple[int, int]]:
        """(lower, higher) body ids of the robot-robot, robot-obstacle and robot-wall pairs
        that could touch within ``duration`` [s], from the current poses and twice the speed
        limit (a safe bound), and of the pairs touching now."""
        pairs = set(self._touching)
        if not self._robots:
            return sorted(pairs)
        robots = self._robots
        positions = self.poses()[:, :2]
        reach = self.robot.body_radius + 2.0 * self.robot.max_speed * duration + CONTACT_MARGIN
        if len(positions) > 1:
            gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
            near = np.triu(gaps < 2 * reach, k=1)
            pairs.update((robots[i], robots[j]) for i, j in np.argwhere(near).tolist())
        if len(self.obstacles):
            gaps = np.linalg.norm(positions[:, None] - self.obstacles[None, :, :2], axis=-1)
            near = gaps - self.obstacles[None, :, 2] < reach
            pairs.update(
                _ordered(robots[i], self._obstacle_bodies[k])
                for i, k in np.argwhere(near).tolist()
            )
        if self._arena is not None:
            x_min, y_min, x_max, y_max = self._arena
            gaps = np.column_stack(  # in the order of self._walls: south, north, west, east
                [
                    positions[:, 1] - y_min,
                    y_max - positions[:, 1],
                    positions[:, 0] - x_min,
                    x_max - positions[:, 0],
                ]
            )
            pairs.update(
                _ordered(robots[i], self._walls[k]) for i, k in np.argwhere(gaps < reach).tolist()
            )
        return sorted(pairs)

    def _record_contacts(self, pairs: list[tuple[int, int]]) -> None:
        """Updates which of ``pairs`` touch now and records the touches that started."""
        touching = set()
        for a, b in pairs:
            for point in self._call.getContactPoints(bodyA=a, bodyB=b):
                if point[8] <= TOUCH_TOLERANCE:  # farther points are near misses
                    touching.add((a, b))
                    break
        for a, b in touching - self._touching:
            (kind_a, index_a), (kind_b, index_b) = self._kind_of_body[a], self._kind_of_body[b]
            if kind_a != "robot":  # robots come first; static bodies never touch each other
                (kind_a, index_a), (kind_b, index_b) = (kind_b, index_b), (kind_a, index_a)
            self.contacts.append(Contact(self.time, index_a, kind_b, index_b))
        self._touching = touching

    # Read-back --------------------------------------------------------------------------------
    def _read_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(N, 3) positions, (N, 4) quaternions [x, y, z, w], (N, 3) linear and (N, 3) angular
        velocities of every robot's base, read once per advance (two calls per robot)."""
        if self._state is None:
            base_pose = self._call.getBasePositionAndOrientation
            base_velocity = self._call.getBaseVelocity
            poses = [base_pose(body) for body in self._robots]
            velocities = [base_velocity(body) for body in self._robots]
            shape = (self.num_robots, -1)
            self._state = (
                np.array([pose[0] for pose in poses], dtype=np.float64).reshape(shape),
                np.array([pose[1] for pose in poses], dtype=np.float64).reshape(shape),
                np.array([v[0] for v in velocities], dtype=np.float64).reshape(shape),
                np.array([v[1] for v in velocities], dtype=np.float64).reshape(shape),
            )
        return self._state

    def poses(self) -> np.ndarray:
        """(N, 3) [x m, y m, heading rad] of each robot's base frame (axle centre)."""
        positions, quaternions, _, _ = self._read_state()
        poses = np.empty((self.num_robots, 3))
        poses[:, :2] = positions[:, :2]
        # PyBullet's own conversion, robot by robot: a closed-form yaw differs in the last bit,
        # and the closed loop turns such differences into different trajectories.
        to_euler = pybullet.getEulerFromQuaternion
        poses[:, 2] = [to_euler(quaternion)[2] for quaternion in quaternions.tolist()]
        return poses

    def velocities(self) -> tuple[np.ndarray, np.ndarray]:
        """((N, 2) world-frame linear velocity [m/s], (N,) yaw rate [rad/s]) of each robot."""
        _, _, linear, angular = self._read_state()
        return linear[:, :2].copy(), angular[:, 2].copy()

    def tilt(self) -> np.ndarray:
        """(N,) angle between each robot's up axis and the world's [rad] (tipping check)."""
        _, quaternions, _, _ = self._read_state()
        x, y, _, _ = quaternions.T
        up_z = 1.0 - 2.0 * (x * x + y * y)  # z component of the body's z axis
        return np.arccos(np.clip(up_z, -1.0, 1.0))

    def cast_rays(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """First-hit fraction along each segment start -> end ((R, 3) each, world frame [m]):
        (R,) in [0, 1], or 1.0 where nothing is hit. Batched through PyBullet's ray test."""
        fractions = []
        for first in range(0, len(starts), RAY_BATCH):
            hits = self._call.rayTestBatch(
                starts[first : first + RAY_BATCH].tolist(),
                ends[first : first + RAY_BATCH].tolist(),
                numThreads=1,  # one core, like the rest of the loop
            )
            fractions.extend(hit[2] if hit[0] >= 0 else 1.0 for hit in hits)  # id -1: no hit
        return np.array(fractions, dtype=np.float64).reshape(len(starts))

    def close(self) -> None:
        if self._client is not None and pybullet.isConnected(self._client):
            pybullet.disconnect(self._client)
        self._client = None

    def __enter__(self) -> PyBulletWorld:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _ClientCalls:
    """PyBullet functions bound to one physics client (worlds never share a client)."""

    def __init__(self, client: int) -> None:
        self._client = client

    def __getattr__(self, name: str):
        call = functools.partial(getattr(pybullet, name), physicsClientId=self._client)
        setattr(self, name, call)  # cached: later lookups skip __getattr__
        return call


def _ordered(a: int, b: int) -> tuple[int, int]:
    """A pair of body ids as (lower, higher), the key of touching pairs."""
    return (a, b) if a < b else (b, a)
