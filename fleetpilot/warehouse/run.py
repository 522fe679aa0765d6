"""One warehouse episode in PyBullet: allocation -> MAPF -> controller -> tuned CBF -> wheels.

Every control tick (the scenario's dt):

1. robots that reached their station complete that leg (pickup, then delivery); every
   ``allocation_period`` the allocator gives open tasks to idle robots;
2. the MAPF planner moves every robot's goal (its station, or its parking cell when idle) one
   grid cell closer, avoiding the other robots' cells: the centre of that cell is the robot's
   waypoint;
3. the tuner gives each robot its CBF parameters (its observation's goal is the waypoint);
4. the nominal controller (go-to-goal, or a learned flow policy whose goal is the waypoint)
   drives toward the waypoint (robots parked at home stay still);
5. the unicycle CBF filter makes every command safe against the neighbours the robot perceives,
   the shelves and the walls, and the result goes to the wheels.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from fleetpilot.allocation.registry import make_allocator
from fleetpilot.envs.dynamics import velocity_to_unicycle
from fleetpilot.envs.nominal import NOMINAL_PARAMETERS, make_way_reach, nominal_with_parking
from fleetpilot.envs.tuners import make_tuner
from fleetpilot.mapf.waypoints import WaypointPlanner
from fleetpilot.safety.status import SafetyMode
from fleetpilot.sim.runner import (
    PerceivedFilter,
    SimConfig,
    Tick,
    make_tick,
    run_ticks,
    scenario_filter,
)
from fleetpilot.sim.scenario_world import build_world, control_substeps, robot_names, shared_robot
from fleetpilot.sim.tuner_stage import TunerStage
from fleetpilot.warehouse.controller import FlowController
from fleetpilot.warehouse.dispatch import Leg, TaskDispatcher
from fleetpilot.warehouse.metrics import WarehouseMetrics, WarehouseTracker
from fleetpilot.warehouse.pipeline import PipelineSpec
from fleetpilot.warehouse.scenario import WarehouseInstance


class WarehouseRun:
    """One episode of a sampled warehouse in a fresh PyBullet world.

    Args:
        instance: the sampled floor, fleet and task stream.
        pipeline: the stack; default: the scenario's.
        config: physics step, GUI, step limit, perception seed (no lidar here).
    """

    def __init__(
        self,
        instance: WarehouseInstance,
        pipeline: PipelineSpec | None = None,
        config: SimConfig | None = None,
    ) -> None:
        self.instance = instance
        scenario = instance.scenario
        self.pipeline = pipeline or scenario.pipeline
        self.config = config or SimConfig()
        if self.config.lidar is not None:
            raise ValueError("lidar: the warehouse pipeline runs on exact shelf positions")
        world_spec = instance.world
        self.robot = shared_robot(world_spec)
        control_substeps(world_spec, self.config.physics_dt)
        self.max_steps = self.config.max_steps or world_spec.max_steps
        self.names = list(robot_names(instance.num_robots))
        self.world, perception = build_world(
            world_spec,
            gui=self.config.gui,
            physics_dt=self.config.physics_dt,
            perception_seed=self.config.perception_seed,
            world_config=self.config.world,
        )
        self.tuner = TunerStage(
            make_tuner(self.pipeline.resolved_tuner()),
            instance.num_robots,
            world_spec.sensing_radius,
            world_spec.obstacles,
        )
        self.filter = PerceivedFilter(scenario_filter(world_spec), perception)
        self._make_way_reach = make_way_reach(
            world_spec.safety_distance, world_spec.sensing_radius
        )
        flow_policy = self.pipeline.flow_policy()
        self.flow = (
            None
            if flow_policy is None
            else FlowController(
                flow_policy,
                world_spec.obstacles,
                world_spec.sensing_radius,
                self.robot.max_speed,
                seed=instance.seed,
            )
        )
        self.planner = WaypointPlanner(
            instance.layout.grid, instance.layout.frame, self.pipeline.planner, seed=instance.seed
        )
        self.dispatcher = TaskDispatcher(
            make_allocator(self.pipeline.allocator),
            self.names,
            instance.homes,
            instance.tasks,
            speed=self.robot.max_speed,
            tolerance=world_spec.goal_tolerance,
            frame=instance.layout.frame,
        )
        self.tracker = WarehouseTracker(
            instance.num_robots, world_spec.dt, scenario.deadlock_time, self.config.deadlock_speed
        )
        self.steps = 0
        self.wall_seconds = 0.0
        self._next_allocation = 0.0
        self._poses = self.world.poses()
        self._velocities, self._yaw_rates = self.world.velocities()
        perception.record(self.world.time, self._poses, self._velocities)
        self._perception = perception

    @property
    def running(self) -> bool:
        return self.steps < self.max_steps

    def _parked(self, positions: np.ndarray, waypoints: np.ndarray) -> np.ndarray:
        """(N,) idle robots at home that the planner leaves there: they stay still."""
        tolerance = self.instance.world.goal_tolerance
        at_home = np.linalg.norm(positions - self.instance.homes, axis=1) <= tolerance
        stays = np.linalg.norm(waypoints - self.instance.homes, axis=1) <= tolerance
        return (self.dispatcher.leg == Leg.IDLE) & at_home & stays

    def step(self) -> Tick:
        """Runs one control tick; returns what happened (goals are the robots' waypoints)."""
        if not self.running:
            raise RuntimeError("step: the run has ended")
        start = time.perf_counter()
        now = self.world.time
        positions = self._poses[:, :2]
        self.tracker.deliveries(self.dispatcher.update(now, positions))
        if now + 1e-9 >= self._next_allocation:
            self.dispatcher.allocate(now, positions)
            self._next_allocation = now + self.pipeline.allocation_period
        goals = self.dispatcher.goals()
        waypoints = self.planner.next_waypoints(self.names, positions, goals)
        parked = self._parked(positions, waypoints)
        position_tensor = torch.tensor(positions).unsqueeze(0)
        waypoint_tensor = torch.tensor(waypoints).unsqueeze(0)
        params = self.tuner(
            position_tensor,
            self._velocities,
            self._poses[:, 2],
            waypoint_tensor,
            torch.tensor(parked).unsqueeze(0),
        )
        if self.flow is not None:
            velocity = self.flow(position_tensor, self._velocities, waypoint_tensor)
            velocity = velocity.masked_fill(torch.tensor(parked).view(1, -1, 1), 0.0)
        else:
            velocity = nominal_with_parking(
                position_tensor,
                waypoint_tensor,
                torch.tensor(parked).unsqueeze(0),
                {name: torch.tensor(params[name]).unsqueeze(0) for name in NOMINAL_PARAMETERS},
                self.robot.max_speed,
                self._make_way_reach,
            )
        headings = torch.tensor(self._poses[:, 2]).unsqueeze(0)
        nominal = velocity_to_unicycle(velocity, headings, self.robot.projection_distance)[0]
        # Within the robot's limits already, so that filter interventions measure safety only.
        limits = np.array([self.robot.max_speed, self.robot.max_turn_rate])
        nominal = np.clip(nominal.numpy(), -limits, limits)
        filtered = self.filter(
            self._poses,
            nominal,
            params["alpha"],
            self.instance.world.obstacles,
            params["responsibility"],
            velocities=self._velocities,
        )
        self.world.command(filtered.commands)
        self.world.advance(self.instance.world.dt)
        self._poses = self.world.poses()
        self._velocities, self._yaw_rates = self.world.velocities()
        self._perception.record(self.world.time, self._poses, self._velocities)
        intervened = filtered.status != SafetyMode.NOMINAL
        busy = self.dispatcher.leg != Leg.IDLE
        min_distance = self.tracker.tick(self._poses[:, :2], self._velocities, busy, intervened)
        self.steps += 1
        self.wall_seconds += time.perf_counter() - start
        if self.config.real_time:
            time.sleep(max(0.0, self.instance.world.dt - (time.perf_counter() - start)))
        return make_tick(
            self.world.time,
            self._poses,
            self._velocities,
            self._yaw_rates,
            nominal,
            filtered,
            params,
            min_distance,
        )

    def run(self, on_tick: Callable[[Tick], None] | None = None, progress: bool = False) -> None:
        """Steps to the horizon (or the step limit); ``on_tick`` sees every tick."""

        def postfix() -> dict:
            return {"delivered": len(self.dispatcher.deliveries)}

        run_ticks(self, on_tick, progress, self.instance.scenario.name, postfix)

    def metrics(self) -> WarehouseMetrics:
        """The episode's summary so far."""
        return self.tracker.summary(
            scenario=self.instance.scenario.name,
            pipeline=self.pipeline,
            seed=self.instance.seed,
            simulated_time=self.world.time,
            released=self.dispatcher.released(self.world.time),
            contacts=self.world.contacts,
            wall_seconds=self.wall_seconds,
        )

    def close(self) -> None:
        self.world.close()

    def __enter__(self) -> WarehouseRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
