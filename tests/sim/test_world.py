"""The PyBullet world: the URDF matches the robot model, wheels move robots as commanded,
contacts are counted, and bad input is refused."""

import math
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from fleetpilot.sim.robot import URDF_PATH, DiffDriveSpec
from fleetpilot.sim.world import PyBulletWorld, WorldConfig


def test_urdf_agrees_with_the_robot_model():
    spec = DiffDriveSpec()
    urdf = ElementTree.parse(URDF_PATH).getroot()
    body = urdf.find("link[@name='base_link']/collision/geometry/cylinder")
    assert float(body.get("radius")) == spec.body_radius
    wheel = urdf.find("link[@name='left_wheel']/collision/geometry/cylinder")
    assert float(wheel.get("radius")) == spec.wheel_radius
    left = urdf.find("joint[@name='left_wheel_joint']/origin").get("xyz").split()
    right = urdf.find("joint[@name='right_wheel_joint']/origin").get("xyz").split()
    assert float(left[1]) - float(right[1]) == pytest.approx(spec.track_width)
    masses = [float(m.get("value")) for m in urdf.iter("mass")]
    assert 5.0 <= sum(masses) <= 20.0  # a realistic small indoor base


def test_wheel_speeds_follow_the_unicycle_model_and_limits():
    spec = DiffDriveSpec()
    rates = spec.wheel_speeds(np.array([[0.5, 0.0], [0.0, 1.0], [5.0, 0.0]]))
    np.testing.assert_allclose(rates[0], [10.0, 10.0])  # 0.5 m/s / 0.05 m
    np.testing.assert_allclose(rates[1], [-3.0, 3.0])  # 1 rad/s * 0.15 m / 0.05 m
    np.testing.assert_allclose(rates[2], [20.0, 20.0])  # clipped to 1 m/s


@pytest.mark.parametrize(
    "config",
    [WorldConfig(), WorldConfig(physics_dt=0.01, cone_friction=True)],
    ids=["default", "10ms-cone-friction"],
)
def test_robot_drives_straight_and_turns_as_commanded(config):
    with PyBulletWorld(np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 0.0]]), config=config) as world:
        world.command(np.array([[0.5, 0.0], [0.0, 1.0]]))
        world.advance(1.0)
        halfway = world.poses()
        world.advance(0.8)
        readings = []  # the read-back over the last 0.2 s: the base vibrates on its supports
        for _ in range(round(0.2 / config.physics_dt)):
            world.advance(config.physics_dt)
            readings.append(world.velocities())
        poses = world.poses()
        linear = np.mean([reading[0] for reading in readings], axis=0)
        yaw_rate = np.mean([reading[1] for reading in readings], axis=0)
    assert poses[0, 0] == pytest.approx(1.0, abs=0.08)  # 0.5 m/s for 2 s, after spin-up
    assert abs(poses[0, 1]) < 0.02 and abs(poses[0, 2]) < 0.03
    # Rates over the last second (steady state): the wheels track the command.
    assert poses[0, 0] - halfway[0, 0] == pytest.approx(0.5, abs=0.02)
    # Turning in place is the least exact: about 5 % slow at 1 rad/s with the 25 ms step.
    assert poses[1, 2] - halfway[1, 2] == pytest.approx(1.0, abs=0.07)
    # Read-back velocities (mean of the last 0.2 s): the same, up to the base's vibration.
    assert linear[0] == pytest.approx([0.5, 0.0], abs=0.04)
    assert yaw_rate[1] == pytest.approx(1.0, abs=0.1)
    assert np.linalg.norm(poses[1, :2] - [3.0, 3.0]) < 0.03  # turning in place
    assert poses[1, 2] == pytest.approx(2.0, abs=0.12)


def test_driven_wheels_carry_the_weight_while_manoeuvring():
    # Reversing, then a hard reversing turn and a forward turn: the driven wheels must keep
    # the load, or they slip and the base lags its commands (it rested on its frictionless
    # casters in about a quarter of the steps when they touched the ground with the wheels).
    with PyBulletWorld(np.array([[0.0, 0.0, 0.0]])) as world:
        call, body = world._call, world._robots[0]
        wheels = set(world._wheel_joints)
        world.advance(0.5)  # settles on the ground
        shares = []
        for command, duration in [([-0.8, 0.0], 1.5), ([-0.2, 3.0], 0.5), ([0.6, 3.0], 0.5)]:
            world.command(np.array([command]))
            for _ in range(round(duration / world.config.physics_dt)):
                world.advance(world.config.physics_dt)
                load = np.zeros(2)  # driven wheels, everything else
                for point in call.getContactPoints(bodyA=body, bodyB=world._ground):
                    load[int(point[3] not in wheels)] += point[9]
                shares.append(load[0] / load.sum())
    shares = np.array(shares)
    assert shares.mean() > 0.85
    assert np.mean(shares < 0.5) < 0.1


