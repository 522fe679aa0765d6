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


@dataclass(frozen=True)
class WorldConfig:
    """Physics settings of a world.

    Attributes:
        physics_dt: fixed physics step [s]; control periods must be multiples of it.
        solver_iterations: constraint-solver iterations per step (PyBullet's default is 50).
        gui: open PyBullet's GUI window instead of running headless (DIRECT).
        wall_height: height of arena walls and obstacle cylinders [m].
        wall_thickness: thickness of arena walls [m].
    """

    physics_dt: float = 0.01
    solver_iterations: int = 10
    gui: bool = False
    wall_height: float = 0.4
    wall_thickness: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.physics_dt <= 0.05:
            raise ValueError(
                f"physics_dt: expected a step in (0, 0.05] s, got {self.physics_dt!r}"
            )
        if self.solver_iterations < 1:
            raise ValueError(f"solver_iterations: expected >= 1, got {self.solver_iterations!r}")
        for name in ("wall_height", "wall_thickness"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected a positive size, got {getattr(self, name)!r}")


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

    def _load_robot(self, pose: np.ndarray) -> int:
        body = self._call.loadURDF(
            str(URDF_PATH),
            basePosition=(pose[0], pose[1], self.robot.axle_height + 0.002),
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
        for body, rates in zip(self._robots, wheel_rates, strict=True):
            self._call.setJointMotorControlArray(
                body,
                self._wheel_joints,
                pybullet.VELOCITY_CONTROL,
                targetVelocities=rates.tolist(),
                forces=forces,
            )

    def advance(self, duration: float) -> None:
        """Steps physics for ``duration`` seconds (a whole number of physics steps)."""
        steps = round(duration / self.config.physics_dt)
        if steps < 1 or not math.isclose(steps * self.config.physics_dt, duration, rel_tol=1e-6):
            step = self.config.physics_dt
            raise ValueError(f"duration: expected a multiple of physics_dt={step}, got {duration}")
        # Contact queries cost 10-20 % of a physics step (every wheel touches the ground); skip
        # them while no robot can reach another body within this advance.
        check_contacts = bool(self._touching) or self._contact_possible(duration)
        for _ in range(steps):
            self._call.stepSimulation()
            self.time += self.config.physics_dt
            if check_contacts:
                self._record_contacts()

    def _contact_possible(self, duration: float) -> bool:
        """Whether any robot could touch another robot, an obstacle or a wall within
        ``duration`` [s], from the current poses and twice the speed limit (a safe bound)."""
        if not self._robots:
            return False
        positions = self.poses()[:, :2]
        reach = self.robot.body_radius + 2.0 * self.robot.max_speed * duration + CONTACT_MARGIN
        if len(positions) > 1:
            gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
            np.fill_diagonal(gaps, np.inf)
            if gaps.min() < 2 * reach:
                return True
        if len(self.obstacles):
            gaps = np.linalg.norm(positions[:, None] - self.obstacles[None, :, :2], axis=-1)
            if (gaps - self.obstacles[None, :, 2]).min() < reach:
                return True
        if self._arena is not None:
            x_min, y_min, x_max, y_max = self._arena
            inner = np.min(
                [
                    positions[:, 0] - x_min,
                    x_max - positions[:, 0],
                    positions[:, 1] - y_min,
                    y_max - positions[:, 1],
                ]
            )
            if inner < reach:
                return True
        return False

    def _record_contacts(self) -> None:
        touching = set()
        for point in self._call.getContactPoints():
            a, b = point[1], point[2]
            if self._ground in (a, b) or (
                a not in self._kind_of_body or b not in self._kind_of_body
            ):
                continue
            touching.add((min(a, b), max(a, b)))
        for a, b in touching - self._touching:
            (kind_a, index_a), (kind_b, index_b) = self._kind_of_body[a], self._kind_of_body[b]
            if kind_a != "robot":  # robots come first; static bodies never touch each other
                (kind_a, index_a), (kind_b, index_b) = (kind_b, index_b), (kind_a, index_a)
            self.contacts.append(Contact(self.time, index_a, kind_b, index_b))
        self._touching = touching

    # Read-back --------------------------------------------------------------------------------
    def poses(self) -> np.ndarray:
        """(N, 3) [x m, y m, heading rad] of each robot's base frame (axle centre)."""
        poses = np.empty((self.num_robots, 3))
        for i, body in enumerate(self._robots):
            position, orientation = self._call.getBasePositionAndOrientation(body)
            poses[i] = (position[0], position[1], pybullet.getEulerFromQuaternion(orientation)[2])
        return poses

    def velocities(self) -> tuple[np.ndarray, np.ndarray]:
        """((N, 2) world-frame linear velocity [m/s], (N,) yaw rate [rad/s]) of each robot."""
        linear = np.empty((self.num_robots, 2))
        yaw_rate = np.empty(self.num_robots)
        for i, body in enumerate(self._robots):
            velocity, angular = self._call.getBaseVelocity(body)
            linear[i] = velocity[:2]
            yaw_rate[i] = angular[2]
        return linear, yaw_rate

    def tilt(self) -> np.ndarray:
        """(N,) angle between each robot's up axis and the world's [rad] (tipping check)."""
        tilts = np.empty(self.num_robots)
        for i, body in enumerate(self._robots):
            _, orientation = self._call.getBasePositionAndOrientation(body)
            up_z = self._call.getMatrixFromQuaternion(orientation)[8]
            tilts[i] = math.acos(max(-1.0, min(1.0, up_z)))
        return tilts

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
