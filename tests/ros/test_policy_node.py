"""The policy lifecycle node serving the shipped flow policy over real rclpy: fresh commands
while odometry flows, zero commands (never the last one) when it stops or goes bad."""

import math
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data

from fleetpilot.ros.convert import arrays_to_odometry
from fleetpilot.ros.policy_node import PolicyNode, planar_velocity_to_command
from tests.ros.conftest import spin_until

POLICY = Path(__file__).resolve().parents[2] / "policies" / "flow_multigoal"


def test_planar_velocity_maps_to_unicycle_commands():
    np.testing.assert_allclose(planar_velocity_to_command(np.array([1.0, 0.0]), 0.0, 0.1), [1, 0])
    np.testing.assert_allclose(
        planar_velocity_to_command(np.array([0.0, 0.2]), 0.0, 0.1), [0.0, 2.0]
    )
    v, w = planar_velocity_to_command(np.array([0.0, 1.0]), math.pi / 2, 0.1)
    assert (v, w) == pytest.approx((1.0, 0.0))


@pytest.fixture
def served(ros_context, executor):
    import rclpy

    node = PolicyNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("policy_dir", value=str(POLICY)),
            Parameter("control_rate_hz", value=20.0),
            Parameter("deadline", value=0.3),
        ],
    )
    probe = rclpy.create_node("policy_probe", context=ros_context)
    commands: list[Twist] = []
    probe.create_subscription(Twist, "cmd_vel_nominal", commands.append, 10)
    odom = probe.create_publisher(Odometry, "odom", qos_profile_sensor_data)
    executor.add_node(node)
    executor.add_node(probe)
    yield node, commands, odom
    node.destroy_node()
    probe.destroy_node()


def test_serves_fresh_commands_and_zero_when_odometry_stops_or_is_invalid(served, executor):
    node, commands, odom = served
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    spin_until(executor, lambda: False, timeout=0.3)
    assert commands == [], "published before activation"
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    # The flow policy samples its starting noise: which goal it heads for may vary, but it moves.
    near_goal = arrays_to_odometry(np.array([3.0, 0.0, 0.0]), np.zeros(2), 0.0, "map", "base", 0)

    def moving() -> bool:
        odom.publish(near_goal)
        return any(abs(c.linear.x) > 0.05 for c in commands)

    assert spin_until(executor, moving, timeout=10.0), "no nonzero command while odometry flows"
    assert node.last_status == "ok"
    spin_until(executor, lambda: False, timeout=1.0)  # odometry stopped: older than deadline
    assert node.last_status == "stale_observation"
    assert commands[-1].linear.x == 0.0 and commands[-1].angular.z == 0.0
    broken = arrays_to_odometry(np.array([3.0, 0.0, 0.0]), np.zeros(2), 0.0, "map", "base", 0)
    broken.pose.pose.position.x = math.nan
    spin_until(executor, lambda: odom.publish(broken) or False, timeout=0.5)
    assert node.last_status in ("no_observation", "stale_observation")
    assert commands[-1].linear.x == 0.0


def test_a_missing_policy_fails_configuration(ros_context, tmp_path):
    node = PolicyNode(
        context=ros_context, parameter_overrides=[Parameter("policy_dir", value=str(tmp_path))]
    )
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    node.destroy_node()