def test_contacts_are_detected_and_counted_once_per_touch():
    # Two robots driven head-on without any filter, and one driven into the arena wall.
    starts = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, math.pi], [0.0, 2.0, math.pi / 2]])
    with PyBulletWorld(starts, arena=(-3.0, -3.0, 3.0, 2.5)) as world:
        world.command(np.array([[0.6, 0.0], [0.6, 0.0], [0.6, 0.0]]))
        world.advance(3.0)
        contacts = list(world.contacts)
        assert world.tilt().max() < 0.5
    robot_pairs = [c for c in contacts if c.other_kind == "robot"]
    assert len(robot_pairs) == 1 and (robot_pairs[0].robot, robot_pairs[0].other) == (0, 1)
    assert 1.0 < robot_pairs[0].time < 2.0  # gap 2 m - 0.4 m closed at 1.2 m/s
    walls = [c for c in contacts if c.other_kind == "wall"]
    assert [c.robot for c in walls] == [2]


def test_obstacle_contact_is_reported_with_its_index():
    with PyBulletWorld(
        np.array([[0.0, 0.0, 0.0]]), obstacles=np.array([[5.0, 5.0, 0.2], [1.0, 0.0, 0.3]])
    ) as world:
        world.command(np.array([[0.5, 0.0]]))
        world.advance(2.0)
        assert [(c.other_kind, c.other) for c in world.contacts] == [("obstacle", 1)]


def test_bad_input_is_refused_with_the_field_name():
    with pytest.raises(ValueError, match=r"start_poses\[0, 2\]: expected a finite number"):
        PyBulletWorld(np.array([[0.0, 0.0, np.nan]]))
    with pytest.raises(ValueError, match="obstacles: every radius"):
        PyBulletWorld(np.zeros((1, 3)), obstacles=np.array([[1.0, 1.0, -0.2]]))
    with pytest.raises(ValueError, match="physics_dt"):
        WorldConfig(physics_dt=0.0)
    with PyBulletWorld(np.zeros((1, 3))) as world:
        with pytest.raises(ValueError, match=r"commands: expected shape \(1, 2\)"):
            world.command(np.zeros((2, 2)))
        with pytest.raises(ValueError, match="duration: expected a multiple of physics_dt"):
            world.advance(0.015)


def test_contacts_are_found_when_stepping_in_short_control_ticks():
    # The contact pre-check runs per advance: approaching a wall tick by tick must still count
    # the touch once, and a robot pressed against the wall must not count again.
    with PyBulletWorld(np.array([[0.0, 0.0, 0.0]]), arena=(-2.0, -2.0, 1.0, 2.0)) as world:
        world.command(np.array([[0.5, 0.0]]))
        for _ in range(40):
            world.advance(0.1)
        contacts = list(world.contacts)
    assert [(c.robot, c.other_kind) for c in contacts] == [(0, "wall")]
    assert 1.4 < contacts[0].time < 2.0  # 0.8 m to the wall at 0.5 m/s, after spin-up


def test_a_near_miss_is_not_a_contact():
    # Bodies 6 mm apart: Bullet reports contact points up to a few millimetres apart (these
    # counted as contacts before), but only touching bodies count.
    starts = np.array([[0.0, 0.0, 0.0], [0.406, 0.0, 0.0]])
    with PyBulletWorld(starts, obstacles=np.array([[0.0, 0.706, 0.3]])) as world:
        world.command(np.zeros((2, 2)))
        for _ in range(10):
            world.advance(0.1)
        assert world.contacts == []
        world.command(np.array([[0.0, 0.0], [-0.3, 0.0]]))  # now robot 1 backs into robot 0
        world.advance(0.5)
        assert [(c.robot, c.other_kind, c.other) for c in world.contacts] == [(0, "robot", 1)]
