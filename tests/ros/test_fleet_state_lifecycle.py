"""The fleet_state lifecycle node: configure -> activate -> deactivate -> cleanup, publishing
only while active, with every AgentState field derived correctly from odometry."""

import math

import numpy as np
import pytest
from fleetpilot.msg import AgentStateArray
from nav_msgs.msg import Odometry
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data

from fleetpilot.ros.convert import arrays_to_odometry
from fleetpilot.ros.fleet_state_node import FleetStateNode
from tests.ros.conftest import spin_until


@pytest.fixture
def fleet(ros_context, executor):
    import rclpy
    from rclpy.parameter import Parameter

    node = FleetStateNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("robots", value=["robot_a", "robot_b"]),
            Parameter("rate_hz", value=50.0),
            Parameter("robot_radius", value=0.3),
        ],
    )
    probe = rclpy.create_node("fleet_probe", context=ros_context)
    received: list[AgentStateArray] = []
    probe.create_subscription(AgentStateArray, "/fleet/robot_states", received.append, 10)
    odom_a = probe.create_publisher(Odometry, "/robot_a/odom", qos_profile_sensor_data)
    executor.add_node(node)
    executor.add_node(probe)
    yield node, received, odom_a
    node.destroy_node()
    probe.destroy_node()


def spin_for(executor, seconds: float) -> None:
    spin_until(executor, lambda: False, timeout=seconds)


def test_publishes_only_while_active(fleet, executor):
    node, received, odom_a = fleet
    heading = math.pi / 2
    odometry = arrays_to_odometry(
        np.array([1.5, -2.0, heading]), np.array([0.0, 0.4]), 0.1, "map", "robot_a/base", 12.5
    )

    spin_for(executor, 0.5)
    assert received == [], "published while unconfigured"

    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    spin_for(executor, 0.5)
    assert received == [], "published while inactive (configured, not activated)"

    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def got_robot_a() -> bool:
        odom_a.publish(odometry)
        return any(len(m.agents) == 1 for m in received)

    assert spin_until(executor, got_robot_a, timeout=10.0), "no fleet state while active"
    message = next(m for m in received if m.agents)
    agent = message.agents[0]
    assert message.header.frame_id == "map"
    assert agent.id == "robot_a"  # robot_b never published: not included
    assert (agent.x, agent.y) == pytest.approx((1.5, -2.0))
    assert agent.heading == pytest.approx(heading)
    assert (agent.vx, agent.vy) == pytest.approx((0.0, 0.4), abs=1e-12)  # world frame
    assert agent.radius == pytest.approx(0.3)
    assert (agent.stamp.sec, agent.stamp.nanosec) == (12, 500_000_000)

    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    spin_for(executor, 0.3)  # let messages already in flight arrive
    count = len(received)
    spin_for(executor, 0.6)
    assert len(received) == count, "published after deactivation"

    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    spin_for(executor, 0.3)
    assert len(received) == count


def test_stale_and_malformed_odometry_are_dropped(fleet, executor):
    node, received, odom_a = fleet
    node.set_parameters([__import__("rclpy").parameter.Parameter("stale_timeout", value=0.3)])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    good = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base", 1.0)
    assert spin_until(
        executor, lambda: odom_a.publish(good) or len(node.fresh_states()) == 1, timeout=10.0
    )
    bad = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base", 1.0)
    bad.pose.pose.position.x = float("nan")
    for _ in range(10):
        odom_a.publish(bad)
        spin_for(executor, 0.05)
    spin_for(executor, 0.4)
    assert len(node.fresh_states()) == 0, "NaN odometry refreshed the robot or stale kept"


def test_invalid_parameter_is_rejected(fleet):
    from rclpy.parameter import Parameter

    node, _, _ = fleet
    result = node.set_parameters([Parameter("rate_hz", value=-5.0)])[0]
    assert not result.successful
    assert node.get_parameter("rate_hz").value == 50.0
