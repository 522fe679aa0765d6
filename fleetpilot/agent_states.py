"""A validated, ROS-free container for the states of several robots.

The same data the ``AgentStateArray`` message carries, as arrays, so the cores (safety filter,
planners, simulator) never see a message and a message never reaches a core unvalidated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def check_finite(name: str, values: np.ndarray) -> None:
    """Raises ValueError naming the first non-finite entry of ``values`` (as ``name[i, j]``)."""
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        index = ", ".join(str(int(i)) for i in bad[0])
        value = float(values[tuple(bad[0])])
        raise ValueError(f"{name}[{index}]: expected a finite number, got {value!r}")


def as_float_array(name: str, values, shape: tuple[int | None, ...]) -> np.ndarray:
    """Converts to a float64 array of the given shape (None = any length), finite everywhere."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, got {values!r}") from error
    if array.ndim != len(shape) or any(
        expected is not None and actual != expected
        for actual, expected in zip(array.shape, shape, strict=True)
    ):
        wanted = str(tuple("N" if s is None else s for s in shape)).replace("'", "")
        raise ValueError(f"{name}: expected shape {wanted}, got {array.shape}")
    check_finite(name, array)
    return array


@dataclass(frozen=True)
class AgentStates:
    """States of N robots in one world frame.

    Attributes:
        ids: (N,) unique robot names.
        positions: (N, 2) float64, axle-centre positions [m], world frame.
        headings: (N,) float64, yaw [rad], counter-clockwise from world +x.
        velocities: (N, 2) float64, linear velocities [m/s], world frame.
        radii: (N,) float64, body radii [m], > 0.
        stamps: (N,) float64, measurement times [s] on the publisher's clock.
    """

    ids: tuple[str, ...]
    positions: np.ndarray
    headings: np.ndarray
    velocities: np.ndarray
    radii: np.ndarray
    stamps: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.ids)
        object.__setattr__(self, "ids", tuple(str(i) for i in self.ids))
        if len(set(self.ids)) != count:
            raise ValueError(f"ids: expected unique robot ids, got {list(self.ids)}")
        for index, robot_id in enumerate(self.ids):
            if not robot_id:
                raise ValueError(f"ids[{index}]: expected a non-empty robot id")
        for name, shape in (
            ("positions", (count, 2)),
            ("headings", (count,)),
            ("velocities", (count, 2)),
        ):
            object.__setattr__(self, name, as_float_array(name, getattr(self, name), shape))
        radii = as_float_array("radii", self.radii, (count,))
        if np.any(radii <= 0):
            index = int(np.argmax(radii <= 0))
            raise ValueError(f"radii[{index}]: expected a positive radius, got {radii[index]!r}")
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "stamps", as_float_array("stamps", self.stamps, (count,)))

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices) -> AgentStates:
        """The robots at ``indices`` (a sequence of ints), in that order."""
        keep = np.asarray(indices, dtype=np.int64).reshape(-1)
        return AgentStates(
            tuple(self.ids[i] for i in keep),
            self.positions[keep],
            self.headings[keep],
            self.velocities[keep],
            self.radii[keep],
            self.stamps[keep],
        )

    @classmethod
    def empty(cls) -> AgentStates:
        return cls((), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros(0), np.zeros(0))
