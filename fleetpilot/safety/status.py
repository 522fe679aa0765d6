"""Per-agent safety-filter outcome codes.

The integer values are part of the wire format: they equal the mode constants of
``fleetpilot/msg/SafetyStatus`` (a test checks this), so a status array from the filter can be
published without translation.
"""

from enum import IntEnum


class SafetyMode(IntEnum):
    """What the safety filter did to one agent's command on one tick."""

    NOMINAL = 0
    """The nominal command already satisfied every constraint and was passed through."""
    FILTERED = 1
    """The command was minimally changed to satisfy every constraint exactly."""
    RELAXED = 2
    """No command satisfied every constraint; the slack-relaxed problem's solution was used."""
    BRAKING = 3
    """Even the relaxed solution closed on a neighbour or obstacle; the agent brakes."""
    STOPPED = 4
    """Inputs were missing, stale or invalid; the agent is commanded to stand still."""
