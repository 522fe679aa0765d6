"""Neighbour tracks from perception that may lack ids, velocities or whole detections (ROS-free).

The ``neighbors`` input may come from a tracker with ids, or only as positions. The tracker

* associates detections with tracks by id when ids are given, otherwise by a gated minimum-cost
  assignment on distance (Hungarian, ``association_radius``);
* uses reported velocities when present, otherwise estimates them by smoothed finite
  differences between detections;
* keeps a track that was not detected this time for ``hold_time`` seconds at its last seen
  position, with its radius grown by ``max_speed x age``: the disc the neighbour can have
  reached since it was last seen. A dropout therefore never makes the filter less careful
  than the last known state implies; it only makes it more careful. After ``hold_time`` the
  track is dropped (the node's input watchdog stops the robot when the whole neighbour stream
  goes stale).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from fleetpilot.agent_states import as_float_array


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking settings.

    Attributes:
        max_speed: the fastest a neighbour can move [m/s]; grows unseen tracks.
        hold_time: how long an undetected track is kept [s].
        association_radius: largest jump [m] between detections of one id-less track.
        velocity_smoothing: weight of the newest finite-difference velocity, in (0, 1].
    """

    max_speed: float = 1.0
    hold_time: float = 0.5
    association_radius: float = 0.5
    velocity_smoothing: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_speed", "hold_time", "association_radius"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if not 0 < self.velocity_smoothing <= 1:
            raise ValueError(
                f"velocity_smoothing: expected a value in (0, 1], got {self.velocity_smoothing!r}"
            )


@dataclass
class _Track:
    key: str
    position: np.ndarray
    velocity: np.ndarray
    radius: float
    seen: float
    has_velocity_estimate: bool = False


@dataclass(frozen=True)
class Neighbours:
    """Tracked neighbours at one time: (K, 2) positions [m], (K, 2) velocities [m/s],
    (K,) radii [m] (grown for undetected tracks), (K,) ages [s] since last detection, ids."""

    ids: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    radii: np.ndarray
    ages: np.ndarray


@dataclass
class NeighbourTracker:
    """Keeps neighbour tracks across perception updates; see the module docstring."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    _tracks: dict[str, _Track] = field(default_factory=dict)
    _next_anonymous: int = 0
    _last_time: float = -np.inf

    def update(self, time: float, positions, radii, ids=None, velocities=None) -> None:
        """Feeds one perception message taken at ``time`` [s].

        Args:
            positions: (K, 2) detected centres [m]; radii: (K,) body radii [m], > 0.
            ids: K unique non-empty names, or None (associate by distance).
            velocities: (K, 2) [m/s], or None (estimate).
        """
        if not np.isfinite(time):
            raise ValueError(f"time: expected a finite number, got {time!r}")
        if time < self._last_time:
            raise ValueError(f"time: went backwards from {self._last_time!r} to {time!r}")
        positions = as_float_array("positions", positions, (None, 2))
        count = len(positions)
        radii = as_float_array("radii", radii, (count,))
        if np.any(radii <= 0):
            raise ValueError(f"radii: expected positive radii, got {radii.tolist()}")
        if velocities is not None:
            velocities = as_float_array("velocities", velocities, (count, 2))
        keys = self._keys(positions, ids, count)
        self._last_time = time
        for index, key in enumerate(keys):
            track = self._tracks.get(key)
            measured = None if velocities is None else velocities[index]
            if track is None:
                velocity = np.zeros(2) if measured is None else measured
                self._tracks[key] = _Track(
                    key,
                    positions[index],
                    velocity,
                    float(radii[index]),
                    time,
                    measured is not None,
                )
                continue
            if measured is not None:
                track.velocity, track.has_velocity_estimate = measured, True
            elif time > track.seen:
                estimate = (positions[index] - track.position) / (time - track.seen)
                weight = self.config.velocity_smoothing if track.has_velocity_estimate else 1.0
                track.velocity = weight * estimate + (1 - weight) * track.velocity
                track.has_velocity_estimate = True
            track.position, track.radius, track.seen = positions[index], float(radii[index]), time
        for key in [k for k, t in self._tracks.items() if time - t.seen > self.config.hold_time]:
            del self._tracks[key]

    def _keys(self, positions: np.ndarray, ids, count: int) -> list[str]:
        if ids is not None:
            ids = [str(i) for i in ids]
            if len(ids) != count:
                raise ValueError(f"ids: expected {count} ids, got {len(ids)}")
            if len(set(ids)) != count or not all(ids):
                raise ValueError(f"ids: expected unique non-empty ids, got {ids}")
            return ids
        # Id-less: match detections to current id-less tracks by distance, gated.
        anonymous = [t for t in self._tracks.values() if t.key.startswith("#")]
        keys: list[str | None] = [None] * count
        if anonymous and count:
            cost = np.linalg.norm(
                positions[:, None, :] - np.array([t.position for t in anonymous])[None], axis=-1
            )
            rows, cols = linear_sum_assignment(cost)
            for row, col in zip(rows, cols, strict=True):
                if cost[row, col] <= self.config.association_radius:
                    keys[row] = anonymous[col].key
        for index in range(count):
            if keys[index] is None:
                keys[index] = f"#{self._next_anonymous}"
                self._next_anonymous += 1
        return keys

    def neighbours(self, time: float) -> Neighbours:
        """The tracks at ``time`` [s], undetected ones grown by their reachable distance."""
        tracks = list(self._tracks.values())
        ages = np.array([max(time - t.seen, 0.0) for t in tracks])
        return Neighbours(
            ids=tuple(t.key for t in tracks),
            positions=np.array([t.position for t in tracks]).reshape(-1, 2),
            velocities=np.array([t.velocity for t in tracks]).reshape(-1, 2),
            radii=np.array([t.radius for t in tracks]) + self.config.max_speed * ages,
            ages=ages,
        )
