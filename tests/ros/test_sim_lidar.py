"""The sim node's simulated lidar over real rclpy: every robot gets LaserScans that see the
other robot ahead and follow the LaserScan conventions."""

import math

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan

from fleetpilot.ros.sim_node import SimNode
from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros


def test_sim_publishes_scans_that_see_the_robot_ahead(ros_context, executor):
    import rclpy

    node = SimNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("scenario", value="head_on_pair"),
            Parameter("rate_hz", value=20.0),
            Parameter("lidar_rate_hz", value=10.0),
            Parameter("lidar_beams", value=180),
            Parameter("lidar_noise", value=0.0),
            Parameter("lidar_range", value=8.0),  # the robots start 6 m apart
        ],
    )
    probe = rclpy.create_node("scan_probe", context=ros_context)
    scans: list[LaserScan] = []
    probe.create_subscription(LaserScan, "/robot_0/scan", scans.append, qos_profile_sensor_data)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert spin_until(executor, lambda: len(scans) >= 2, timeout=10.0)
        scan = scans[0]
        assert len(scan.ranges) == 180 and scan.header.frame_id == "robot_0/base_scan"
        assert scan.angle_increment == pytest.approx(2 * math.pi / 180)
        ranges = np.array(scan.ranges)
        finite = ranges[np.isfinite(ranges)]
        assert np.all((finite >= scan.range_min) & (finite <= scan.range_max))
        poses = node.world.poses()
        offset = poses[1, :2] - poses[0, :2]
        bearing = math.atan2(offset[1], offset[0]) - poses[0, 2]
        beam = round(
            (math.remainder(bearing, 2 * math.pi) - scan.angle_min) / scan.angle_increment
        )
        expected = np.linalg.norm(offset) - node.world.robot.body_radius
        assert expected < scan.range_max
        assert ranges[beam % 180] == pytest.approx(expected, abs=0.1)
    finally:
        node.destroy_node()
        probe.destroy_node()
