"""A test-side stand-in for one robot's surroundings: publishes its odometry, neighbours and
nominal command, and records what its safety node sends back."""

from __future__ import annotations

import time

import numpy as np
from fleetpilot.msg import AgentState, AgentStateArray, SafetyStatus
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from std_msgs.msg import Header

from fleetpilot.ros.convert import arrays_to_odometry, command_to_twist
from fleetpilot.ros.qos import COMMAND_QOS


class RobotDriver:
    """Publishes ``/<ns>/odom``, ``neighbors`` and ``cmd_vel_nominal``; records ``cmd_vel`` and
    ``safety_status`` with their steady-clock receipt times."""

    def __init__(self, node, namespace: str) -> None:
        self.node = node
        self.odom = node.create_publisher(Odometry, f"{namespace}/odom", COMMAND_QOS)
        self.neighbours = node.create_publisher(
            AgentStateArray, f"{namespace}/neighbors", COMMAND_QOS
        )
        self.nominal = node.create_publisher(Twist, f"{namespace}/cmd_vel_nominal", COMMAND_QOS)
        self.commands: list[tuple[float, Twist]] = []
        self.statuses: list[tuple[float, SafetyStatus]] = []
        node.create_subscription(
            Twist,
            f"{namespace}/cmd_vel",
            lambda m: self.commands.append((time.monotonic(), m)),
            COMMAND_QOS,
        )
        node.create_subscription(
            SafetyStatus,
            f"{namespace}/safety_status",
            lambda m: self.statuses.append((time.monotonic(), m)),
            COMMAND_QOS,
        )
        self.pose = np.zeros(3)
        self.nominal_command = np.array([0.5, 0.1])
        self.neighbour_positions = np.array([[5.0, 5.0]])  # far away: the command passes
        self.send_neighbours = True
        self.send_odometry = True
        self.odometry_override: Odometry | None = None

    def publish_inputs(self) -> None:
        """One round of inputs (call it at the robot's sensor rate)."""
        odometry = self.odometry_override or arrays_to_odometry(
            self.pose, np.zeros(2), 0.0, "map", "base_link", 1.0
        )
        if self.send_odometry:
            self.odom.publish(odometry)
        self.nominal.publish(command_to_twist(self.nominal_command))
        if self.send_neighbours:
            message = AgentStateArray(header=Header(frame_id="map"))
            for index, (x, y) in enumerate(self.neighbour_positions):
                message.agents.append(
                    AgentState(id=f"other_{index}", x=float(x), y=float(y), radius=0.2)
                )
            self.neighbours.publish(message)

    def latest_command(self) -> np.ndarray | None:
        if not self.commands:
            return None
        twist = self.commands[-1][1]
        return np.array([twist.linear.x, twist.angular.z])

    def latest_status(self) -> SafetyStatus | None:
        return self.statuses[-1][1] if self.statuses else None
