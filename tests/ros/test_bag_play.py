"""Playing recorded bags over real rclpy: every message arrives, decoded by ROS 2's own type
support, with the recorded values and pace; bad bytes and unknown types are left out by name."""

import json
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.ros.bag_play import BagPlayer, bag_topics, message_class, read_bag
from fleetpilot.safety.status import SafetyMode
from fleetpilot.sim.bag import BagWriter, fleetpilot_typestore
from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")

TICKS, DT = 10, 0.05
ROBOTS = ("robot_0", "robot_1")


def record(path):
    scan = SimpleNamespace(angle_min=-np.pi, angle_increment=np.pi / 2, range_min=0.1, range_max=8)
    with BagWriter(path) as bag:
        for tick in range(TICKS):
            t = DT * tick
            bag.transforms(t, list(ROBOTS), np.array([[t, 0.0, 0.0], [0.0, t, 1.0]]))
            for number, robot in enumerate(ROBOTS):
                pose = np.array([t, float(number), 0.5])
                bag.odometry(robot, t, pose, np.array([0.3, 0.0]), 0.1)
                bag.command(robot, t, np.array([0.3, 0.1 * number]))
                bag.safety_status(robot, t, SafetyMode.FILTERED, 0.5, 1e-4, 3)
                bag.laser_scan(robot, t, np.array([1.0, np.inf, 2.5, 0.4]), scan)
        bag.tasks(0.2, [FleetTask("pick_7", np.array([1.0, 2.0]), np.array([3.0, 4.0]), 2.5)])
        bag.assignments(0.25, [("pick_7", "robot_1")])
    return bag.counts


def test_every_message_arrives_decoded_by_ros_with_the_recorded_values(tmp_path, ros_context):
    counts = record(tmp_path / "bag")
    player_node = rclpy.create_node("bag_player", context=ros_context)
    listener = rclpy.create_node("bag_listener", context=ros_context)
    executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    player = BagPlayer(player_node, tmp_path / "bag", queue_depth=200)
    tf_installed = True
    try:
        message_class("tf2_msgs/msg/TFMessage")
    except LookupError:
        tf_installed = False
    if tf_installed:
        assert "/tf" not in player.report.skipped_topics
    else:  # like `ros2 bag play`, a topic without type support is left out, by name
        assert "tf2_msgs" in player.report.skipped_topics["/tf"]
    played = {topic for topic in counts if topic not in player.report.skipped_topics}
    received = {topic: [] for topic in played}
    types = bag_topics(tmp_path / "bag")
    for topic in played:
        listener.create_subscription(
            message_class(types[topic]),
            topic,
            lambda msg, topic=topic: received[topic].append(msg),
            200,
        )
    assert player.wait_for_subscribers(10.0)
    rate = 5.0
    thread = threading.Thread(target=player.play, args=(rate,))
    thread.start()
    try:
        spin_until(
            executor,
            lambda: all(len(received[t]) == counts[t] for t in played) and not thread.is_alive(),
            30.0,
        )
    finally:
        thread.join(30.0)
    report = player.report
    assert report.published == {topic: counts[topic] for topic in played}
    assert {topic: len(messages) for topic, messages in received.items()} == report.published
    assert report.skipped_messages == []
    # Paced by the recorded stamps: 0.45 s of bag at 5x takes at least 0.09 s.
    assert report.bag_seconds == pytest.approx((TICKS - 1) * DT)
    assert report.wall_seconds >= report.bag_seconds / rate - 0.01

    odom = received["/robot_1/odom"][4]
    assert odom.pose.pose.position.x == pytest.approx(4 * DT)
    assert odom.pose.pose.position.y == pytest.approx(1.0)
    assert odom.header.stamp.nanosec == 200_000_000
    assert received["/robot_1/cmd_vel"][0].angular.z == pytest.approx(0.1)
    status = received["/robot_0/safety_status"][0]
    assert status.mode == SafetyMode.FILTERED and status.num_constraints == 3
    scan = received["/robot_0/scan"][3]
    assert np.isinf(scan.ranges[1]) and scan.ranges[3] == pytest.approx(0.4)
    task = received["/fleet/tasks"][0].tasks[0]
    assert (task.id, task.dropoff_x, task.value) == ("pick_7", 3.0, 2.5)
    assignment = received["/fleet/assignments"][0].assignments[0]
    assert (assignment.task_id, list(assignment.robot_ids)) == ("pick_7", ["robot_1"])
    executor.shutdown()


