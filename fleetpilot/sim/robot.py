"""The simulated differential-drive robot: geometry and limits shared by the URDF and control."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

URDF_PATH = Path(__file__).resolve().parents[2] / "sim" / "urdf" / "diff_drive.urdf"


@dataclass(frozen=True)
class DiffDriveSpec:
    """Geometry and limits of the robot in ``sim/urdf/diff_drive.urdf`` (a test checks they agree).

    Attributes:
        body_radius: radius of the body disc [m].
        wheel_radius: radius of the driven wheels [m].
        track_width: distance between the two driven wheels [m].
        axle_height: height of the wheel axle (the base frame) above the ground [m].
        max_speed: largest forward or backward speed [m/s].
        max_turn_rate: largest yaw rate [rad/s].
        wheel_torque: motor torque limit per wheel [N m].
    """

    body_radius: float = 0.20
    wheel_radius: float = 0.05
    track_width: float = 0.30
    axle_height: float = 0.05
    max_speed: float = 1.0
    max_turn_rate: float = 3.0
    wheel_torque: float = 4.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: expected a positive finite number, got {value!r}")

    def wheel_speeds(self, commands: np.ndarray) -> np.ndarray:
        """Unicycle commands (N, 2) [v m/s, omega rad/s] -> wheel rates (N, 2) [left, right] rad/s.

        Commands are clipped to the speed and turn-rate limits first.
        """
        v = np.clip(commands[:, 0], -self.max_speed, self.max_speed)
        omega = np.clip(commands[:, 1], -self.max_turn_rate, self.max_turn_rate)
        half_track = 0.5 * self.track_width
        return (
            np.stack([v - omega * half_track, v + omega * half_track], axis=1) / self.wheel_radius
        )
