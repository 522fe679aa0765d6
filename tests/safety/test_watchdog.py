"""The input watchdog names missing and stale inputs and recovers when they return."""

import math

import pytest

from fleetpilot.safety.watchdog import InputWatchdog


def test_missing_stale_and_recovered_inputs():
    watchdog = InputWatchdog({"odometry": 0.5, "neighbors": 1.0})
    assert watchdog.problem(0.0) == "odometry: no message received yet"
    watchdog.feed("odometry", 0.0)
    assert watchdog.problem(0.1) == "neighbors: no message received yet"
    watchdog.feed("neighbors", 0.1)
    assert watchdog.problem(0.4) is None
    assert watchdog.problem(0.6).startswith("odometry: stale, last message 0.60 s ago")
    watchdog.feed("odometry", 0.7)
    assert watchdog.problem(0.8) is None
    watchdog.forget("neighbors")
    assert watchdog.problem(0.8) == "neighbors: no message received yet"
    assert math.isinf(watchdog.age("neighbors", 1.0))


def test_bad_configuration_and_unknown_inputs():
    with pytest.raises(ValueError, match=r"timeouts\['odometry'\]: expected a positive age"):
        InputWatchdog({"odometry": 0.0})
    with pytest.raises(KeyError, match="unknown input 'scan'"):
        InputWatchdog({"odometry": 1.0}).feed("scan", 0.0)
