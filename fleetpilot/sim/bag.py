"""Writing ROS 2 bags (MCAP) of simulated runs without a ROS installation.

Uses the ``rosbags`` library with the Jazzy type store plus fleetpilot's own message
definitions (read from ``msg/*.msg``), so the bag plays in standard ROS 2 tools and Foxglove
and decodes to the same types the nodes publish.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "fleetpilot"


def interface_directory() -> Path:
    """The folder holding fleetpilot's ``.msg`` files: the repository's, or an install's share."""
    candidates = [Path(__file__).resolve().parents[2] / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE / "msg")
    for candidate in candidates:
        if (candidate / "SafetyStatus.msg").is_file():
            return candidate
    raise FileNotFoundError(f"fleetpilot's msg/*.msg not found in {[str(c) for c in candidates]}")


def fleetpilot_typestore() -> Typestore:
    """The ROS 2 Jazzy type store extended with fleetpilot's interfaces."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for path in sorted(interface_directory().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


class BagWriter:
    """An MCAP rosbag2 of a simulated fleet: odometry, commands, safety status, CBF parameters.

    Args:
        path: the bag folder to create (must not exist).
        frame_id: world frame of every pose.
    """

    def __init__(self, path: str | Path, frame_id: str = "map") -> None:
        self.path = Path(path)
        self.frame_id = frame_id
        self.store = fleetpilot_typestore()
        self._types = self.store.types
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def _write(self, topic: str, msgtype: str, time: float, message) -> None:
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.store)
            self._connections[topic] = connection
        data = self.store.serialize_cdr(message, msgtype)
        self._writer.write(connection, int(round(time * 1e9)), data)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def _stamp(self, time: float):
        sec = math.floor(time)
        return self._types["builtin_interfaces/msg/Time"](
            sec=sec, nanosec=min(int(round((time - sec) * 1e9)), 999_999_999)
        )

    def _header(self, time: float, frame_id: str):
        return self._types["std_msgs/msg/Header"](stamp=self._stamp(time), frame_id=frame_id)

    def odometry(self, robot: str, time: float, pose: np.ndarray, velocity: np.ndarray,
                 yaw_rate: float) -> None:  # fmt: skip
        """``/<robot>/odom``: pose (3,) [x, y, yaw], world velocity (2,), yaw rate [rad/s]."""
        t = self._types
        yaw = float(pose[2])
        forward = math.cos(yaw) * velocity[0] + math.sin(yaw) * velocity[1]
        lateral = -math.sin(yaw) * velocity[0] + math.cos(yaw) * velocity[1]
        message = t["nav_msgs/msg/Odometry"](
            header=self._header(time, self.frame_id),
            child_frame_id=f"{robot}/base_link",
            pose=t["geometry_msgs/msg/PoseWithCovariance"](
                pose=t["geometry_msgs/msg/Pose"](
                    position=t["geometry_msgs/msg/Point"](
                        x=float(pose[0]), y=float(pose[1]), z=0.0
                    ),
                    orientation=self._yaw_quaternion(yaw),
                ),
                covariance=np.zeros(36),
            ),
            twist=t["geometry_msgs/msg/TwistWithCovariance"](
                twist=self._twist_message(forward, lateral, yaw_rate), covariance=np.zeros(36)
            ),
        )
        self._write(f"/{robot}/odom", "nav_msgs/msg/Odometry", time, message)

    def transforms(self, time: float, robots: list[str], poses: np.ndarray) -> None:
        """``/tf``: ``map -> <robot>/base_link`` from each pose (R, 3) [x, y, yaw], and the
        identity ``<robot>/base_link -> <robot>/base_scan``, so RViz and Foxglove's 3D panel
        can place every robot and its scans."""
        t = self._types
        identity = np.array([0.0, 0.0, 0.0])
        frames = [
            (self.frame_id, f"{robot}/base_link", pose)
            for robot, pose in zip(robots, poses, strict=True)
        ] + [(f"{robot}/base_link", f"{robot}/base_scan", identity) for robot in robots]
        message = t["tf2_msgs/msg/TFMessage"](
            transforms=[
                t["geometry_msgs/msg/TransformStamped"](
                    header=self._header(time, parent),
                    child_frame_id=child,
                    transform=t["geometry_msgs/msg/Transform"](
                        translation=t["geometry_msgs/msg/Vector3"](
                            x=float(pose[0]), y=float(pose[1]), z=0.0
                        ),
                        rotation=self._yaw_quaternion(float(pose[2])),
                    ),
                )
                for parent, child, pose in frames
            ]
        )
        self._write("/tf", "tf2_msgs/msg/TFMessage", time, message)

    def _yaw_quaternion(self, yaw: float):
        return self._types["geometry_msgs/msg/Quaternion"](
            x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)
        )

    def _twist_message(self, forward: float, lateral: float, yaw_rate: float):
        vector = self._types["geometry_msgs/msg/Vector3"]
        return self._types["geometry_msgs/msg/Twist"](
            linear=vector(x=float(forward), y=float(lateral), z=0.0),
            angular=vector(x=0.0, y=0.0, z=float(yaw_rate)),
        )

    def command(
        self, robot: str, time: float, command: np.ndarray, topic: str = "cmd_vel"
    ) -> None:
        """``/<robot>/<topic>``: a unicycle command (2,) [v m/s, omega rad/s] as a Twist."""
        message = self._twist_message(command[0], 0.0, command[1])
        self._write(f"/{robot}/{topic}", "geometry_msgs/msg/Twist", time, message)

    def safety_status(self, robot: str, time: float, mode: int, min_barrier: float,
                      solve_time: float, num_constraints: int, reason: str = "",
                      slack: float = 0.0) -> None:  # fmt: skip
        """``/<robot>/safety_status``: what the filter did this tick."""
        message = self._types[f"{PACKAGE}/msg/SafetyStatus"](
            header=self._header(time, self.frame_id),
            agent_id=robot,
            mode=int(mode),
            min_barrier=float(min_barrier),
            slack=float(slack),
            solve_time=float(solve_time),
            num_constraints=int(num_constraints),
            reason=reason,
        )
        self._write(f"/{robot}/safety_status", f"{PACKAGE}/msg/SafetyStatus", time, message)

    def cbf_params(self, robot: str, time: float, alpha: float, nominal_gain: float,
                   safety_distance: float, tangential_gain: float = 0.0) -> None:  # fmt: skip
        """``/<robot>/cbf_params``: the hyperparameters the filter used this tick."""
        message = self._types[f"{PACKAGE}/msg/CbfParams"](
            header=self._header(time, self.frame_id),
            agent_id=robot,
            alpha=float(alpha),
            nominal_gain=float(nominal_gain),
            safety_distance=float(safety_distance),
            tangential_gain=float(tangential_gain),
            neighbor_ids=[],
            neighbor_gains=np.zeros(0),
        )
        self._write(f"/{robot}/cbf_params", f"{PACKAGE}/msg/CbfParams", time, message)

    def laser_scan(self, robot: str, time: float, ranges: np.ndarray, geometry) -> None:
        """``/<robot>/scan``: one scan (beams,) [m] with its ScanGeometry, sensor frame
        ``<robot>/base_scan`` (at the robot's centre, facing forward)."""
        message = self._types["sensor_msgs/msg/LaserScan"](
            header=self._header(time, f"{robot}/base_scan"),
            angle_min=float(geometry.angle_min),
            angle_max=float(geometry.angle_min + geometry.angle_increment * (len(ranges) - 1)),
            angle_increment=float(geometry.angle_increment),
            time_increment=0.0,
            scan_time=0.0,
            range_min=float(geometry.range_min),
            range_max=float(geometry.range_max),
            ranges=np.asarray(ranges, dtype=np.float32),
            intensities=np.zeros(0, dtype=np.float32),
        )
        self._write(f"/{robot}/scan", "sensor_msgs/msg/LaserScan", time, message)

    def tasks(self, time: float, tasks) -> None:
        """``/fleet/tasks``: the open tasks (``FleetTask`` list) as a TaskArray."""
        task_type = self._types[f"{PACKAGE}/msg/Task"]
        messages = [
            task_type(
                id=task.id,
                pickup_x=float(task.pickup[0]),
                pickup_y=float(task.pickup[1]),
                has_dropoff=task.dropoff is not None,
                dropoff_x=0.0 if task.dropoff is None else float(task.dropoff[0]),
                dropoff_y=0.0 if task.dropoff is None else float(task.dropoff[1]),
                value=float(task.value),
                requirements=np.zeros(0),
                min_robots=int(task.min_robots),
                release=self._stamp(max(task.release, 0.0)),
                deadline=self._stamp(0.0 if task.deadline is None else task.deadline),
            )
            for task in tasks
        ]
        message = self._types[f"{PACKAGE}/msg/TaskArray"](
            header=self._header(time, self.frame_id), tasks=messages
        )
        self._write("/fleet/tasks", f"{PACKAGE}/msg/TaskArray", time, message)

    def assignments(self, time: float, pairs: list[tuple[str, str]]) -> None:
        """``/fleet/assignments``: (task id, robot id) pairs as an AssignmentArray."""
        assignment = self._types[f"{PACKAGE}/msg/Assignment"]
        message = self._types[f"{PACKAGE}/msg/AssignmentArray"](
            header=self._header(time, self.frame_id),
            assignments=[
                assignment(task_id=task, robot_ids=[robot], expected_cost=0.0)
                for task, robot in pairs
            ],
        )
        self._write("/fleet/assignments", f"{PACKAGE}/msg/AssignmentArray", time, message)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
