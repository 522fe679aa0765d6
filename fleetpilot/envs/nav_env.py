"""The batched multi-agent navigation environment the online CBF tuner learns in.

B environments of N agents are stepped in one call. Each tick, per agent:

1. the tuner's action gives the CBF and controller parameters (alpha, gain, ...);
2. the go-to-goal controller proposes a velocity (zero once the agent has arrived: arrived
   agents park and stay in the world as obstacles to the others);
3. the batched CBF safety filter from :mod:`fleetpilot.safety` makes it safe;
4. the motion model integrates the filtered command over dt;
5. metrics, rewards and the next neighbour-graph observation are computed.

The API follows gymnasium (``reset(seed) -> (obs, info)``, ``step(action) -> (obs, reward,
terminated, truncated, info)``) with batched tensors: observations are one torch-geometric
``Batch`` (see :mod:`fleetpilot.envs.graph`), actions are (B, N, P) tensors whose last axis
follows ``config.action_parameters``, rewards are (B, N) and the done flags (B,).
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from torch_geometric.data import Batch

from fleetpilot.envs.actions import ActionLayout
from fleetpilot.envs.config import NavEnvConfig
from fleetpilot.envs.dynamics import MOTION_MODELS
from fleetpilot.envs.graph import Geometry, NeighbourGraphBuilder, compute_geometry
from fleetpilot.envs.metrics import EpisodeMetrics, MetricsConfig, MetricsTracker
from fleetpilot.envs.nominal import clip_norm, make_way_reach, nominal_with_parking
from fleetpilot.scenarios import RobotSpec, ScenarioInstance

PADDING_OBSTACLE = (1.0e4, 1.0e4, 1.0e-3)
"""[x, y, r] of the rows that pad environments with fewer obstacles: far away and tiny."""


def single_robot_model(instance: ScenarioInstance) -> RobotSpec:
    """The one motion model and limits every agent shares (radii may differ).

    Raises:
        ValueError: naming the first agent whose dynamics or limits differ from agent 0's.
    """
    first = instance.robots[0]
    for index, robot in enumerate(instance.robots):
        for name in ("dynamics", "max_speed", "max_turn_rate", "projection_distance"):
            if getattr(robot, name) != getattr(first, name):
                raise ValueError(
                    f"agents[{index}].{name}: NavEnv runs one robot model per scenario, expected "
                    f"{getattr(first, name)!r} like agents[0], got {getattr(robot, name)!r}"
                )
    return first


class NavEnv:
    """B x N agents navigating to their goals through the CBF safety filter.

    Args:
        config: the validated configuration.

    Attributes:
        num_envs: B.
        num_agents: N.
        dt: control period [s].
        max_steps: ticks per episode.
        action_layout: names of the action's last axis.
        action_space: gymnasium Box of shape (B, N, P) with each parameter's bounds.
    """

    def __init__(self, config: NavEnvConfig) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.dtype = getattr(torch, config.dtype)
        self.action_layout = ActionLayout(config.action_parameters)
        probe = config.scenario.sample(num_agents=config.num_agents)
        self.robot = single_robot_model(probe)
        self.num_envs, self.num_agents = config.num_envs, probe.num_agents
        self.dt = probe.dt
        self.sensing_radius = probe.sensing_radius
        self.safety_distance = probe.safety_distance
        self.max_steps = config.max_steps or probe.max_steps
        self.model = MOTION_MODELS[self.robot.dynamics](
            self.robot, probe.safety_distance, probe.sensing_radius, probe.dt
        )
        self.metrics = MetricsTracker(
            MetricsConfig(
                dt=probe.dt,
                goal_tolerance=probe.goal_tolerance,
                deadlock_speed=config.deadlock_speed,
                deadlock_time=config.deadlock_time,
            ),
            self.num_envs,
            self.num_agents,
            self.device,
        )
        low, high = self.action_layout.bounds()
        shape = (self.num_envs, self.num_agents, self.action_layout.size)
        self.action_space = gymnasium.spaces.Box(
            low=np.broadcast_to(np.asarray(low, dtype=np.float32), shape),
            high=np.broadcast_to(np.asarray(high, dtype=np.float32), shape),
            dtype=np.float32,
        )

        B, N = self.num_envs, self.num_agents
        tensor = dict(dtype=self.dtype, device=self.device)
        self._positions = torch.zeros((B, N, 2), **tensor)
        self._headings = torch.zeros((B, N), **tensor)
        self._velocities = torch.zeros((B, N, 2), **tensor)
        self._goals = torch.zeros((B, N, 2), **tensor)
        self._radii = torch.zeros((B, N), **tensor)
        self._obstacles = torch.tensor([PADDING_OBSTACLE], **tensor).expand(B, 1, 3).clone()
        self._obstacle_mask = torch.zeros((B, 1), dtype=torch.bool, device=self.device)
        self._goal_distance = torch.zeros((B, N), **tensor)
        self._running = torch.zeros(B, dtype=torch.bool, device=self.device)
        self._base_seed = config.seed
        self._layout_ids = list(range(B))
        self._episode_counts = [0] * B
        self._layout_seeds: list[tuple[int, int, int]] = [(0, 0, 0)] * B
        self._geometry: Geometry | None = None
        self._graph = NeighbourGraphBuilder(
            B, N, self.sensing_radius, self.device, config.obstacle_rays, config.obstacle_ray_range
        )

    # Read-only views of the state -------------------------------------------------------------
    @property
    def positions(self) -> torch.Tensor:
        """(B, N, 2) agent (axle) centres [m], world frame."""
        return self._positions

    @property
    def headings(self) -> torch.Tensor:
        """(B, N) yaw [rad] (single integrators: direction of the last motion)."""
        return self._headings

    @property
    def velocities(self) -> torch.Tensor:
        """(B, N, 2) displacement over the last tick / dt [m/s]."""
        return self._velocities

    @property
    def goals(self) -> torch.Tensor:
        """(B, N, 2) [m]."""
        return self._goals

    @property
    def obstacles(self) -> torch.Tensor:
        """(B, M, 3) [x, y, r] [m], including padding rows (see ``obstacle_mask``)."""
        return self._obstacles

    @property
    def obstacle_mask(self) -> torch.Tensor:
        """(B, M) bool, False for padding rows."""
        return self._obstacle_mask

    @property
    def arrived(self) -> torch.Tensor:
        """(B, N) bool, latched arrival."""
        return self.metrics.arrived

    @property
    def running(self) -> torch.Tensor:
        """(B,) bool: environments whose episode has not ended (always all with autoreset)."""
        return self._running

    @property
    def layout_seeds(self) -> list[tuple[int, int, int]]:
        """Per environment, the seed its current layout was sampled with."""
        return list(self._layout_seeds)

    # Gymnasium API ----------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[Batch, dict]:
        """Starts a new episode in every environment.

        Environment b samples its layout with the seed ``(seed, layout_ids[b], k)``, k counting
        that environment's episodes since the last seeded reset, so a seed repeats a run exactly
        and independently of B.

        Args:
            seed: base seed; None continues the current one (new layouts each reset).
            options: ``{"layout_ids": [B ints]}`` to choose which layouts the environments get
                (the same id gives the same layout sequence); default ``range(B)``.

        Returns:
            The observation and ``{"layout_seeds": [...]}``.
        """
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
            self._base_seed = seed
            self._episode_counts = [0] * self.num_envs
        layout_ids = (options or {}).get("layout_ids")
        if layout_ids is not None:
            layout_ids = [int(i) for i in layout_ids]
            if len(layout_ids) != self.num_envs or min(layout_ids) < 0:
                raise ValueError(
                    f"options.layout_ids: expected {self.num_envs} integers >= 0, got {layout_ids}"
                )
            self._layout_ids = layout_ids
            self._episode_counts = [0] * self.num_envs
        self._reset_envs(list(range(self.num_envs)))
        return self._observe(), {"layout_seeds": self.layout_seeds}

    def step(
        self,
        action: torch.Tensor,
        responsibility: torch.Tensor | None = None,
        nominal_velocity: torch.Tensor | None = None,
    ) -> tuple[Batch, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Advances every running environment by one tick.

        Args:
            action: (B, N, P) float, per-agent parameters in the order of
                ``config.action_parameters``; clipped to their bounds.
            responsibility: optional (B, N, N) float, rho_ij in [1/2, 1] = agent i's share of
                the pair (i, j)'s barrier condition (None: 1/2 each); the filter rejects
                values outside [1/2, 1].
            nominal_velocity: optional (B, N, 2) float planar velocity [m/s], world frame,
                replacing the go-to-goal nominal (a learned nominal controller); clipped to
                the robot's max speed and still passed through the CBF filter.

        Returns:
            obs: the neighbour-graph Batch after the tick (after the reset of finished
                environments when ``autoreset``).
            reward: (B, N) float, per agent: ``progress * metres gained toward the goal
                + arrival * [arrived this tick] - collision * contact starts
                - time * dt * [not arrived]`` (0 for frozen environments).
            terminated: (B,) bool, every agent arrived on this tick's episode end.
            truncated: (B,) bool, the episode hit max_steps without success.
            info: ``safety_status`` (B, N) SafetyMode codes, ``arrived`` (B, N),
                ``contacts`` (B, N) contact starts, ``final_metrics`` {env index:
                EpisodeMetrics} of episodes that ended on this tick, and with autoreset
                ``final_observation`` (the Batch before the reset) when any did.
        """
        if not isinstance(action, torch.Tensor):
            action = torch.as_tensor(action)
        params = self.action_layout.unpack(action.to(device=self.device, dtype=self.dtype))
        running = self._running.clone()
        if not running.any():
            raise RuntimeError("step: every episode has ended; call reset()")
        previous = self._positions
        was_arrived = self.metrics.arrived.clone()

        if nominal_velocity is None:
            velocity = nominal_with_parking(
                previous,
                self._goals,
                was_arrived,
                params,
                self.robot.max_speed,
                make_way_reach(self.safety_distance, self.sensing_radius),
            )
        else:
            velocity = clip_norm(
                nominal_velocity.to(device=self.device, dtype=self.dtype), self.robot.max_speed
            )
            velocity = velocity.masked_fill(was_arrived.unsqueeze(-1), 0.0)
        command = self.model.command_from_velocity(velocity, self._headings)
        active = running.unsqueeze(-1).expand(-1, self.num_agents)
        obstacles = self._obstacles if bool(self._obstacle_mask.any()) else None
        if responsibility is not None:
            responsibility = responsibility.to(device=self.device, dtype=self.dtype)
        safe, status = self.model.safe_command(
            previous, self._headings, command, params["alpha"], obstacles, active, responsibility
        )
        positions, headings = self.model.integrate(previous, self._headings, safe)
        frozen = ~running
        positions = torch.where(frozen[:, None, None], previous, positions)
        headings = torch.where(frozen[:, None], self._headings, headings)
        self._velocities = (positions - previous) / self.dt
        self._positions, self._headings = positions, headings

        geometry = compute_geometry(positions, self._obstacles, self._obstacle_mask)
        self._geometry = geometry
        newly_arrived, contacts = self.metrics.update(
            previous,
            positions,
            self._goals,
            self._radii,
            geometry.distances,
            geometry.obstacle_gaps,
            status,
            running,
        )
        goal_distance = torch.linalg.vector_norm(self._goals - positions, dim=-1)
        weights = self.config.reward
        progress = torch.where(was_arrived, 0.0, self._goal_distance - goal_distance)
        reward = (
            weights.progress * progress
            + weights.arrival * newly_arrived.to(self.dtype)
            - weights.collision * contacts.to(self.dtype)
            - weights.time * self.dt * (~self.metrics.arrived).to(self.dtype)
        ) * running.unsqueeze(-1).to(self.dtype)
        self._goal_distance = goal_distance

        terminated = running & self.metrics.arrived.all(dim=1)
        truncated = running & ~terminated & (self.metrics.steps >= self.max_steps)
        finished = (terminated | truncated).nonzero().flatten().tolist()
        info: dict = {
            "safety_status": status,
            "arrived": self.metrics.arrived.clone(),
            "contacts": contacts,
            "final_metrics": {env: self.metrics.episode(env) for env in finished},
        }
        self._running = running & ~(terminated | truncated)
        observation = self._observe()
        if finished and self.config.autoreset:
            info["final_observation"] = observation
            self._reset_envs(finished)
            observation = self._observe()
        return observation, reward, terminated, truncated, info

    def reset_finished(self) -> list[int]:
        """Starts a new episode in every environment whose episode has ended.

        For loops that read the final state of an episode before resetting it (off-policy
        learners need the last next-observation); ``autoreset`` does this inside ``step``.

        Returns:
            The indices of the environments that were reset.
        """
        finished = (~self._running).nonzero().flatten().tolist()
        if finished:
            self._reset_envs(finished)
        return finished

    def episode_metrics(self, env: int) -> EpisodeMetrics:
        """The metrics of environment ``env``'s current episode so far."""
        return self.metrics.episode(env)

    # Internals --------------------------------------------------------------------------------
    def _reset_envs(self, envs: list[int]) -> None:
        instances = []
        for env in envs:
            seed = (self._base_seed, self._layout_ids[env], self._episode_counts[env])
            self._episode_counts[env] += 1
            self._layout_seeds[env] = seed
            instance = self.config.scenario.sample(seed=seed, num_agents=self.num_agents)
            single_robot_model(instance)
            instances.append(instance)
        index = torch.tensor(envs, dtype=torch.long, device=self.device)
        tensor = dict(dtype=self.dtype, device=self.device)
        starts = torch.tensor(np.stack([i.starts for i in instances]), **tensor)
        goals = torch.tensor(np.stack([i.goals for i in instances]), **tensor)
        self._positions[index] = starts
        self._goals[index] = goals
        self._headings[index] = torch.tensor(
            np.stack([i.start_headings for i in instances]), **tensor
        )
        self._radii[index] = torch.tensor(np.stack([i.radii for i in instances]), **tensor)
        self._velocities[index] = 0.0
        self._goal_distance[index] = torch.linalg.vector_norm(goals - starts, dim=-1)
        self._set_obstacles(index, [i.obstacles for i in instances])
        self._running[index] = True
        self.metrics.reset(index, starts, goals)
        self._geometry = None

    def _set_obstacles(self, index: torch.Tensor, obstacle_lists: list[np.ndarray]) -> None:
        count = max([len(o) for o in obstacle_lists] + [1])
        if count > self._obstacles.shape[1]:  # grow every environment's padding
            extra = count - self._obstacles.shape[1]
            pad = torch.tensor([PADDING_OBSTACLE], dtype=self.dtype, device=self.device)
            self._obstacles = torch.cat(
                [self._obstacles, pad.expand(self.num_envs, extra, 3)], dim=1
            )
            self._obstacle_mask = torch.cat(
                [self._obstacle_mask, self._obstacle_mask.new_zeros((self.num_envs, extra))],
                dim=1,
            )
            self.metrics.resize_obstacles(self._obstacles.shape[1])
        width = self._obstacles.shape[1]
        padded = np.tile(np.asarray(PADDING_OBSTACLE), (len(obstacle_lists), width, 1))
        mask = np.zeros((len(obstacle_lists), width), dtype=bool)
        for row, obstacles in enumerate(obstacle_lists):
            padded[row, : len(obstacles)] = obstacles
            mask[row, : len(obstacles)] = True
        self._obstacles[index] = torch.tensor(padded, dtype=self.dtype, device=self.device)
        self._obstacle_mask[index] = torch.tensor(mask, device=self.device)

    def _observe(self) -> Batch:
        if self._geometry is None:
            self._geometry = compute_geometry(
                self._positions, self._obstacles, self._obstacle_mask
            )
        return self._graph(
            self._geometry,
            self._positions,
            self._velocities,
            self._headings,
            self._goals,
            self.metrics.arrived,
        )
