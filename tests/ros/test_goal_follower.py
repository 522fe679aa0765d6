"""The goal_follower lifecycle node: follows a nav_msgs/Path or a goal pose, publishes only
while active, gives a zero command for invalid odometry, and with ``nominal_from_tuner`` takes
gain and sideways bias from fresh, valid cbf_params only."""

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
def follower_and_probe(ros_context, executor):
    """Makes a goal_follower in a namespace (max speed 0.5 plus ``overrides``) and a probe node
    that records its commands; both spin on the executor and are destroyed afterwards."""
    import rclpy

    made = []

    def make(namespace: str, *overrides: Parameter):
        node = GoalFollowerNode(
            namespace=namespace,
            context=ros_context,
            parameter_overrides=[Parameter("max_speed", value=0.5), *overrides],
        )
        probe = rclpy.create_node(f"{namespace.strip('/')}_probe", context=ros_context)
        received: list[Twist] = []
        topic = f"{namespace}/cmd_vel_nominal"
        probe.create_subscription(Twist, topic, received.append, COMMAND_QOS)
        executor.add_node(node)
        executor.add_node(probe)
        made.extend([node, probe])
        return node, probe, received

    yield make
    for node in made:
        node.destroy_node()


@pytest.fixture
def follower(follower_and_probe):
    node, probe, received = follower_and_probe("/robot_f")
    odom = probe.create_publisher(Odometry, "/robot_f/odom", COMMAND_QOS)
    plan = probe.create_publisher(Path, "/robot_f/plan", COMMAND_QOS)
    goal = probe.create_publisher(PoseStamped, "/robot_f/goal_pose", COMMAND_QOS)
    return node, odom, plan, goal, received


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


def test_gain_and_sideways_bias_follow_fresh_cbf_params_only(follower_and_probe, executor):
    from fleetpilot.msg import CbfParams

    node, probe, received = follower_and_probe(
        "/robot_t",
        Parameter("nominal_from_tuner", value=True),
        Parameter("tuner_timeout", value=0.5),
        Parameter("goal", value=[2.0, 0.0]),
    )
    odom = probe.create_publisher(Odometry, "/robot_t/odom", COMMAND_QOS)
    params = probe.create_publisher(CbfParams, "/robot_t/cbf_params", COMMAND_QOS)
    facing_goal = arrays_to_odometry(np.zeros(3), np.zeros(2), 0.0, "map", "base_link", 0.0)
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
        with_params(CbfParams(nominal_gain=1.0, tangential_gain=1.0), lambda t: t.angular.z > 1),
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
