"""The learned nominal controller stage of the warehouse pipeline (``controller: flow[:DIR]``).

A flow policy from ``fleetpilot.flow.nav_policy`` replaces go-to-goal: each robot's observation
(:func:`~fleetpilot.envs.nav_observation.nav_observation`) has its current waypoint as the goal,
its neighbours, and the nearest shelf cylinders (the same discs the CBF filter avoids). The
action, a planar world-frame velocity in units of the robot's max speed, is clipped to the
speed limit and then goes through the unicycle conversion and the CBF filter like go-to-goal's.
"""

from __future__ import annotations

import numpy as np
import torch

from fleetpilot.envs.nav_observation import nav_observation
from fleetpilot.envs.nominal import clip_norm
from fleetpilot.sim.tuner_stage import obstacle_tensors


class FlowController:
    """``velocity = controller(positions, velocities, waypoints)``: (1, N, 2) float64 [m/s].

    Args:
        directory: the saved nav policy (``fleetpilot.flow.nav_policy.load_nav_policy``).
        obstacles: (M, 3) static discs [x, y, r] (the shelves), possibly none.
        sensing_radius: neighbours and shelves beyond it are not observed [m].
        max_speed: the robot's speed limit [m/s].
        seed: seeds the policy's sampling noise, so that episodes are reproducible.
    """

    def __init__(
        self,
        directory: str,
        obstacles: np.ndarray,
        sensing_radius: float,
        max_speed: float,
        seed: int,
    ) -> None:
        from fleetpilot.flow.nav_policy import load_nav_policy

        try:
            self.policy, self.obs_config = load_nav_policy(directory)
        except (FileNotFoundError, ValueError) as error:
            raise type(error)(f"controller: {error}") from error
        self.policy.eval()
        self.policy.reset()
        self.obstacles, self.obstacle_mask = obstacle_tensors(np.asarray(obstacles, float))
        self.sensing_radius = sensing_radius
        self.max_speed = max_speed
        self.generator = torch.Generator().manual_seed(seed)
        self.stopped_by_bad_action = 0
        """Robot-ticks on which the policy's action was not finite and the robot was stopped."""

    def __call__(
        self, positions: torch.Tensor, velocities: np.ndarray, waypoints: torch.Tensor
    ) -> torch.Tensor:
        """Velocities toward the waypoints.

        Args:
            positions: (1, N, 2) float64 [m].
            velocities: (N, 2) world-frame velocities [m/s].
            waypoints: (1, N, 2) float64, each robot's next waypoint [m].
        """
        obs = nav_observation(
            positions,
            torch.as_tensor(velocities, dtype=positions.dtype).unsqueeze(0),
            waypoints,
            self.obstacles,
            self.obstacle_mask,
            self.sensing_radius,
            self.max_speed,
            self.obs_config,
        )
        with torch.inference_mode():
            action = self.policy.predict_action_chunk(obs[0], self.generator)[:, 0]
        # A non-finite action (a broken policy) stops that robot: the filter would refuse it.
        broken = ~torch.isfinite(action).all(dim=-1)
        self.stopped_by_bad_action += int(broken.sum())
        action = action.masked_fill(broken.unsqueeze(-1), 0.0)
        velocity = action.to(positions.dtype).unsqueeze(0) * self.max_speed
        return clip_norm(velocity, self.max_speed)
