"""``policy`` lifecycle node: a learned flow/diffusion/Gaussian policy proposes each robot's
nominal command; the ``cbf_safety`` node downstream makes it safe.

The policy is loaded in ``on_configure`` from ``policy_dir`` (safetensors weights + JSON config,
see ``fleetpilot.flow.pretrained``) onto ``device``. Observations are built from the robot's
odometry by the builder named after the policy's training environment (its metadata
``env_id``; today ``MultiGoal``: the position relative to ``origin_x``, ``origin_y``). At
``control_rate_hz`` an :class:`~fleetpilot.flow.serving.ActionServer` returns a fresh action
or a zero one with a reason (no, stale or rejected odometry; late inference): the node never
repeats an old command. Actions are planar velocities [m/s] (times ``action_scale``) of the point
``projection_distance`` ahead of the axle, published as ``cmd_vel_nominal`` (Twist v, omega).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data

from fleetpilot.ros.convert import command_to_twist, odometry_to_arrays
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_value
from fleetpilot.ros.periodic_node import PeriodicLifecycleNode


def _multigoal_observation(node: LifecycleNode, pose: np.ndarray) -> np.ndarray:
    origin = np.array([node.get_parameter("origin_x").value, node.get_parameter("origin_y").value])
    return pose[:2] - origin


OBSERVATION_BUILDERS: dict[str, Callable[[LifecycleNode, np.ndarray], np.ndarray]] = {
    "MultiGoal": _multigoal_observation,
}
"""Training environment id -> observation from the node and the robot's pose [x, y, yaw]."""


def planar_velocity_to_command(
    velocity: np.ndarray, heading: float, projection_distance: float
) -> np.ndarray:
    """[v, omega] moving the point ``projection_distance`` ahead of the axle at ``velocity``."""
    cos, sin = math.cos(heading), math.sin(heading)
    forward = cos * velocity[0] + sin * velocity[1]
    sideways = -sin * velocity[0] + cos * velocity[1]
    return np.array([forward, sideways / projection_distance])


class PolicyNode(PeriodicLifecycleNode):
    """Lifecycle node serving a learned policy as the robot's nominal command."""

    def __init__(self, node_name: str = "policy", **kwargs) -> None:
        super().__init__(node_name, "control_rate_hz", **kwargs)
        declare_value(self, "policy_dir", "", "directory of a saved policy (config.json)")
        declare_value(self, "device", "cpu", "torch device for inference (cpu, cuda)")
        declare_float(self, "control_rate_hz", 10.0, 0.1, 200.0, "commands per second [Hz]")
        declare_float(self, "deadline", 0.2, 0.001, 5.0, "oldest usable odometry/action [s]")
        declare_float(self, "origin_x", 0.0, -1e6, 1e6, "x of the policy's frame origin [m]")
        declare_float(self, "origin_y", 0.0, -1e6, 1e6, "y of the policy's frame origin [m]")
        declare_float(self, "action_scale", 1.0, 0.0, 100.0, "policy action unit [m/s]")
        declare_float(
            self, "projection_distance", 0.1, 0.01, 1.0, "controlled point ahead of axle [m]"
        )
        self._server = None
        self._observe = None
        self._publisher = None
        self._heading = 0.0
        self.last_status = "unconfigured"

    def configure(self) -> bool:
        from fleetpilot.flow.registry import load_policy
        from fleetpilot.flow.serving import ActionServer, ServingConfig

        directory = self.get_parameter("policy_dir").value
        try:
            policy = load_policy(directory, device=self.get_parameter("device").value)
        except (ValueError, OSError, RuntimeError, KeyError) as error:
            self.get_logger().error(f"policy_dir: cannot load {directory!r}: {error}")
            return False
        env_id = policy.metadata.get("env_id")
        if env_id not in OBSERVATION_BUILDERS:
            self.get_logger().error(
                f"policy_dir: no observation builder for env_id {env_id!r}; "
                f"known: {sorted(OBSERVATION_BUILDERS)}"
            )
            return False
        self._observe = OBSERVATION_BUILDERS[env_id]
        period = 1.0 / self.get_parameter("control_rate_hz").value
        deadline = self.get_parameter("deadline").value
        self._server = ActionServer(policy, ServingConfig(period, deadline))
        self._publisher = self.publisher(Twist, "cmd_vel_nominal", 10)
        self.subscribe(Odometry, "odom", self._on_odometry, qos_profile_sensor_data)
        return True

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._server.reset()  # nothing observed before activation counts
        return super().on_activate(state)

    def forget(self) -> None:
        self._server = None

    def _on_odometry(self, msg: Odometry) -> None:
        try:
            pose, _, _ = odometry_to_arrays(msg)
        except ValueError as error:
            self.get_logger().warning(f"odom rejected: {error}")
            self._server.reset()  # never act on a state older than the bad one
            return
        self._heading = float(pose[2])
        self._server.observe(self._observe(self, pose), time.monotonic())

    def tick(self) -> None:
        served = self._server.next_action()
        self.last_status = served.status.value
        if served.status.value != "ok":
            self.get_logger().warning(f"zero command: {served.reason}", throttle_duration_sec=1.0)
            self._publisher.publish(Twist())
            return
        velocity = self.get_parameter("action_scale").value * served.action.astype(float)
        command = planar_velocity_to_command(
            velocity, self._heading, self.get_parameter("projection_distance").value
        )
        self._publisher.publish(command_to_twist(command))


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(PolicyNode, args)