def corrupt_copy(source, target, topic, index):
    """A copy of bag ``source`` whose ``index``-th message on ``topic`` is cut short."""
    store = fleetpilot_typestore()
    seen = 0
    with (
        Reader(source) as reader,
        Writer(target, version=9, storage_plugin=StoragePlugin.MCAP) as out,
    ):
        connections = {
            c.id: out.add_connection(c.topic, c.msgtype, typestore=store)
            for c in reader.connections
        }
        for connection, stamp, raw in reader.messages():
            if connection.topic == topic:
                if seen == index:
                    raw = bytes(raw)[:10]
                seen += 1
            out.write(connections[connection.id], stamp, raw)


def test_a_message_that_does_not_decode_is_skipped_by_name_and_the_rest_plays(
    tmp_path, ros_context
):
    counts = record(tmp_path / "bag")
    corrupt_copy(tmp_path / "bag", tmp_path / "bad", "/robot_0/odom", 3)
    player = BagPlayer(rclpy.create_node("bag_player", context=ros_context), tmp_path / "bad")
    report = player.play(rate=50.0)
    assert len(report.skipped_messages) == 1
    assert report.skipped_messages[0].startswith("/robot_0/odom message 3 at 0.150 s")
    assert report.published["/robot_0/odom"] == counts["/robot_0/odom"] - 1
    assert report.published["/robot_1/odom"] == counts["/robot_1/odom"]


def test_bad_requests_are_refused_by_name(tmp_path, ros_context):
    record(tmp_path / "bag")
    node = rclpy.create_node("bag_player", context=ros_context)
    with pytest.raises(ValueError, match=r"topics \['/nowhere'\] are not in the bag"):
        BagPlayer(node, tmp_path / "bag", topics=["/robot_0/odom", "/nowhere"])
    with pytest.raises(FileNotFoundError, match="no rosbag2 metadata.yaml"):
        BagPlayer(node, tmp_path)
    with pytest.raises(ValueError, match="queue_depth must be >= 1, got 0"):
        BagPlayer(node, tmp_path / "bag", queue_depth=0)
    player = BagPlayer(node, tmp_path / "bag", topics=["/robot_0/odom"])
    with pytest.raises(ValueError, match="rate must be a finite number > 0, got nan"):
        player.play(rate=float("nan"))
    assert player.play(rate=100.0).published == {"/robot_0/odom": TICKS}
    with pytest.raises(ValueError, match="package/msg/Name"):
        message_class("Odometry")
    with pytest.raises(LookupError, match="nav_msgs has no message 'Nothing'"):
        message_class("nav_msgs/msg/Nothing")
    assert [topic for topic, *_ in read_bag(tmp_path / "bag", ["/fleet/tasks"])] == [
        "/fleet/tasks"
    ]


def test_the_command_plays_a_bag_and_prints_what_it_sent(tmp_path):
    counts = record(tmp_path / "bag")
    command = [sys.executable, "-m", "fleetpilot.cli", "bag-play"]
    result = subprocess.run(
        [*command, str(tmp_path / "bag"), "--rate", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["published"]["/robot_0/odom"] == counts["/robot_0/odom"]
    assert report["published"]["/fleet/assignments"] == 1
    bad = subprocess.run(
        [*command, str(tmp_path), "--rate", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--rate must be a finite number > 0, got 0.0" in bad.stdout
