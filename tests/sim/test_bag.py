"""Bags written without ROS read back with rosbags: expected topics, counts and values."""

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from fleetpilot.safety.status import SafetyMode
from fleetpilot.sim.bag import BagWriter, fleetpilot_typestore


def test_bag_round_trip(tmp_path):
    path = tmp_path / "run"
    with BagWriter(path) as bag:
        for tick in range(5):
            t = 0.05 * tick
            for robot in ("robot_0", "robot_1"):
                bag.odometry(robot, t, np.array([t, 1.0, np.pi / 2]), np.array([0.0, 0.3]), 0.1)
                bag.command(robot, t, np.array([0.3, 0.1]))
                bag.safety_status(robot, t, SafetyMode.FILTERED, 0.5, 1e-4, 3)
                bag.cbf_params(robot, t, alpha=2.0, nominal_gain=1.0, safety_distance=0.4)
    store = fleetpilot_typestore()
    with Reader(path) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {
            f"/{r}/{topic}": 5
            for r in ("robot_0", "robot_1")
            for topic in ("odom", "cmd_vel", "safety_status", "cbf_params")
        }
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types["/robot_0/safety_status"] == "fleetpilot/msg/SafetyStatus"
        decoded = {}
        for connection, timestamp, raw in reader.messages():
            decoded.setdefault(connection.topic, []).append(
                (timestamp, store.deserialize_cdr(raw, connection.msgtype))
            )
    timestamp, odom = decoded["/robot_1/odom"][2]
    assert timestamp == 100_000_000
    assert odom.pose.pose.position.x == pytest.approx(0.1)
    assert odom.twist.twist.linear.x == pytest.approx(0.3)  # world +y, heading +y: forward
    status = decoded["/robot_0/safety_status"][0][1]
    assert status.mode == SafetyMode.FILTERED and status.num_constraints == 3
    assert decoded["/robot_0/cbf_params"][0][1].alpha == 2.0
