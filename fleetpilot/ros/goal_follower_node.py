"""``goal_follower`` lifecycle node: a goal pose or a waypoint path -> the nominal command.

Runs in the robot's namespace. Subscribes ``odom`` (nav_msgs/Odometry), ``goal_pose``
(geometry_msgs/PoseStamped, what RViz and Nav2 send) and ``plan`` (nav_msgs/Path, e.g. the
MAPF planner's waypoints); a new goal replaces the plan and vice versa. On each valid odometry
message it publishes ``cmd_vel_nominal`` (geometry_msgs/Twist), which the robot's
``cbf_safety`` node makes safe; invalid odometry or no goal gives a zero command. The optional
``goal`` parameter ([x, y]) sets a goal at configure time (simulated fleets).

With ``nominal_from_tuner`` the gain and sideways bias come from the robot's ``cbf_params``
(fleetpilot/CbfParams: what the online tuner chose on the safety node's last tick), so a
learned tuner steers the nominal command as it does in training; a message older than
``tuner_timeout``, or none yet, gives the configured ``gain`` and ``tangential`` back, and a
message with values out of range is logged and ignored.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry, Path
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn

from fleetpilot.msg import CbfParams
from fleetpilot.ros.convert import command_to_twist, odometry_to_arrays
from fleetpilot.ros.goal_tracking import GoalTracker, GoalTrackingConfig, check_waypoints
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_value
from fleetpilot.ros.qos import COMMAND_QOS, SENSOR_QOS


def _goal_parameter(value) -> np.ndarray:
    points = list(value or [])
    if len(points) not in (0, 2):
        raise ValueError(f"expected [] or [x, y], got {points}")
    return check_waypoints(points)


class GoalFollowerNode(LifecycleNode):
    """Lifecycle node wrapping :class:`~fleetpilot.ros.goal_tracking.GoalTracker`."""

    def __init__(self, node_name: str = "goal_follower", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_float(self, "gain", 1.0, 0.1, 5.0, "go-to-goal gain [1/s]")
        declare_float(self, "tangential", 0.0, -1.0, 1.0, "sideways bias (positive: left) [1]")
        declare_float(self, "max_speed", 1.0, 0.01, 10.0, "speed limit [m/s]")
        declare_float(self, "max_turn_rate", 3.0, 0.01, 20.0, "yaw-rate limit [rad/s]")
        declare_float(self, "projection_distance", 0.1, 0.01, 1.0, "steered point offset [m]")
        declare_float(self, "goal_tolerance", 0.1, 0.01, 10.0, "goal reached within [m]")
        declare_float(self, "waypoint_tolerance", 0.3, 0.01, 10.0, "waypoint passed within [m]")
        declare_value(
            self,
            "nominal_from_tuner",
            False,
            "take gain and sideways bias from this robot's cbf_params (the online tuner's)",
        )
        declare_float(
            self, "tuner_timeout", 0.5, 0.01, 10.0, "older cbf_params: configured ones [s]"
        )
        self.declare_parameter(
            "goal",
            [],
            ParameterDescriptor(description="initial goal [x, y] [m], or []", dynamic_typing=True),
        )
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.tracker: GoalTracker | None = None
        self._command_publisher = None
        self._inputs = []
        self._tuned: tuple[float, GoalTrackingConfig] | None = None  # receive time, settings
        self._tuner_timeout = 0.0

    def _validate_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "goal":
                try:
                    _goal_parameter(parameter.value)
                except (TypeError, ValueError) as error:
                    return SetParametersResult(successful=False, reason=f"goal: {error}")
        return SetParametersResult(successful=True)

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        value = self.get_parameter
        try:
            config = GoalTrackingConfig(
                gain=value("gain").value,
                tangential=value("tangential").value,
                max_speed=value("max_speed").value,
                max_turn_rate=value("max_turn_rate").value,
                projection_distance=value("projection_distance").value,
                goal_tolerance=value("goal_tolerance").value,
                waypoint_tolerance=value("waypoint_tolerance").value,
            )
            goal = _goal_parameter(value("goal").value)
        except ValueError as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        self.tracker = GoalTracker(config)
        self.tracker.set_waypoints(goal)
        self._command_publisher = self.create_lifecycle_publisher(
            Twist, "cmd_vel_nominal", COMMAND_QOS
        )
        self._inputs = [
            self.create_subscription(Odometry, "odom", self._on_odometry, SENSOR_QOS),
            self.create_subscription(PoseStamped, "goal_pose", self._on_goal, COMMAND_QOS),
            self.create_subscription(Path, "plan", self._on_plan, COMMAND_QOS),
        ]
        self._tuner_timeout = value("tuner_timeout").value
        if value("nominal_from_tuner").value:
            self._inputs.append(
                self.create_subscription(CbfParams, "cbf_params", self._on_cbf_params, COMMAND_QOS)
            )
        self._tuned = None
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._command_publisher is not None:
            self.destroy_lifecycle_publisher(self._command_publisher)
            self._command_publisher = None
        self.tracker = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        return self.on_cleanup(state)

    def _on_goal(self, msg: PoseStamped) -> None:
        if self.tracker is None:
            return
        try:
            self.tracker.set_waypoints([[msg.pose.position.x, msg.pose.position.y]])
        except ValueError as error:
            self.get_logger().warning(f"goal_pose rejected: {error}", throttle_duration_sec=1.0)

    def _on_plan(self, msg: Path) -> None:
        if self.tracker is None:
            return
        points = [[p.pose.position.x, p.pose.position.y] for p in msg.poses]
        try:
            self.tracker.set_waypoints(points)
        except ValueError as error:
            self.get_logger().warning(f"plan rejected: {error}", throttle_duration_sec=1.0)

    def _on_cbf_params(self, msg: CbfParams) -> None:
        if self.tracker is None:
            return
        try:  # the tracker's own checks: a finite positive gain, a sideways bias in [-1, 1]
            tuned = replace(
                self.tracker.config, gain=msg.nominal_gain, tangential=msg.tangential_gain
            )
        except ValueError as error:
            self.get_logger().warning(
                f"cbf_params (nominal_gain, tangential_gain) ignored: {error}",
                throttle_duration_sec=1.0,
            )
            return
        self._tuned = (time.monotonic(), tuned)

    def _tuned_config(self) -> GoalTrackingConfig | None:
        """The settings with the tuner's gain and sideways bias while fresh, else None."""
        if self._tuned is None or time.monotonic() - self._tuned[0] > self._tuner_timeout:
            return None
        return self._tuned[1]

    def _on_odometry(self, msg: Odometry) -> None:
        if self.tracker is None or self._command_publisher is None or not self.context.ok():
            return
        try:
            pose, _, _ = odometry_to_arrays(msg)
            command = self.tracker.command(pose, self._tuned_config())
        except ValueError as error:
            self.get_logger().warning(f"odom rejected: {error}", throttle_duration_sec=1.0)
            command = np.zeros(2)
        self._command_publisher.publish(command_to_twist(command))


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(GoalFollowerNode, args)
