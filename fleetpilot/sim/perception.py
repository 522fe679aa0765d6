"""Simulated neighbour perception: what each robot would receive on its ``neighbors`` topic.

Built from the simulator's true state, degraded the way real perception is: Gaussian noise on
positions and velocities, independent dropout of each detection, and a fixed latency (the
robot sees the world as it was ``latency`` seconds ago, stamped with that time).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from fleetpilot.agent_states import AgentStates


@dataclass(frozen=True)
class PerceptionConfig:
    """Degradations of simulated perception.

    Attributes:
        sensing_radius: neighbours farther than this (centre to centre) are not seen [m].
        position_noise: standard deviation of Gaussian noise on each position axis [m].
        velocity_noise: standard deviation of Gaussian noise on each velocity axis [m/s].
        dropout: probability that one detection of one neighbour is missed, in [0, 1).
        latency: age of the state a robot perceives [s], >= 0.
    """

    sensing_radius: float = 3.0
    position_noise: float = 0.0
    velocity_noise: float = 0.0
    dropout: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        if not self.sensing_radius > 0:
            raise ValueError(f"sensing_radius: expected > 0 m, got {self.sensing_radius!r}")
        for name in ("position_noise", "velocity_noise", "latency"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout!r}")


class NeighbourPerception:
    """Per-robot neighbour lists from true states, with noise, dropout and latency.

    Args:
        config: the degradations.
        ids: (N,) robot names.
        radii: (N,) body radii [m].
        seed: seeds the noise and dropout stream (runs are repeatable).
    """

    def __init__(self, config: PerceptionConfig, ids, radii: np.ndarray, seed: int = 0) -> None:
        self.config = config
        self.ids = tuple(ids)
        self.radii = np.asarray(radii, dtype=float)
        self._rng = np.random.default_rng(seed)
        self._history: deque[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = deque()

    def record(self, time: float, poses: np.ndarray, velocities: np.ndarray) -> None:
        """Stores the true state at ``time``: poses (N, 3), world velocities (N, 2)."""
        self._history.append((time, poses[:, :2].copy(), poses[:, 2].copy(), velocities.copy()))
        # Keep only what the latency can still ask for (plus the newest older snapshot).
        while len(self._history) > 1 and self._history[1][0] <= time - self.config.latency:
            self._history.popleft()

    def observe(self, robot: int, own_position: np.ndarray) -> AgentStates:
        """What ``robot`` perceives of its neighbours (itself excluded), in the world frame.

        Neighbours are selected by their delayed true position relative to the robot's current
        ``own_position`` (2,) [m]; the states carry the delayed measurement time as stamp.
        """
        if not self._history:
            return AgentStates.empty()
        stamp, positions, headings, velocities = self._history[0]
        distances = np.linalg.norm(positions - own_position, axis=1)
        visible = distances <= self.config.sensing_radius
        visible[robot] = False
        if self.config.dropout > 0:
            visible &= self._rng.random(len(visible)) >= self.config.dropout
        index = np.flatnonzero(visible)
        noisy_positions = positions[index] + self._rng.normal(
            0.0, self.config.position_noise, (len(index), 2)
        )
        noisy_velocities = velocities[index] + self._rng.normal(
            0.0, self.config.velocity_noise, (len(index), 2)
        )
        return AgentStates(
            ids=tuple(self.ids[i] for i in index),
            positions=noisy_positions,
            headings=headings[index],
            velocities=noisy_velocities,
            radii=self.radii[index],
            stamps=np.full(len(index), stamp),
        )

    def observe_all(self, positions: np.ndarray) -> list[AgentStates]:
        """Every robot's neighbour list; ``positions`` (N, 2) are the robots' current positions."""
        return [self.observe(i, positions[i]) for i in range(len(positions))]
