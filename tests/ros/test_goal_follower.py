"""The goal_follower lifecycle node: follows a nav_msgs/Path or a goal pose, publishes only
while active, and gives a zero command for invalid odometry."""

import math

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry, Path
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleetpilot.ros.convert import arrays_to_odometry
from fleetpilot.ros.goal_follower_node import GoalFollowerNode
from fleetpilot.ros.qos import COMMAND_QOS
from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros


@pytest.fixture
def follower(ros_context, executor):
    import rclpy

    node = GoalFollowerNode(
        namespace="/robot_f",
        context=ros_context,
        parameter_overrides=[Parameter("max_speed", value=0.5)],
    )
    probe = rclpy.create_node("follower_probe", context=ros_context)
    odom = probe.create_publisher(Odometry, "/robot_f/odom", COMMAND_QOS)
    plan = probe.create_publisher(Path, "/robot_f/plan", COMMAND_QOS)
    goal = probe.create_publisher(PoseStamped, "/robot_f/goal_pose", COMMAND_QOS)
    received: list[Twist] = []
    probe.create_subscription(Twist, "/robot_f/cmd_vel_nominal", received.append, COMMAND_QOS)
    executor.add_node(node)
    executor.add_node(probe)
    yield node, odom, plan, goal, received
    node.destroy_node()
    probe.destroy_node()


def pose_stamped(x: float, y: float) -> PoseStamped:
    message = PoseStamped()
    message.header.frame_id = "map"
    message.pose.position.x, message.pose.position.y = x, y
    message.pose.orientation.w = 1.0
    return message


def test_follows_a_plan_then_a_goal_and_stops_on_bad_odometry(follower, executor):
    node, odom, plan, goal, received = follower
    facing_x = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base_link", 0.0)

    def publish_and_got(condition):
        def check():
            odom.publish(facing_x)
            return bool(received) and condition(received[-1])

        return check

    spin_until(executor, lambda: odom.publish(facing_x) or False, timeout=0.5)
    assert received == [], "published while unconfigured"
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert spin_until(executor, publish_and_got(lambda t: t.linear.x == 0.0), 10.0), "no goal: 0"

    path = Path()
    path.header.frame_id = "map"
    path.poses = [pose_stamped(2.0, 0.0), pose_stamped(2.0, 2.0)]
    plan.publish(path)
    assert spin_until(
        executor, publish_and_got(lambda t: t.linear.x == pytest.approx(0.5)), 10.0
    ), received[-1:]

    goal.publish(pose_stamped(0.0, 3.0))  # to the robot's left: turn left
    assert spin_until(executor, publish_and_got(lambda t: t.angular.z > 0.5), 10.0)

    bad = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base_link", 0.0)
    bad.pose.pose.orientation.z = math.inf

    def zero_for_bad() -> bool:
        odom.publish(bad)
        return bool(received) and received[-1].linear.x == 0 and received[-1].angular.z == 0

    assert spin_until(executor, zero_for_bad, 10.0)
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    spin_until(executor, lambda: False, timeout=0.3)
    count = len(received)
    spin_until(executor, lambda: odom.publish(facing_x) or False, timeout=0.5)
    assert len(received) == count, "published after deactivation"


def test_gain_and_sideways_bias_follow_fresh_cbf_params_only(ros_context, executor):
    import rclpy
    from fleetpilot.msg import CbfParams

    node = GoalFollowerNode(
        namespace="/robot_t",
        context=ros_context,
        parameter_overrides=[
            Parameter("max_speed", value=0.5),
            Parameter("nominal_from_tuner", value=True),
            Parameter("tuner_timeout", value=0.5),
            Parameter("goal", value=[2.0, 0.0]),
        ],
    )
    probe = rclpy.create_node("tuned_follower_probe", context=ros_context)
    odom = probe.create_publisher(Odometry, "/robot_t/odom", COMMAND_QOS)
    params = probe.create_publisher(CbfParams, "/robot_t/cbf_params", COMMAND_QOS)
    received: list[Twist] = []
    probe.create_subscription(Twist, "/robot_t/cmd_vel_nominal", received.append, COMMAND_QOS)
    executor.add_node(node)
    executor.add_node(probe)
    facing_goal = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base_link", 0.0)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

        def with_params(message, condition):
            def check():
                if message is not None:
                    params.publish(message)
                odom.publish(facing_goal)
                return bool(received) and condition(received[-1])

            return check

        # No cbf_params yet: the configured gain 1 and no sideways bias, straight at the goal.
        assert spin_until(
            executor,
            with_params(None, lambda t: t.linear.x == pytest.approx(0.5) and t.angular.z == 0),
            10.0,
        )
        # The tuner's sideways bias turns the robot left; its low gain slows it down.
        assert spin_until(
            executor,
            with_params(
                CbfParams(nominal_gain=1.0, tangential_gain=1.0), lambda t: t.angular.z > 1
            ),
            10.0,
        ), received[-1:]
        assert spin_until(
            executor,
            with_params(
                CbfParams(nominal_gain=0.1, tangential_gain=0.0),
                lambda t: t.linear.x == pytest.approx(0.2) and t.angular.z == 0,
            ),
            10.0,
        ), received[-1:]
        # Out-of-range values are ignored: the last valid choice ages out and the configured
        # gain comes back; no command is ever non-finite.
        count = len(received)
        bad = CbfParams(nominal_gain=math.nan, tangential_gain=5.0)
        assert spin_until(
            executor, with_params(bad, lambda t: t.linear.x == pytest.approx(0.5)), 10.0
        ), received[-1:]
        assert all(math.isfinite(t.linear.x) and math.isfinite(t.angular.z) for t in received)
        assert len(received) > count
    finally:
        node.destroy_node()
        probe.destroy_node()
