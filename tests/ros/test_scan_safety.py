"""Lidar in the safety loop and the cbf_safety node: a wall seen only by the scan stops the
robot before it, and a stale scan triggers the watchdog."""

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan

from fleetpilot.ros.cbf_safety_node import CbfSafetyNode
from fleetpilot.safety import SafetyMode
from fleetpilot.safety.scan_obstacles import ScanGeometry, ScanReduction
from tests.ros.robot_driver import RobotDriver
from tests.ros.test_cbf_safety import spin_driving
from tests.ros.test_robot_safety import drive_at_wall, feed, make_loop, neighbours

BEAMS = 360
GEOMETRY = ScanGeometry(-np.pi, 2 * np.pi / BEAMS, 0.05, 10.0)


def wall_ranges(x_wall: float, x_robot: float) -> np.ndarray:
    """Ranges from a robot at (x_robot, 0) heading +x to the wall x = x_wall (inf: no hit)."""
    angles = GEOMETRY.angle_min + GEOMETRY.angle_increment * np.arange(BEAMS)
    with np.errstate(divide="ignore"):
        ranges = (x_wall - x_robot) / np.cos(angles)
    return np.where((ranges > 0) & (ranges <= GEOMETRY.range_max), ranges, np.inf)


def scan_of_wall(x_robot: float):
    """The lidar's (ranges, geometry) at (x_robot, 0) heading +x, the wall at x = 1.5."""
    return wall_ranges(1.5, x_robot), GEOMETRY


def test_loop_keeps_off_a_wall_only_the_scan_sees_and_stops_on_a_stale_scan():
    loop = make_loop(safety_distance=0.4, scan=ScanReduction(max_range=2.0), scan_timeout=0.3)
    feed(loop, 0.0, neighbours([], []), nominal=(1.0, 0.0))
    assert loop.tick(0.0).reason == "scan: no message received yet"
    x = drive_at_wall(loop, scan_of_wall)
    assert x > 1.0  # it drove up to the wall and stopped there
    loop.set_odometry(10.0, np.array([x, 0.0, 0.0]), np.zeros(2))
    loop.set_neighbours(10.0, neighbours([], []))
    loop.set_nominal(10.0, np.array([1.0, 0.0]))
    stale = loop.tick(10.0)
    assert stale.mode == SafetyMode.STOPPED and stale.reason.startswith("scan: stale")


def drive_at_a_mapped_wall(static_tolerance: float) -> float:
    """How far a robot driving at the arena's wall x = 1.5, also seen by its lidar, gets."""
    reduction = ScanReduction(
        max_range=2.0, motion_margin=0.1, static_tolerance=static_tolerance, static_window=0.4
    )
    loop = make_loop(safety_distance=0.4, scan=reduction, arena=(-5.0, -5.0, 1.5, 5.0))
    # 20 s: returns that may be robots are approached at half the rate, so more slowly.
    return drive_at_wall(loop, scan_of_wall, steps=400)


def test_scan_returns_on_the_map_carry_no_motion_margin():
    # Without the map the wall's returns are grown by the 0.1 m motion margin (they could be
    # a robot); matched to the arena they are the wall, kept D/2 off like the arena itself.
    plain, mapped = drive_at_a_mapped_wall(0.0), drive_at_a_mapped_wall(0.05)
    assert mapped - plain == pytest.approx(0.1, abs=0.02)  # the margin, and only it


class ScanDriver(RobotDriver):
    """The robot driver plus a lidar publishing a wall 1.5 m ahead of the robot's start."""

    def __init__(self, node, namespace: str) -> None:
        super().__init__(node, namespace)
        self.scan = node.create_publisher(LaserScan, f"{namespace}/scan", qos_profile_sensor_data)
        self.send_scan = True

    def publish_inputs(self) -> None:
        super().publish_inputs()
        if self.send_scan:
            message = LaserScan(
                angle_min=GEOMETRY.angle_min,
                angle_max=GEOMETRY.angle_min + GEOMETRY.angle_increment * (BEAMS - 1),
                angle_increment=GEOMETRY.angle_increment,
                range_min=GEOMETRY.range_min,
                range_max=GEOMETRY.range_max,
            )
            message.header.frame_id = "base_scan"
            message.ranges = wall_ranges(1.5, self.pose[0]).astype(np.float32).tolist()
            self.scan.publish(message)


