"""Neighbour tracking: id and id-less association, velocity estimates, conservative dropouts."""

import numpy as np
import pytest

from fleetpilot.safety.neighbour_tracker import NeighbourTracker, TrackerConfig


def test_velocities_are_estimated_from_tracked_ids_and_reported_ones_win():
    tracker = NeighbourTracker(TrackerConfig(velocity_smoothing=1.0))
    tracker.update(0.0, [[0.0, 0.0], [2.0, 0.0]], [0.2, 0.2], ids=["a", "b"])
    tracker.update(0.1, [[2.0, 0.05], [0.1, 0.0]], [0.2, 0.2], ids=["b", "a"])
    state = tracker.neighbours(0.1)
    velocities = dict(zip(state.ids, state.velocities, strict=True))
    np.testing.assert_allclose(velocities["a"], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(velocities["b"], [0.0, 0.5], atol=1e-12)
    tracker.update(0.2, [[0.2, 0.0]], [0.2], ids=["a"], velocities=[[0.7, -0.1]])
    a = tracker.neighbours(0.2).ids.index("a")
    np.testing.assert_allclose(tracker.neighbours(0.2).velocities[a], [0.7, -0.1])


def test_id_less_detections_are_associated_by_distance_in_any_order():
    tracker = NeighbourTracker(TrackerConfig(velocity_smoothing=1.0, association_radius=0.6))
    tracker.update(0.0, [[0.0, 0.0], [3.0, 1.0]], [0.2, 0.3])
    first = tracker.neighbours(0.0).ids
    tracker.update(0.5, [[3.0, 1.5], [0.25, 0.0]], [0.3, 0.2])  # shuffled, both moved
    state = tracker.neighbours(0.5)
    assert set(state.ids) == set(first)
    pairs = zip(state.positions, state.velocities, strict=True)
    by_position = {tuple(np.round(p, 3)): v for p, v in pairs}
    np.testing.assert_allclose(by_position[(0.25, 0.0)], [0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(by_position[(3.0, 1.5)], [0.0, 1.0], atol=1e-12)
    tracker.update(1.0, [[9.0, 9.0]], [0.2])  # too far from any track: a new one
    assert len(set(tracker.neighbours(1.0).ids) - set(first)) == 1


def test_a_dropout_grows_the_track_by_its_reachable_distance_then_drops_it():
    tracker = NeighbourTracker(TrackerConfig(max_speed=1.5, hold_time=0.5))
    tracker.update(0.0, [[1.0, 0.0], [0.0, 1.0]], [0.2, 0.2], ids=["seen", "lost"])
    tracker.update(0.3, [[1.0, 0.0]], [0.2], ids=["seen"])
    state = tracker.neighbours(0.3)
    lost = state.ids.index("lost")
    np.testing.assert_allclose(state.positions[lost], [0.0, 1.0])  # held where last seen
    np.testing.assert_allclose(state.radii[lost], 0.2 + 1.5 * 0.3)  # reachable disc
    np.testing.assert_allclose(state.radii[state.ids.index("seen")], 0.2)
    tracker.update(0.6, [[1.0, 0.0]], [0.2], ids=["seen"])
    assert tracker.neighbours(0.6).ids == ("seen",)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.update(float("nan"), [[0, 0]], [0.2]), "time: expected a finite"),
        (lambda t: t.update(0.0, [[0, np.inf]], [0.2]), r"positions\[0, 1\]"),
        (lambda t: t.update(0.0, [[0, 0]], [0.0]), "radii: expected positive"),
        (lambda t: t.update(0.0, [[0, 0], [1, 1]], [0.2, 0.2], ids=["a", "a"]), "ids: expected"),
        (lambda t: (t.update(1.0, [[0, 0]], [0.2]), t.update(0.5, [[0, 0]], [0.2])), "backwards"),
    ],
)
def test_bad_detections_name_the_field(call, message):
    with pytest.raises(ValueError, match=message):
        call(NeighbourTracker())
