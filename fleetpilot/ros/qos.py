"""Quality-of-service profiles shared by fleetpilot's nodes.

Perception and odometry are subscribed best-effort (sensor data), which matches publishers of
either reliability; a reliable subscriber would silently receive nothing from a best-effort
driver. Commands, statuses and goals are reliable, keep-last, volatile: what Nav2 and base
drivers use for ``cmd_vel``.
"""

from rclpy.qos import QoSDurabilityPolicy as Durability
from rclpy.qos import QoSHistoryPolicy as History
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos import QoSReliabilityPolicy as Reliability

SENSOR_QOS = qos_profile_sensor_data
"""Subscriptions to odometry and neighbour lists (best effort, keep last 5)."""

COMMAND_QOS = QoSProfile(
    history=History.KEEP_LAST,
    depth=10,
    reliability=Reliability.RELIABLE,
    durability=Durability.VOLATILE,
)
"""Commands, statuses, goals, paths and simulator outputs."""
