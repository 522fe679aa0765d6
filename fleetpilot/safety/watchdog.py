"""Input freshness for a robot's safety loop, on the steady clock.

A safety node must stop its robot when an input goes missing or stale. Ages are measured on a
monotonic clock at receipt, never from message stamps: stamps assume synchronised clocks, and
simulated time can jump backwards on a reset.
"""

from __future__ import annotations

import math


class InputWatchdog:
    """Tracks when each named input last arrived and says which one is missing or stale.

    Args:
        timeouts: input name -> largest acceptable age [s] (> 0).
    """

    def __init__(self, timeouts: dict[str, float]) -> None:
        for name, timeout in timeouts.items():
            if not (math.isfinite(timeout) and timeout > 0):
                raise ValueError(
                    f"timeouts[{name!r}]: expected a positive age in s, got {timeout!r}"
                )
        self.timeouts = dict(timeouts)
        self._last_seen: dict[str, float] = {}

    def feed(self, name: str, now: float) -> None:
        """Records that input ``name`` arrived (valid) at steady time ``now`` [s]."""
        if name not in self.timeouts:
            raise KeyError(f"unknown input {name!r}; known: {sorted(self.timeouts)}")
        self._last_seen[name] = now

    def forget(self, name: str) -> None:
        """Marks ``name`` as missing (e.g. after an invalid message or a reset)."""
        self._last_seen.pop(name, None)

    def age(self, name: str, now: float) -> float:
        """Seconds since ``name`` last arrived; infinity if it never did."""
        last = self._last_seen.get(name)
        return math.inf if last is None else now - last

    def problem(self, now: float) -> str | None:
        """A reason naming the first missing or stale input, or None when all are fresh."""
        for name, timeout in self.timeouts.items():
            age = self.age(name, now)
            if math.isinf(age):
                return f"{name}: no message received yet"
            if age > timeout:
                return f"{name}: stale, last message {age:.2f} s ago (timeout {timeout:.2f} s)"
        return None
