"""Message <-> array conversion: exact round trips and errors that name the bad field."""

import math

import numpy as np
import pytest
from fleetpilot.msg import AgentState, AgentStateArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry

from fleetpilot.agent_states import AgentStates
from fleetpilot.ros.convert import (
    agent_state_array_to_states,
    arrays_to_odometry,
    command_to_twist,
    odometry_to_arrays,
    seconds_to_time,
    states_to_agent_state_array,
    time_to_seconds,
    twist_to_command,
)


def sample_states() -> AgentStates:
    return AgentStates(
        ids=("a", "b"),
        positions=np.array([[1.0, 2.0], [-3.0, 4.5]]),
        headings=np.array([0.3, -2.0]),
        velocities=np.array([[0.1, -0.2], [0.0, 0.5]]),
        radii=np.array([0.2, 0.35]),
        stamps=np.array([10.25, 11.5]),
    )


def test_agent_states_round_trip():
    states = sample_states()
    msg = states_to_agent_state_array(states, "map", 3.0)
    assert msg.header.frame_id == "map" and msg.header.stamp.sec == 3
    back = agent_state_array_to_states(msg)
    assert back.ids == states.ids
    for field in ("positions", "headings", "velocities", "radii", "stamps"):
        np.testing.assert_allclose(getattr(back, field), getattr(states, field), atol=1e-9)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("x", float("nan"), r"agents\[1\]\.x: expected a finite number, got nan"),
        ("vy", float("inf"), r"agents\[1\]\.vy: expected a finite number, got inf"),
        ("radius", -0.1, r"agents\[1\]\.radius: expected a positive radius"),
        ("id", "", r"agents\[1\]\.id: expected a non-empty robot id"),
    ],
)
def test_bad_agent_state_names_the_field(field, value, message):
    msg = AgentStateArray(agents=[AgentState(id="a", radius=0.2), AgentState(id="b", radius=0.2)])
    setattr(msg.agents[1], field, value)
    with pytest.raises(ValueError, match=message):
        agent_state_array_to_states(msg)


def test_duplicate_ids_are_rejected():
    msg = AgentStateArray(agents=[AgentState(id="a", radius=0.2), AgentState(id="a", radius=0.2)])
    with pytest.raises(ValueError, match="ids: expected unique robot ids"):
        agent_state_array_to_states(msg)


def test_agent_states_reject_wrong_shapes_and_nan():
    with pytest.raises(ValueError, match=r"positions: expected shape \(2, 2\), got \(3, 2\)"):
        AgentStates(
            ("a", "b"), np.zeros((3, 2)), np.zeros(2), np.zeros((2, 2)), np.ones(2), np.zeros(2)
        )
    with pytest.raises(ValueError, match=r"headings\[1\]: expected a finite number, got nan"):
        AgentStates(
            ("a", "b"), np.zeros((2, 2)), [0, np.nan], np.zeros((2, 2)), np.ones(2), np.zeros(2)
        )


def test_odometry_round_trip_rotates_twist_into_world_frame():
    pose = np.array([1.0, -1.0, math.pi / 2])
    velocity_world = np.array([0.0, 0.8])  # heading +y, driving forward
    msg = arrays_to_odometry(pose, velocity_world, 0.25, "odom", "base_link", 5.5)
    assert msg.twist.twist.linear.x == pytest.approx(0.8)  # body frame: forward
    assert msg.twist.twist.linear.y == pytest.approx(0.0, abs=1e-12)
    back_pose, back_velocity, yaw_rate = odometry_to_arrays(msg)
    np.testing.assert_allclose(back_pose, pose, atol=1e-12)
    np.testing.assert_allclose(back_velocity, velocity_world, atol=1e-12)
    assert yaw_rate == 0.25


def test_bad_odometry_names_the_field():
    msg = Odometry()
    msg.pose.pose.orientation.w = 1.0
    msg.twist.twist.linear.x = float("nan")
    with pytest.raises(ValueError, match=r"twist\.linear\.x: expected a finite number"):
        odometry_to_arrays(msg)
    msg = Odometry()
    msg.pose.pose.orientation.w = 0.0  # all-zero quaternion
    with pytest.raises(ValueError, match=r"pose\.orientation: expected a unit quaternion"):
        odometry_to_arrays(msg)


def test_twist_conversion_and_errors():
    twist = command_to_twist(np.array([0.5, -0.2]))
    np.testing.assert_array_equal(twist_to_command(twist), [0.5, -0.2])
    twist.angular.z = float("inf")
    with pytest.raises(ValueError, match=r"angular\.z: expected a finite number, got inf"):
        twist_to_command(twist)
    with pytest.raises(ValueError, match=r"command: expected shape \(2,\), got \(3,\)"):
        command_to_twist(np.zeros(3))
    with pytest.raises(ValueError, match=r"command\[1\]: expected a finite number, got nan"):
        command_to_twist(np.array([0.0, np.nan]))
    assert isinstance(command_to_twist([0.0, 0.0]), Twist)


def test_time_conversion():
    assert time_to_seconds(seconds_to_time(12.75)) == 12.75
    with pytest.raises(ValueError, match="stamp: expected a time >= 0 s"):
        seconds_to_time(-1.0)
