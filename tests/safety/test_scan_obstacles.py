"""Scans to CBF obstacles: hand-built scans, the LaserScan conventions, masking, and a robot
kept off a wall that only its lidar sees."""

import numpy as np
import pytest

from fleetpilot.safety import SingleIntegratorCBF
from fleetpilot.safety.scan_obstacles import (
    ScanGeometry,
    ScanReduction,
    scan_points,
    scan_to_obstacles,
)

BEAMS = 360
GEOMETRY = ScanGeometry(
    angle_min=-np.pi, angle_increment=2 * np.pi / BEAMS, range_min=0.05, range_max=10.0
)
ANGLES = GEOMETRY.angle_min + GEOMETRY.angle_increment * np.arange(BEAMS)


def wall_scan(x_wall: float, pose=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Ranges to the wall x = x_wall from a sensor at pose (inf where a beam misses it)."""
    world = ANGLES + pose[2]
    with np.errstate(divide="ignore"):
        ranges = (x_wall - pose[0]) / np.cos(world)
    return np.where((ranges > 0) & (ranges <= GEOMETRY.range_max), ranges, np.inf)


def pillar_scan(centre, radius, pose=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Ranges to a circular pillar (ray-circle intersection), inf where beams miss."""
    direction = np.stack([np.cos(ANGLES + pose[2]), np.sin(ANGLES + pose[2])], 1)
    offset = np.asarray(pose[:2]) - np.asarray(centre)
    b = direction @ offset
    disc = b**2 - (offset @ offset - radius**2)
    hit = -b - np.sqrt(np.maximum(disc, 0))
    return np.where((disc >= 0) & (hit > 0), hit, np.inf)


def test_a_wall_gives_bounded_circles_on_the_wall_nearest_first():
    reduction = ScanReduction(max_range=3.0, max_obstacles=12, range_sigma=0.01)
    circles = scan_to_obstacles(wall_scan(1.0), GEOMETRY, (0, 0, 0), reduction)
    assert 1 <= len(circles) <= 12
    np.testing.assert_allclose(circles[0, :2], [1.0, 0.0], atol=1e-9)  # the foot point
    np.testing.assert_allclose(circles[:, 0], 1.0, atol=1e-9)  # every circle on the wall
    assert np.all(np.diff(np.linalg.norm(circles[:, :2], axis=1)) >= 0)
    assert np.all(circles[:, 2] >= 3 * 0.01)
    assert np.all(np.linalg.norm(circles[:, :2], axis=1) <= 3.0)


def test_a_pillar_is_seen_at_its_surface_in_the_world_frame():
    pose = (2.0, -1.0, 0.7)
    centre = np.array([3.5, -0.5])
    circles = scan_to_obstacles(pillar_scan(centre, 0.3, pose), GEOMETRY, pose, ScanReduction())
    assert len(circles) >= 1
    gap = np.linalg.norm(circles[:, :2] - centre, axis=1)
    np.testing.assert_allclose(gap, 0.3, atol=1e-9)
    expected_nearest = centre - 0.3 * (centre - pose[:2]) / np.linalg.norm(centre - pose[:2])
    np.testing.assert_allclose(circles[0, :2], expected_nearest, atol=0.01)


def test_the_motion_margin_grows_every_circle_by_exactly_its_value():
    still = scan_to_obstacles(wall_scan(1.0), GEOMETRY, (0, 0, 0), ScanReduction())
    moving = scan_to_obstacles(
        wall_scan(1.0), GEOMETRY, (0, 0, 0), ScanReduction(motion_margin=0.1)
    )
    np.testing.assert_array_equal(moving[:, :2], still[:, :2])  # same returns, same places
    np.testing.assert_allclose(moving[:, 2] - still[:, 2], 0.1, atol=1e-12)
    with pytest.raises(ValueError, match=r"motion_margin: expected a finite number >= 0"):
        ScanReduction(motion_margin=-0.1)


def test_laserscan_conventions_nan_inf_minus_inf_and_invalid_values():
    ranges = np.full(BEAMS, np.inf)  # +inf: nothing within range
    ranges[0] = np.nan  # erroneous: ignored
    ranges[10] = -np.inf  # too close: an obstacle at range_min
    ranges[20] = 0.01  # below range_min: invalid
    ranges[30] = 11.0  # above range_max: invalid
    distances, angles = scan_points(ranges, GEOMETRY)
    np.testing.assert_array_equal(distances, [0.05])
    np.testing.assert_allclose(angles, [ANGLES[10]])
    reduction = ScanReduction(body_radius=0.0)
    circles = scan_to_obstacles(ranges, GEOMETRY, (0, 0, 0), reduction)
    np.testing.assert_allclose(np.linalg.norm(circles[0, :2]), 0.05)


def test_own_body_max_range_returns_and_known_neighbours_are_masked():
    ranges = np.full(BEAMS, GEOMETRY.range_max)  # "no return" reported as range_max
    ranges[:5] = 0.1  # the robot's own mast, inside its body radius
    ranges[100:110] = 1.0  # a known neighbour at about 1 m
    reduction = ScanReduction(max_range=2.0, body_radius=0.2)
    neighbour_angle = ANGLES[104]
    neighbour = [[1.2 * np.cos(neighbour_angle), 1.2 * np.sin(neighbour_angle), 0.25]]
    assert len(scan_to_obstacles(ranges, GEOMETRY, (0, 0, 0), reduction, neighbour)) == 0
    unmasked = scan_to_obstacles(ranges, GEOMETRY, (0, 0, 0), reduction)
    assert len(unmasked) >= 1
    assert np.allclose(np.linalg.norm(unmasked[:, :2], axis=1), 1.0)


def test_a_robot_driving_at_a_wall_seen_only_by_lidar_stops_before_it():
    """Each tick: scan from the current pose, turn it into obstacles, filter, move."""
    D, dt = 0.4, 0.05
    reduction = ScanReduction(max_range=2.0, max_obstacles=16, range_sigma=0.005)
    cbf = SingleIntegratorCBF(D, 2.0, 1.0, dt=dt)
    position = np.array([[-1.0, 0.3]])
    for _ in range(200):
        pose = (position[0, 0], position[0, 1], 0.0)
        circles = scan_to_obstacles(wall_scan(1.0, pose), GEOMETRY, pose, reduction)
        u, _ = cbf.filter(position, [[1.0, 0.2]], alpha=5.0, obstacles=circles)
        position = position + dt * u
        assert position[0, 0] <= 1.0 - D / 2 + 1e-9  # never closer than D/2 to the wall
    assert position[0, 0] > 1.0 - D / 2 - 0.05  # and it did get there


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"angle_increment": 0.0}, "angle_increment: expected > 0"),
        ({"range_min": 5.0, "range_max": 1.0}, "range_min, range_max"),
        ({"angle_min": float("nan")}, "angle_min: expected a finite"),
    ],
)
def test_bad_geometry_names_the_field(kwargs, message):
    fields = {"angle_min": 0.0, "angle_increment": 0.01, "range_min": 0.0, "range_max": 5.0}
    with pytest.raises(ValueError, match=message):
        ScanGeometry(**{**fields, **kwargs})


def test_bad_pose_and_reduction_name_the_field():
    with pytest.raises(ValueError, match=r"sensor_pose\[2\]"):
        scan_to_obstacles(wall_scan(1.0), GEOMETRY, (0, 0, np.nan), ScanReduction())
    with pytest.raises(ValueError, match="max_obstacles"):
        ScanReduction(max_obstacles=0)
