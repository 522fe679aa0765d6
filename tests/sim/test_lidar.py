"""Simulated lidar in the PyBullet world: ranges to robots, obstacles and walls, REP 117
misses, and scans that become the expected CBF obstacles."""

import numpy as np
import pytest

from fleetpilot.safety.scan_obstacles import ScanReduction, scan_to_obstacles
from fleetpilot.sim.lidar import LidarConfig, SimulatedLidar
from fleetpilot.sim.world import PyBulletWorld

CONFIG = LidarConfig(beams=360, noise_sigma=0.0, range_max=6.0)


def beam(angle: float) -> int:
    return int(round((angle + np.pi) / (2 * np.pi / CONFIG.beams))) % CONFIG.beams


def test_ranges_hit_robot_bodies_and_obstacles_and_miss_as_inf():
    poses = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, np.pi]])
    obstacles = np.array([[0.0, 3.0, 0.5]])
    with PyBulletWorld(poses, obstacles) as world:
        ranges = SimulatedLidar(CONFIG).scan(world)
    body = world.robot.body_radius
    assert ranges.shape == (2, 360)
    assert ranges[0, beam(0.0)] == pytest.approx(2.0 - body, abs=0.01)  # the other robot
    assert ranges[1, beam(0.0)] == pytest.approx(2.0 - body, abs=0.01)  # its own frame: ahead
    assert ranges[0, beam(np.pi / 2)] == pytest.approx(3.0 - 0.5, abs=0.01)  # the pillar
    assert np.isposinf(ranges[0, beam(-np.pi / 2)])  # nothing there: +inf, not range_max
    assert np.all(ranges[np.isfinite(ranges)] > body)  # never itself


def test_arena_walls_close_every_beam_and_noise_has_the_configured_spread():
    config = LidarConfig(beams=90, noise_sigma=0.02)
    with PyBulletWorld(np.array([[0.0, 0.0, 0.3]]), arena=(-2.0, -2.0, 2.0, 2.0)) as world:
        noisy = np.stack([SimulatedLidar(config, seed=s).scan(world)[0] for s in range(40)])
    assert np.all(np.isfinite(noisy))
    assert noisy.std(axis=0).mean() == pytest.approx(0.02, rel=0.3)
    assert noisy.mean(axis=0).max() <= 2.0 * np.sqrt(2) + 0.05


def test_a_scan_becomes_the_pillar_once_the_known_neighbour_is_masked():
    poses = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    obstacles = np.array([[0.0, 1.2, 0.3]])
    with PyBulletWorld(poses, obstacles) as world:
        ranges = SimulatedLidar(CONFIG).scan(world)[0]
    neighbour = [[1.0, 0.0, world.robot.body_radius]]
    circles = scan_to_obstacles(
        ranges, CONFIG.geometry, poses[0], ScanReduction(max_range=2.0), neighbour
    )
    assert len(circles) >= 1
    gap = np.linalg.norm(circles[:, :2] - obstacles[0, :2], axis=1)
    assert np.all(np.abs(gap - 0.3) < 0.02)  # every circle sits on the pillar's surface


def test_bad_lidar_configuration_names_the_field():
    with pytest.raises(ValueError, match="beams"):
        LidarConfig(beams=0)
    with pytest.raises(ValueError, match="range_min"):
        LidarConfig(range_min=9.0, range_max=8.0)
