"""The tuner as one robot's safety node sees it: its own neighbourhood in, CBF parameters out.

Tuner specs are those of :func:`fleetpilot.envs.tuners.make_tuner` (``fixed:alpha=1`` or a
learned tuner's directory), the same specs training and evaluation use. A fixed tuner does not
depend on what the robot sees, so it is parsed here without the learning stack: a node with a
fixed tuner never imports torch_geometric, which would cost every ``cbf_safety`` process
seconds of CPU and ~160 MB at start (see :mod:`fleetpilot.ros.learned_tuning` for the learned
ones, imported only when one is configured).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fleetpilot.agent_states import AgentStates

FIXED_PREFIX = "fixed:"


def robot_noise_seed(robot_id: str) -> int:
    """A stable per-robot seed for a sampling tuner's noise.

    In training every agent draws its own noise; robots whose safety nodes all started from the
    seed in ``tuner.yaml`` would draw the same numbers every tick, and in a symmetric encounter
    (robots swapping places across a circle) identical noise cannot break the symmetry.
    """
    return zlib.crc32(robot_id.encode("utf-8"))


@dataclass(frozen=True)
class TunedParameters:
    """The CBF and nominal-controller parameters for this robot on one tick.

    Attributes:
        alpha: class-K gain [1/s].
        gain: go-to-goal gain [1/s] (reported; the goal follower owns the nominal command).
        tangential: sideways bias of the nominal command [1] (reported likewise).
        responsibility: (N, N) per-pair shares for this robot (row 0) and its neighbours, from
            tuners with per-neighbour outputs; None for uniform shares.
    """

    alpha: float
    gain: float
    tangential: float
    responsibility: np.ndarray | None = None


class ParameterSource(Protocol):
    """What the safety loop asks each tick: this robot's CBF parameters."""

    spec: str

    def parameters(
        self,
        pose: np.ndarray,
        velocity: np.ndarray,
        goal: np.ndarray | None,
        neighbours: AgentStates,
        config,
        obstacles: np.ndarray | None = None,
    ) -> TunedParameters: ...


class FixedTunerAdapter:
    """A ``fixed:name=value,...`` spec: the same parameters every tick.

    Raises:
        ValueError: naming the spec's entry when a name is unknown or repeated, a value is
            not a number, or a value lies outside its bounds.
    """

    def __init__(self, spec: str) -> None:
        from fleetpilot.envs.actions import ACTION_PARAMETERS, ActionLayout

        if not spec.startswith(FIXED_PREFIX):
            raise ValueError(f"tuner: expected {FIXED_PREFIX}name=value,..., got {spec!r}")
        names, pairs = [], {}
        for item in spec[len(FIXED_PREFIX) :].split(","):
            name, separator, text = (part.strip() for part in item.partition("="))
            if not separator or not name:
                raise ValueError(
                    f"fixed tuner: expected name=value pairs separated by commas, got {item!r}"
                )
            names.append(name)
            try:
                pairs[name] = float(text)
            except ValueError:
                raise ValueError(f"fixed tuner: {name}: expected a number, got {text!r}") from None
        try:
            ActionLayout(tuple(names))  # known and unique names
        except ValueError as error:
            raise ValueError(f"fixed tuner: {error}") from None
        for name, value in pairs.items():
            bounds = ACTION_PARAMETERS[name]
            if not (np.isfinite(value) and bounds.low <= value <= bounds.high):
                raise ValueError(
                    f"fixed tuner: {name}: expected a value in [{bounds.low:g}, "
                    f"{bounds.high:g}], got {value!r}"
                )
        values = {name: bounds.default for name, bounds in ACTION_PARAMETERS.items()} | pairs
        self.spec = spec
        self._parameters = TunedParameters(
            float(values["alpha"]), float(values["gain"]), float(values["tangential"])
        )

    def parameters(
        self, pose, velocity, goal, neighbours, config, obstacles=None
    ) -> TunedParameters:
        return self._parameters


def make_tuner_adapter(
    spec: str, device: str = "cpu", torch_threads: int = 1, noise_seed: int | None = None
) -> ParameterSource:
    """A fixed spec without torch_geometric, or a learned tuner's directory on ``device``
    (``cpu``, ``cuda``, ``cuda:N``, ``auto``) with ``torch_threads`` CPU threads; a sampling
    tuner draws its noise from ``noise_seed`` (None: the seed in its ``tuner.yaml``).

    Raises:
        ValueError: naming the spec or device when it cannot be used.
    """
    if spec.startswith(FIXED_PREFIX):
        return FixedTunerAdapter(spec)
    import torch

    from fleetpilot.ros.learned_tuning import LearnedTunerAdapter, resolve_device

    # One thread: a tick is a small graph, and extra threads only contend with the other
    # robots' nodes on the same computer (measured: 4 ms per tick with one, far more with two
    # on a busy 2-core machine).
    torch.set_num_threads(torch_threads)
    return LearnedTunerAdapter(spec, resolve_device(device), noise_seed)
