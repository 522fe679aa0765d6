"""From a sampled scenario to a running PyBullet world and its simulated perception.

Shared by the scenario runner (``fleetpilot sim``) and the ROS 2 ``sim`` node, so both place
the same robots, obstacles and walls, apply the same limits and degrade perception the same way.
"""

from __future__ import annotations

import dataclasses
import math

from fleetpilot.scenarios import RobotSpec, ScenarioInstance
from fleetpilot.sim.perception import NeighbourPerception, PerceptionConfig
from fleetpilot.sim.robot import DiffDriveSpec
from fleetpilot.sim.world import PyBulletWorld, WorldConfig

LIMIT_FIELDS = ("max_speed", "max_turn_rate", "projection_distance")


def robot_names(count: int) -> tuple[str, ...]:
    """The robots' names (and ROS namespaces): ``robot_0``, ``robot_1``, ..."""
    return tuple(f"robot_{index}" for index in range(count))


def shared_robot(instance: ScenarioInstance) -> RobotSpec:
    """The limits every robot of ``instance`` shares (one URDF serves the whole fleet).

    Raises:
        ValueError: naming the first agent whose limits differ from agent 0's.
    """
    first = instance.robots[0]
    for index, robot in enumerate(instance.robots):
        for name in LIMIT_FIELDS:
            if getattr(robot, name) != getattr(first, name):
                raise ValueError(
                    f"{instance.name}: agents[{index}].{name}: the PyBullet world drives one "
                    f"robot model, expected {getattr(first, name)!r} like agents[0], "
                    f"got {getattr(robot, name)!r}"
                )
    return first


def diff_drive_spec(instance: ScenarioInstance) -> DiffDriveSpec:
    """The URDF robot's geometry with the scenario's speed and turn-rate limits."""
    robot = shared_robot(instance)
    return DiffDriveSpec(max_speed=robot.max_speed, max_turn_rate=robot.max_turn_rate)


def radius_mismatches(instance: ScenarioInstance) -> list[int]:
    """Agents whose scenario radius differs from the URDF body (metrics use the scenario's)."""
    body = DiffDriveSpec().body_radius
    return [i for i, radius in enumerate(instance.radii) if not math.isclose(radius, body)]


def perception_config(instance: ScenarioInstance) -> PerceptionConfig:
    """The scenario's sensing radius and perception degradations."""
    spec = instance.perception
    return PerceptionConfig(
        sensing_radius=instance.sensing_radius,
        position_noise=spec.position_noise,
        velocity_noise=spec.velocity_noise,
        dropout=spec.dropout,
        latency=spec.latency,
    )


def control_substeps(instance: ScenarioInstance, physics_dt: float) -> int:
    """Physics steps per control tick; the scenario's dt must be a whole number of them.

    Raises:
        ValueError: naming dt and physics_dt when they do not divide.
    """
    steps = round(instance.dt / physics_dt)
    if steps < 1 or not math.isclose(steps * physics_dt, instance.dt, rel_tol=1e-6):
        raise ValueError(
            f"{instance.name}: dt: expected a multiple of the physics step {physics_dt:g} s, "
            f"got {instance.dt:g} s"
        )
    return steps


def build_world(
    instance: ScenarioInstance,
    gui: bool = False,
    physics_dt: float = WorldConfig.physics_dt,
    perception_seed: int = 0,
    world_config: WorldConfig | None = None,
) -> tuple[PyBulletWorld, NeighbourPerception]:
    """A world holding the instance's robots, obstacles and arena walls, and its perception.

    Args:
        instance: a sampled scenario (``Scenario.sample``).
        gui: open PyBullet's window instead of running headless.
        physics_dt: fixed physics step [s]; the scenario's dt must be a multiple of it.
        perception_seed: seeds perception noise and dropout.
        world_config: the other physics settings (solver, friction model, contacts); None
            for the defaults. Its ``physics_dt`` and ``gui`` are replaced by the above.

    Returns:
        The world (close it when done, or use it as a context manager) and the perception that
        turns its true state into each robot's neighbour list.
    """
    control_substeps(instance, physics_dt)
    spec = diff_drive_spec(instance)
    world = PyBulletWorld(
        instance.start_poses,
        obstacles=instance.obstacles,
        arena=instance.arena.bounds,
        robot=spec,
        config=dataclasses.replace(world_config or WorldConfig(), physics_dt=physics_dt, gui=gui),
    )
    perception = NeighbourPerception(
        perception_config(instance),
        robot_names(instance.num_agents),
        instance.radii,
        seed=perception_seed,
    )
    return world, perception
