"""``fleet_state`` lifecycle node: merges every robot's odometry into ``/fleet/robot_states``.

On real fleets each robot publishes ``/<robot>/odom``; the allocator, the planner and any robot
whose perception cannot see its neighbours need the whole fleet as one ``AgentStateArray``.
Only robots whose odometry arrived within ``stale_timeout`` (measured on the steady clock, so
simulated-time resets cannot hide staleness) are included; malformed odometry is logged and
dropped. Publishes only while active.
"""

from __future__ import annotations

import time

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data

from fleetpilot.agent_states import AgentStates
from fleetpilot.msg import AgentStateArray
from fleetpilot.ros.convert import (
    odometry_to_arrays,
    states_to_agent_state_array,
    time_to_seconds,
)
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_value
from fleetpilot.ros.periodic_node import PeriodicLifecycleNode


class FleetStateNode(PeriodicLifecycleNode):
    """Lifecycle node publishing the latest fresh odometry of every listed robot."""

    def __init__(self, node_name: str = "fleet_state", **kwargs) -> None:
        super().__init__(node_name, "rate_hz", **kwargs)
        declare_value(self, "robots", ["robot_0"], "robot namespaces whose odom to merge")
        declare_value(self, "frame_id", "map", "world frame of the published states")
        declare_float(self, "rate_hz", 10.0, 0.1, 200.0, "publish rate [Hz]")
        declare_float(self, "robot_radius", 0.2, 0.01, 5.0, "body radius of every robot [m]")
        declare_float(
            self, "stale_timeout", 1.0, 0.01, 60.0, "odometry older than this is dropped [s]"
        )
        self._states_publisher = None
        self._latest: dict[str, tuple[float, np.ndarray, np.ndarray, float]] = {}

    def configure(self) -> bool:
        robots = list(self.get_parameter("robots").value)
        if not robots or any(not name for name in robots):
            self.get_logger().error(f"robots: expected non-empty robot names, got {robots}")
            return False
        self._states_publisher = self.publisher(AgentStateArray, "/fleet/robot_states", 10)
        for robot in robots:
            self.subscribe(
                Odometry,
                f"/{robot}/odom",
                lambda msg, robot=robot: self._on_odometry(robot, msg),
                qos_profile_sensor_data,
            )
        return True

    def forget(self) -> None:
        self._latest.clear()

    def _on_odometry(self, robot: str, msg: Odometry) -> None:
        try:
            pose, velocity, _ = odometry_to_arrays(msg)
        except ValueError as error:
            self.get_logger().warning(f"/{robot}/odom rejected: {error}")
            return
        self._latest[robot] = (time.monotonic(), pose, velocity, time_to_seconds(msg.header.stamp))

    def fresh_states(self) -> AgentStates:
        """The robots whose odometry is younger than ``stale_timeout`` on the steady clock."""
        timeout = self.get_parameter("stale_timeout").value
        radius = self.get_parameter("robot_radius").value
        now = time.monotonic()
        fresh = [(r, v) for r, v in sorted(self._latest.items()) if now - v[0] <= timeout]
        if not fresh:
            return AgentStates.empty()
        return AgentStates(
            ids=tuple(robot for robot, _ in fresh),
            positions=np.array([value[1][:2] for _, value in fresh]),
            headings=np.array([value[1][2] for _, value in fresh]),
            velocities=np.array([value[2] for _, value in fresh]),
            radii=np.full(len(fresh), radius),
            stamps=np.array([value[3] for _, value in fresh]),
        )

    def tick(self) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        frame_id = self.get_parameter("frame_id").value
        self._states_publisher.publish(
            states_to_agent_state_array(self.fresh_states(), frame_id, now)
        )


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(FleetStateNode, args)
