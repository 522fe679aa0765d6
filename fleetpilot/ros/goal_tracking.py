"""Nominal command for a differential-drive robot following a goal or a list of waypoints.

ROS-free; the ``goal_follower`` node feeds it. The go-to-goal law is the one the navigation
environment trains with (:func:`fleetpilot.envs.nominal.go_to_goal`):
``u = clip(k (target - p), max_speed)`` with an optional sideways bias ``b * rot90(u)``, turned
into [v, omega] through the point ``l`` ahead of the axle (``v = c.u``, ``omega = s.u / l``).
Waypoints are taken in order; each counts as passed within ``waypoint_tolerance``, and the last
one (the goal) within ``goal_tolerance``, after which the command is zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GoalTrackingConfig:
    """Settings of the nominal controller.

    Attributes:
        gain: proportional gain k [1/s].
        tangential: sideways bias b in [-1, 1] (positive turns left of the goal direction).
        max_speed: speed limit [m/s].
        max_turn_rate: yaw-rate limit [rad/s].
        projection_distance: l, distance ahead of the axle of the steered point [m].
        goal_tolerance: the goal is reached within this distance [m].
        waypoint_tolerance: an intermediate waypoint is passed within this distance [m].
    """

    gain: float = 1.0
    tangential: float = 0.0
    max_speed: float = 1.0
    max_turn_rate: float = 3.0
    projection_distance: float = 0.1
    goal_tolerance: float = 0.1
    waypoint_tolerance: float = 0.3

    def __post_init__(self) -> None:
        for name in (
            "gain",
            "max_speed",
            "max_turn_rate",
            "projection_distance",
            "goal_tolerance",
            "waypoint_tolerance",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
        if not (math.isfinite(self.tangential) and -1.0 <= self.tangential <= 1.0):
            raise ValueError(f"tangential: expected a value in [-1, 1], got {self.tangential!r}")


def check_waypoints(waypoints) -> np.ndarray:
    """(K, 2) finite waypoints [m] or ValueError naming the first bad one."""
    points = np.asarray(waypoints, dtype=float).reshape(-1, 2)
    bad = np.flatnonzero(~np.all(np.isfinite(points), axis=1))
    if len(bad):
        raise ValueError(f"waypoints[{bad[0]}]: expected finite x, y, got {points[bad[0]]}")
    return points


class GoalTracker:
    """Follows the current waypoint list.

    Args:
        config: controller settings.
    """

    def __init__(self, config: GoalTrackingConfig) -> None:
        self.config = config
        self._waypoints = np.zeros((0, 2))

    @property
    def waypoints(self) -> np.ndarray:
        """(K, 2) waypoints not yet passed; the last is the goal."""
        return self._waypoints

    def set_waypoints(self, waypoints) -> None:
        """Replaces the plan by (K, 2) waypoints [m], world frame (K = 0 clears it)."""
        self._waypoints = check_waypoints(waypoints)

    def arrived(self, position: np.ndarray) -> bool:
        """True when no goal is set or the goal is within ``goal_tolerance``."""
        if not len(self._waypoints):
            return True
        return bool(np.hypot(*(self._waypoints[-1] - position)) <= self.config.goal_tolerance)

    def command(self, pose: np.ndarray, config: GoalTrackingConfig | None = None) -> np.ndarray:
        """(2,) [v m/s, omega rad/s] from pose (3,) [x m, y m, yaw rad]; zero once arrived.

        ``config`` replaces the tracker's settings for this command (e.g. the gain and sideways
        bias an online tuner chose); None keeps them.
        """
        position = pose[:2]
        while (
            len(self._waypoints) > 1
            and np.hypot(*(self._waypoints[0] - position)) <= self.config.waypoint_tolerance
        ):
            self._waypoints = self._waypoints[1:]
        if self.arrived(position):
            return np.zeros(2)
        config = config or self.config
        velocity = _clip_norm(config.gain * (self._waypoints[0] - position), config.max_speed)
        if config.tangential:
            left = np.array([-velocity[1], velocity[0]])
            velocity = _clip_norm(velocity + config.tangential * left, config.max_speed)
        cos_yaw, sin_yaw = math.cos(pose[2]), math.sin(pose[2])
        forward = cos_yaw * velocity[0] + sin_yaw * velocity[1]
        sideways = -sin_yaw * velocity[0] + cos_yaw * velocity[1]
        return np.array(
            [
                np.clip(forward, -config.max_speed, config.max_speed),
                np.clip(
                    sideways / config.projection_distance,
                    -config.max_turn_rate,
                    config.max_turn_rate,
                ),
            ]
        )


def _clip_norm(vector: np.ndarray, max_norm: float) -> np.ndarray:
    norm = float(np.hypot(*vector))
    return vector if norm <= max_norm else vector * (max_norm / norm)
