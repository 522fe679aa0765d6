"""The goal follower's nominal controller (ROS-free)."""

import math

import numpy as np
import pytest

from fleetpilot.ros.goal_tracking import GoalTracker, GoalTrackingConfig


def test_no_goal_or_arrived_gives_zero():
    tracker = GoalTracker(GoalTrackingConfig(goal_tolerance=0.1))
    assert np.all(tracker.command(np.zeros(3)) == 0)
    tracker.set_waypoints([[0.05, 0.0]])
    assert np.all(tracker.command(np.zeros(3)) == 0)


def test_drives_forward_towards_a_goal_ahead_and_turns_towards_one_behind():
    tracker = GoalTracker(GoalTrackingConfig(max_speed=0.6))
    tracker.set_waypoints([[3.0, 0.0]])
    ahead = tracker.command(np.zeros(3))
    assert ahead[0] == pytest.approx(0.6) and ahead[1] == pytest.approx(0.0)
    left = tracker.command(np.array([0.0, 0.0, -math.pi / 2]))  # goal to the robot's left
    assert left[1] > 0


def test_waypoints_are_taken_in_order():
    tracker = GoalTracker(GoalTrackingConfig(waypoint_tolerance=0.3))
    tracker.set_waypoints([[0.1, 0.0], [2.0, 0.0], [2.0, 2.0]])
    tracker.command(np.zeros(3))
    assert tracker.waypoints.tolist() == [[2.0, 0.0], [2.0, 2.0]]


def test_invalid_inputs_are_named():
    tracker = GoalTracker(GoalTrackingConfig())
    with pytest.raises(ValueError, match=r"waypoints\[1\]"):
        tracker.set_waypoints([[0.0, 0.0], [math.nan, 1.0]])
    with pytest.raises(ValueError, match="tangential"):
        GoalTrackingConfig(tangential=2.0)