@pytest.mark.ros
def test_node_stops_a_robot_driving_at_a_wall_seen_only_by_lidar(ros_context, executor):
    import rclpy

    node = CbfSafetyNode(
        namespace="/robot_s",
        context=ros_context,
        parameter_overrides=[
            Parameter("control_rate_hz", value=20.0),
            Parameter("use_scan", value=True),
            Parameter("safety_distance", value=0.4),
            Parameter("scan_timeout", value=0.4),
        ],
    )
    probe = rclpy.create_node("scan_probe", context=ros_context)
    driver = ScanDriver(probe, "/robot_s")
    driver.nominal_command = np.array([1.0, 0.0])
    executor.add_node(node)
    executor.add_node(probe)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        for x in (0.0, 0.9, 1.18):  # the robot moves closer between rounds
            driver.pose = np.array([x, 0.0, 0.0])
            driver.commands.clear()
            assert spin_driving(executor, driver, 5.0, lambda: len(driver.commands) > 3)
        assert driver.latest_command()[0] <= 0.05  # at the wall: may not drive on
        assert driver.latest_status().num_constraints >= 1
        driver.send_scan = False

        def stopped() -> bool:
            status = driver.latest_status()
            return status is not None and status.reason.startswith("scan: stale")

        assert spin_driving(executor, driver, 5.0, stopped)
        assert driver.latest_command()[0] == 0.0
    finally:
        node.destroy_node()
        probe.destroy_node()


@pytest.mark.ros
def test_node_takes_the_static_tolerance_and_its_map_from_parameters(ros_context):
    node = CbfSafetyNode(
        namespace="/robot_m",
        context=ros_context,
        parameter_overrides=[
            Parameter("use_scan", value=True),
            Parameter("safety_distance", value=0.45),
            Parameter("scan_static_tolerance", value=0.05),
            Parameter("arena", value=[-5.0, -5.0, 1.5, 5.0]),
        ],
    )
    try:
        scan = node._config().scan
        assert (scan.static_tolerance, scan.static_window) == (0.05, 0.45)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.loop._static_map.bounds == (-5.0, -5.0, 1.5, 5.0)
        result = node.set_parameters([Parameter("scan_static_tolerance", value=-0.1)])
        assert not result[0].successful  # outside its declared range
    finally:
        node.destroy_node()


def test_returns_that_may_be_robots_are_approached_at_half_the_barrier_rate():
    # A robot it has no report of spends its own half of the pair's barrier (as any listed
    # neighbour does), so the loop spends only half its rate on scan returns charged the motion
    # margin: at alpha 2 exactly as on the same discs given as known obstacles at alpha 1.
    from fleetpilot.ros.robot_safety import RobotSafetyConfig, RobotSafetyLoop
    from fleetpilot.ros.tuning import make_tuner_adapter
    from fleetpilot.safety.scan_obstacles import scan_to_obstacles

    reduction = ScanReduction(max_range=2.0, motion_margin=0.1)
    x = 0.6  # the wall at 1.5 m: the point's rows hold back the nominal 1 m/s
    ranges, geometry = scan_of_wall(x)
    circles = scan_to_obstacles(ranges, geometry, (x, 0.0, 0.0), reduction)

    def command(alpha, **config):
        loop = RobotSafetyLoop(
            RobotSafetyConfig(robot_id="me", safety_distance=0.4, **config),
            make_tuner_adapter(f"fixed:alpha={alpha}"),
        )
        loop.set_odometry(0.0, np.array([x, 0.0, 0.0]), np.zeros(2))
        loop.set_neighbours(0.0, neighbours([], []))
        loop.set_nominal(0.0, np.array([1.0, 0.0]))
        if "scan" in config:
            loop.set_scan(0.0, ranges, geometry)
        decision = loop.tick(0.0)
        assert decision.mode == SafetyMode.FILTERED
        return decision.command

    seen_by_scan = command(2.0, scan=reduction)
    assert np.allclose(seen_by_scan, command(1.0, obstacles=circles.reshape(-1)))
    assert seen_by_scan[0] < command(2.0, obstacles=circles.reshape(-1))[0]
