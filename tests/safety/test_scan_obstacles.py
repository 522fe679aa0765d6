"""Scans to CBF obstacles: hand-built scans, the LaserScan conventions, masking, static returns
on a map (no motion margin) next to unmapped ones (full margin), and a robot kept off a wall
that only its lidar sees."""

import numpy as np
import pytest

from fleetpilot.safety import SingleIntegratorCBF
from fleetpilot.safety.scan_obstacles import (
    ScanGeometry,
    ScanReduction,
    StaticMap,
    scan_points,
    scan_to_obstacles,
    static_returns,
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


# The wall x = 1.0 as the east side of a mapped room; the margin of a silent robot's reach.
ROOM = StaticMap(np.zeros((0, 3)), bounds=(-3.0, -3.0, 1.0, 3.0))
MOVING = ScanReduction(motion_margin=0.1, static_tolerance=0.05, static_window=0.4)
STILL_RADIUS = 3 * 0.01  # noise only; plus half the beam spacing at each circle's range


def margins(circles: np.ndarray, sensor=(0.0, 0.0)) -> np.ndarray:
    """Each circle's radius less the noise and beam-spacing terms: its motion margin."""
    spacing = np.linalg.norm(circles[:, :2] - sensor, axis=1) * GEOMETRY.angle_increment / 2
    return circles[:, 2] - STILL_RADIUS - spacing


def test_returns_on_the_map_get_no_motion_margin_and_others_keep_it():
    charged = scan_to_obstacles(wall_scan(1.0), GEOMETRY, (0, 0, 0), MOVING)
    on_map = scan_to_obstacles(wall_scan(1.0), GEOMETRY, (0, 0, 0), MOVING, static_map=ROOM)
    np.testing.assert_array_equal(on_map[:, :2], charged[:, :2])  # the same returns
    np.testing.assert_allclose(margins(charged), 0.1, atol=1e-12)
    np.testing.assert_allclose(margins(on_map), 0.0, atol=1e-12)
    # A wall that is not where the map has it (5 cm off, beyond the tolerance) keeps the margin.
    moved = scan_to_obstacles(wall_scan(0.94), GEOMETRY, (0, 0, 0), MOVING, static_map=ROOM)
    np.testing.assert_allclose(margins(moved), 0.1, atol=1e-12)
    # report_moving names the circles that carry the margin (they may be robots).
    circles, moving = scan_to_obstacles(
        wall_scan(1.0), GEOMETRY, (0, 0, 0), MOVING, static_map=ROOM, report_moving=True
    )
    np.testing.assert_array_equal(circles, on_map)
    assert moving.shape == (len(on_map),) and not moving.any()
    circles, moving = scan_to_obstacles(
        wall_scan(0.94), GEOMETRY, (0, 0, 0), MOVING, static_map=ROOM, report_moving=True
    )
    np.testing.assert_array_equal(circles, moved)
    assert moving.all()
    # Without a tolerance nothing is static.
    off = ScanReduction(motion_margin=0.1, static_tolerance=0.0)
    np.testing.assert_allclose(
        margins(scan_to_obstacles(wall_scan(1.0), GEOMETRY, (0, 0, 0), off, static_map=ROOM)),
        0.1,
        atol=1e-12,
    )


def test_a_robot_against_a_mapped_wall_keeps_the_margin_on_the_wall_around_it():
    """A silent robot (radius 0.2) touching the mapped wall: its returns, those pressed against
    the wall included, and the wall's returns within the window of it keep the full margin;
    the wall far from it does not."""
    robot = np.array([0.8, 0.6])
    pose = (0.5, -1.0, 0.0)  # looking up along the wall: the robot's side against it shows
    ranges = np.minimum(wall_scan(1.0, pose), pillar_scan(robot, 0.2, pose))
    distances, angles = scan_points(ranges, GEOMETRY)
    points = np.array(pose[:2]) + distances[:, None] * np.stack(
        [np.cos(angles), np.sin(angles)], axis=1
    )
    # A wide tolerance, so that the scan sees some of the robot within it of the wall.
    reduction = ScanReduction(motion_margin=0.1, static_tolerance=0.15, static_window=0.4)
    static = static_returns(points, ROOM, reduction)
    on_robot = np.abs(np.linalg.norm(points - robot, axis=1) - 0.2) < 1e-9
    assert on_robot.sum() >= 5 and not static[on_robot].any()
    # Some of the robot's returns are on the map (within the tolerance): charged anyway.
    assert (on_robot & (np.abs(points[:, 0] - 1.0) <= 0.15)).any()
    off_map = points[on_robot & (np.abs(points[:, 0] - 1.0) > 0.15)]
    assert len(off_map) >= 5

    def in_window(xy):  # within static_window of one of the robot's off-map returns
        return (np.linalg.norm(xy[:, None] - off_map[None], axis=2) <= 0.4).any(axis=1)

    wall = np.abs(points[:, 0] - 1.0) < 1e-9
    assert (wall & in_window(points)).sum() >= 3  # wall beside the robot: charged
    np.testing.assert_array_equal(static, wall & ~in_window(points))
    far_wall = wall & (np.abs(points[:, 1] - robot[1]) > 0.7)
    assert far_wall.sum() >= 20 and static[far_wall].all()
    circles = scan_to_obstacles(ranges, GEOMETRY, pose, reduction, static_map=ROOM)
    near = in_window(circles[:, :2])
    assert near.any() and (~near).any()
    np.testing.assert_allclose(margins(circles[near], pose[:2]), 0.1, atol=1e-12)
    np.testing.assert_allclose(margins(circles[~near], pose[:2]), 0.0, atol=1e-12)


def test_a_robot_beyond_the_sensing_radius_still_charges_the_wall_beside_it():
    """A robot touching the mapped wall, all of it beyond max_range (2 m): it gives no circle,
    but the wall returns inside the range within the window of it keep the margin."""
    robot = np.array([0.8, 2.07])  # its nearest point is 2.02 m from the sensor
    ranges = np.minimum(wall_scan(1.0), pillar_scan(robot, 0.2))
    distances, angles = scan_points(ranges, GEOMETRY)
    points = distances[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    inside = distances <= MOVING.max_range
    wall = np.abs(points[inside, 0] - 1.0) < 1e-9
    beyond = points[~inside]
    off_map = beyond[np.abs(beyond[:, 0] - 1.0) > 0.05]  # the robot, out of range
    assert len(off_map) >= 3
    near = (np.linalg.norm(points[inside][:, None] - off_map[None], axis=2) <= 0.4).any(1)
    assert (wall & near).sum() >= 3 and (wall & ~near).sum() >= 20
    static = static_returns(points[inside], ROOM, MOVING, beyond)
    assert not static[near].any() and static[wall & ~near].all()
    assert static_returns(points[inside], ROOM, MOVING).all()  # without those: all wall
    circles = scan_to_obstacles(ranges, GEOMETRY, (0, 0, 0), MOVING, static_map=ROOM)
    assert (np.linalg.norm(circles[:, :2], axis=1) <= 2.0).all()  # none on the robot


def test_a_sector_keeps_the_circle_that_reaches_nearest():
    """One sector: a mapped wall 1.0 m ahead and an unmapped pillar whose nearest return is
    1.05 m away. Its circle, charged the margin, reaches nearer than the wall's: it is kept."""
    pillar = np.array([0.0, -1.15])
    ranges = np.minimum(wall_scan(1.0), pillar_scan(pillar, 0.1))
    one_sector = ScanReduction(
        max_obstacles=1, motion_margin=0.1, static_tolerance=0.05, static_window=0.4
    )
    kept = scan_to_obstacles(ranges, GEOMETRY, (0, 0, 0), one_sector, static_map=ROOM)
    assert len(kept) == 1
    np.testing.assert_allclose(np.linalg.norm(kept[0, :2] - pillar), 0.1, atol=1e-9)
    np.testing.assert_allclose(margins(kept), 0.1, atol=1e-12)
    # Without the map every circle carries the margin and the nearest return wins: the wall.
    charged = scan_to_obstacles(ranges, GEOMETRY, (0, 0, 0), one_sector)
    np.testing.assert_allclose(charged[0, :2], [1.0, 0.0], atol=1e-9)


def test_static_map_distances_and_bad_values():
    pillars = StaticMap([[2.0, 0.0, 0.5]], bounds=(-1.0, -1.0, 4.0, 1.0))
    gaps = pillars.gap(np.array([[2.0, 0.6], [0.0, 0.0], [1.4, 0.0]]))
    np.testing.assert_allclose(gaps, [0.1, 1.0, 0.1])  # pillar top, west wall, pillar side
    assert StaticMap(np.zeros((0, 3))).gap(np.zeros((2, 2))).tolist() == [np.inf, np.inf]
    with pytest.raises(ValueError, match="bounds"):
        StaticMap(np.zeros((0, 3)), bounds=(1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="discs"):
        StaticMap([[0.0, 0.0, -1.0]])
    with pytest.raises(ValueError, match="static_tolerance"):
        ScanReduction(static_tolerance=-0.01)
    with pytest.raises(ValueError, match="static_window"):
        ScanReduction(static_window=float("nan"))


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
