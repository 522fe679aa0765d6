"""Simulated perception: range, noise, dropout and latency behave as configured."""

import numpy as np
import pytest

from fleetpilot.sim.perception import NeighbourPerception, PerceptionConfig

IDS = ("a", "b", "c")
RADII = np.array([0.2, 0.2, 0.3])


def poses_at(x_of_b: float) -> np.ndarray:
    return np.array([[0.0, 0.0, 0.0], [x_of_b, 0.0, 1.0], [10.0, 0.0, 0.0]])


def test_exact_perception_sees_neighbours_in_range_only():
    perception = NeighbourPerception(PerceptionConfig(sensing_radius=3.0), IDS, RADII)
    perception.record(0.0, poses_at(2.0), np.array([[0, 0], [0.5, 0], [0, 0]]))
    seen = perception.observe(0, np.zeros(2))
    assert seen.ids == ("b",)
    np.testing.assert_array_equal(seen.positions, [[2.0, 0.0]])
    np.testing.assert_array_equal(seen.velocities, [[0.5, 0.0]])
    assert seen.headings[0] == 1.0 and seen.radii[0] == 0.2 and seen.stamps[0] == 0.0
    assert perception.observe(2, np.array([10.0, 0.0])).ids == ()


def test_latency_delivers_the_state_of_latency_seconds_ago():
    perception = NeighbourPerception(PerceptionConfig(latency=0.2), IDS, RADII)
    for step in range(10):  # b moves 0.1 m per 0.05 s tick
        perception.record(0.05 * step, poses_at(1.0 + 0.1 * step), np.zeros((3, 2)))
    seen = perception.observe(0, np.zeros(2))
    assert seen.stamps[0] == pytest.approx(0.25)  # latest 0.45 s minus 0.2 s
    assert seen.positions[0, 0] == pytest.approx(1.5)


def test_noise_and_dropout_match_their_settings_and_are_seeded():
    config = PerceptionConfig(position_noise=0.1, dropout=0.3)
    first = NeighbourPerception(config, IDS, RADII, seed=7)
    second = NeighbourPerception(config, IDS, RADII, seed=7)
    errors, seen_count = [], 0
    for perception in (first, second):
        perception.record(0.0, poses_at(1.0), np.zeros((3, 2)))
    for _ in range(2000):
        a, b = first.observe(0, np.zeros(2)), second.observe(0, np.zeros(2))
        np.testing.assert_array_equal(a.positions, b.positions)  # same seed, same stream
        seen_count += len(a)
        errors.extend(a.positions[:, 0] - 1.0)
    assert seen_count / 2000 == pytest.approx(0.7, abs=0.04)
    assert np.std(errors) == pytest.approx(0.1, rel=0.1)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="dropout: expected a probability"):
        PerceptionConfig(dropout=1.0)
    with pytest.raises(ValueError, match="latency: expected >= 0"):
        PerceptionConfig(latency=-0.1)
