"""Serving a policy at a control rate without ever emitting a stale action (no ROS here).

``ActionServer`` owns the queue of scheduled actions, runs inference when the queue runs dry,
measures every inference and refuses actions older than a deadline. A ROS node only has to
feed it observations with their stamps and publish what ``next_action`` returns.

Timing model: action ``k`` of a chunk predicted from an observation stamped ``s`` is meant for
time ``s + k * control_period_s``. Its age at time ``now`` is ``now - (s + k * period)``; an
action whose age exceeds ``deadline_s`` is dropped. When nothing fresh is left the server
returns a zero action with a status saying why, rather than a late command (late chunks are
what makes chunked policies jerky on real robots).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from fleetpilot.flow.pretrained import PreTrainedPolicy


@dataclass(frozen=True)
class ServingConfig:
    """Timing of the control loop.

    Attributes:
        control_period_s: time between consecutive actions of a chunk (10 Hz: 0.1).
        deadline_s: the oldest an action may be, relative to the time it was meant for,
            and the oldest an observation may be when inference starts.
        latency_window: how many recent inference times the statistics cover.
    """

    control_period_s: float = 0.1
    deadline_s: float = 0.05
    latency_window: int = 1000

    def __post_init__(self) -> None:
        if not self.control_period_s > 0.0:
            raise ValueError(
                f"ServingConfig.control_period_s must be > 0, got {self.control_period_s}"
            )
        if not self.deadline_s > 0.0:
            raise ValueError(f"ServingConfig.deadline_s must be > 0, got {self.deadline_s}")
        if self.latency_window < 1:
            raise ValueError(
                f"ServingConfig.latency_window must be >= 1, got {self.latency_window}"
            )


class ServeStatus(str, Enum):
    """Why ``next_action`` returned what it returned."""

    OK = "ok"
    NO_OBSERVATION = "no_observation"
    STALE_OBSERVATION = "stale_observation"
    LATE_INFERENCE = "late_inference"


@dataclass(frozen=True)
class ServedAction:
    """One answer of the server.

    Attributes:
        action: ``[action_dim]`` float32; zeros unless ``status`` is OK.
        status: OK or the reason for the zero action.
        reason: a human-readable sentence (for a status topic or log).
        age_s: how late the action is relative to its scheduled time (None for zeros).
        inferred: whether this call ran inference.
    """

    action: np.ndarray
    status: ServeStatus
    reason: str
    age_s: float | None
    inferred: bool


class LatencyStats:
    """Recent inference latencies in seconds."""

    def __init__(self, window: int) -> None:
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0

    def record(self, seconds: float) -> None:
        self.samples.append(seconds)
        self.count += 1

    def summary(self) -> dict[str, float]:
        """``count`` and ``last``/``mean``/``p50``/``p95``/``max`` in milliseconds."""
        if not self.samples:
            return {"count": 0}
        values = np.asarray(self.samples) * 1e3
        return {
            "count": self.count,
            "last_ms": float(values[-1]),
            "mean_ms": float(values.mean()),
            "p50_ms": float(np.percentile(values, 50)),
            "p95_ms": float(np.percentile(values, 95)),
            "max_ms": float(values.max()),
        }


class ActionServer:
    """Turns a stream of stamped observations into fresh actions at the control rate.

    Args:
        policy: any ``PreTrainedPolicy`` (its own queue is not used: the server schedules).
        config: timing.
        clock: monotonic time in seconds; observation stamps must use the same clock.
    """

    def __init__(
        self,
        policy: PreTrainedPolicy,
        config: ServingConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy.eval()
        self.config = config
        self.clock = clock
        self.latency = LatencyStats(config.latency_window)
        self.dropped_actions = 0
        self._scheduled: deque[tuple[float, np.ndarray]] = deque()
        self._obs: torch.Tensor | None = None
        self._obs_stamp = 0.0

    def reset(self) -> None:
        """Forgets observation and queued actions (new episode or after a stop)."""
        self._scheduled.clear()
        self._obs = None

    def observe(self, obs: np.ndarray | torch.Tensor, stamp: float) -> None:
        """Stores the latest observation ``[obs_dim]`` measured at ``stamp`` (clock time)."""
        tensor = torch.as_tensor(obs, dtype=torch.float32).reshape(-1)
        if tensor.shape[0] != self.policy.config.obs_dim:
            raise ValueError(
                f"observation must have {self.policy.config.obs_dim} values, got {tensor.shape[0]}"
            )
        self._obs = tensor
        self._obs_stamp = float(stamp)

    def next_action(self) -> ServedAction:
        """The action for now: queued if fresh, else newly inferred if fresh, else zero."""
        now = self.clock()
        self._drop_stale(now)
        if self._scheduled:
            return self._pop(now, inferred=False)
        if self._obs is None:
            return self._zero(ServeStatus.NO_OBSERVATION, "no observation received yet")
        obs_age = now - self._obs_stamp
        if obs_age > self.config.deadline_s:
            return self._zero(
                ServeStatus.STALE_OBSERVATION,
                f"latest observation is {obs_age * 1e3:.1f} ms old "
                f"(deadline {self.config.deadline_s * 1e3:.1f} ms)",
            )
        latency = self._infer()
        now = self.clock()
        self._drop_stale(now)
        if not self._scheduled:
            return self._zero(
                ServeStatus.LATE_INFERENCE,
                f"inference took {latency * 1e3:.1f} ms; every action of the chunk was older "
                f"than the {self.config.deadline_s * 1e3:.1f} ms deadline",
                inferred=True,
            )
        return self._pop(now, inferred=True)

    def _infer(self) -> float:
        """Predicts a chunk from the stored observation, schedules it, returns its latency."""
        assert self._obs is not None
        device = self.policy.device
        start = self.clock()
        with torch.no_grad():
            chunk = self.policy.predict_action_chunk(self._obs[None].to(device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        actions = chunk[0, : self.policy.config.n_action_steps].cpu().numpy()
        latency = self.clock() - start
        self.latency.record(latency)
        period = self.config.control_period_s
        self._scheduled = deque(
            (self._obs_stamp + index * period, action.astype(np.float32))
            for index, action in enumerate(actions)
        )
        return latency

    def _drop_stale(self, now: float) -> None:
        while self._scheduled and now - self._scheduled[0][0] > self.config.deadline_s:
            self._scheduled.popleft()
            self.dropped_actions += 1

    def _pop(self, now: float, inferred: bool) -> ServedAction:
        scheduled_time, action = self._scheduled.popleft()
        return ServedAction(action, ServeStatus.OK, "ok", now - scheduled_time, inferred)

    def _zero(self, status: ServeStatus, reason: str, inferred: bool = False) -> ServedAction:
        zero = np.zeros(self.policy.config.action_dim, dtype=np.float32)
        return ServedAction(zero, status, reason, None, inferred)
