"""Play a rosbag2 (MCAP or SQLite3) over ROS 2 with rclpy, at the recorded pace.

Where ROS 2 is installed, ``ros2 bag play`` does this; where only rclpy and the message
packages are (pip-installed ROS 2, a CI job) this player does the same for any bag, fleetpilot's
recordings included::

    fleetpilot bag-play runs/demo/bag --rate 2

Every message is sent as its recorded CDR bytes (rclpy publishes serialized data as it is), so
subscribers decode it with ROS 2's own type support, exactly as from ``ros2 bag play``. Before
it is sent, each message is decoded once with that type support: a message that does not decode
is skipped with a warning naming its topic, index and time, and the rest still plays. Topics
whose message package is not installed are not played (a warning names them), as
``ros2 bag play`` ignores topics it has no type support for.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 folder (MCAP or SQLite3 storage)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument(
        "--topics", nargs="+", default=None, metavar="TOPIC", help="play only these topics"
    )
    parser.add_argument(
        "--wait-for-subscribers",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before playing, wait up to this long until every played topic has a subscriber",
    )
    parser.add_argument(
        "--queue-depth", type=int, default=100, help="publisher queue depth (reliable QoS)"
    )


def message_class(msgtype: str):
    """The rclpy message class of a ROS type name such as ``nav_msgs/msg/Odometry``.

    Raises:
        ValueError: a malformed name. LookupError: the package or the type is not installed.
    """
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg" or not all(parts):
        raise ValueError(f"message type must look like 'package/msg/Name', got {msgtype!r}")
    package, _, name = parts
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError as error:
        raise LookupError(f"{msgtype}: package {package!r} is not installed") from error
    cls = getattr(module, name, None)
    if cls is None:
        raise LookupError(f"{msgtype}: {package} has no message {name!r}")
    return cls


@dataclass
class PlayReport:
    """What a playback sent and left out."""

    published: dict[str, int] = field(default_factory=dict)
    skipped_messages: list[str] = field(default_factory=list)
    skipped_topics: dict[str, str] = field(default_factory=dict)
    bag_seconds: float = 0.0
    wall_seconds: float = 0.0


def bag_topics(path: str | Path, topics: list[str] | None = None) -> dict[str, str]:
    """``{topic: msgtype}`` of the bag at ``path``: every topic, or the given ones.

    Raises:
        FileNotFoundError: no rosbag2 at ``path``. ValueError: a requested topic is not in it.
    """
    with _open(path) as reader:
        return _select(reader.connections, topics)


def _open(path: str | Path):
    """A rosbags reader of the bag at ``path``, unopened; FileNotFoundError if there is none."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not (path / "metadata.yaml").is_file():
        raise FileNotFoundError(f"bag: no rosbag2 metadata.yaml in {path}")
    return Reader(path)


def _select(connections, topics: list[str] | None) -> dict[str, str]:
    """``{topic: msgtype}`` of ``connections``, every one or the given topics (ValueError
    naming those that are missing)."""
    known = {connection.topic: connection.msgtype for connection in connections}
    if topics is None:
        return known
    missing = sorted(set(topics) - set(known))
    if missing:
        raise ValueError(f"topics {missing} are not in the bag (it has {sorted(known)})")
    return {topic: known[topic] for topic in topics}


def read_bag(path: str | Path, topics: list[str] | None = None) -> Iterator[tuple]:
    """``(topic, msgtype, timestamp_ns, raw_cdr)`` in time order, from every or the given topics.

    Raises:
        FileNotFoundError: no bag at ``path``. ValueError: a requested topic is not in the bag.
    """
    with _open(path) as reader:
        selected = _select(reader.connections, topics)
        connections = [c for c in reader.connections if c.topic in selected]
        for connection, timestamp, raw in reader.messages(connections=connections):
            yield connection.topic, connection.msgtype, timestamp, bytes(raw)


class BagPlayer:
    """Publishes a bag's messages on a node, paced by their recorded timestamps.

    Args:
        node: the rclpy node that owns the publishers.
        path: the bag folder.
        topics: topics to play (default: all whose message package is installed).
        queue_depth: reliable, keep-last publisher queue depth.
    """

    def __init__(self, node, path: str | Path, topics: list[str] | None = None, queue_depth=100):
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        if queue_depth < 1:
            raise ValueError(f"queue_depth must be >= 1, got {queue_depth}")
        self.node = node
        self.path = Path(path)
        self.report = PlayReport()
        self._publishers = {}
        self._classes = {}
        qos = QoSProfile(depth=queue_depth, reliability=ReliabilityPolicy.RELIABLE)
        for topic, msgtype in sorted(bag_topics(self.path, topics).items()):
            try:
                cls = message_class(msgtype)
            except (LookupError, ValueError) as error:
                self.report.skipped_topics[topic] = str(error)
                node.get_logger().warning(f"not playing {topic}: {error}")
                continue
            self._classes[topic] = cls
            self._publishers[topic] = node.create_publisher(cls, topic, qos)

    def wait_for_subscribers(self, timeout: float) -> bool:
        """Waits until every played topic has a subscriber; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self._publishers.values()):
                return True
            time.sleep(0.02)
        return all(p.get_subscription_count() > 0 for p in self._publishers.values())

    def play(self, rate: float = 1.0) -> PlayReport:
        """Sends every message at ``(t - t_first) / rate`` after the start; returns the report."""
        from rclpy.serialization import deserialize_message

        if not (math.isfinite(rate) and rate > 0.0):
            raise ValueError(f"rate must be a finite number > 0, got {rate}")
        start, first = time.monotonic(), None
        index: dict[str, int] = {}
        last = 0
        messages = read_bag(self.path, list(self._publishers)) if self._publishers else ()
        for topic, _, stamp, raw in messages:
            first = stamp if first is None else first
            last = stamp
            number = index[topic] = index.get(topic, -1) + 1
            try:  # decoded once with ROS 2's type support: bad bytes never go out
                deserialize_message(raw, self._classes[topic])
            except Exception as error:  # noqa: BLE001 - any decode failure skips the message
                note = f"{topic} message {number} at {stamp * 1e-9:.3f} s: {error}"
                self.report.skipped_messages.append(note)
                self.node.get_logger().warning(f"skipped {note}")
                continue
            delay = start + (stamp - first) * 1e-9 / rate - time.monotonic()
            if delay > 0.0:
                time.sleep(delay)
            self._publishers[topic].publish(raw)
            self.report.published[topic] = self.report.published.get(topic, 0) + 1
        self.report.bag_seconds = 0.0 if first is None else (last - first) * 1e-9
        self.report.wall_seconds = time.monotonic() - start
        return self.report


def main(args: argparse.Namespace) -> int:
    import rclpy

    if not (math.isfinite(args.rate) and args.rate > 0.0):
        print(f"bag-play: --rate must be a finite number > 0, got {args.rate}")
        return 2
    rclpy.init()
    try:
        node = rclpy.create_node("fleetpilot_bag_player")
        try:
            player = BagPlayer(node, args.bag, args.topics, args.queue_depth)
        except (FileNotFoundError, ValueError) as error:
            print(f"bag-play: {error}")
            return 2
        if args.wait_for_subscribers > 0.0 and not player.wait_for_subscribers(
            args.wait_for_subscribers
        ):
            node.get_logger().warning("playing although some topics have no subscriber yet")
        report = player.play(args.rate)
        print(json.dumps(dataclasses.asdict(report)))
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    return 0
