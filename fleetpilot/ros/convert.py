"""Conversion between ROS 2 messages and the numpy arrays the cores use.

Every message is validated on the way in: a NaN/inf value, a wrong-length array or a bad id
raises ValueError naming the field (``agents[2].x``, ``pose.orientation``, ``linear.x``), so
nothing malformed reaches a core. Frames: planar world frame (x, y, yaw); Odometry twists are in
the robot's body frame (``child_frame_id``) per REP 105 and are rotated to the world frame here.
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Quaternion, Twist
from nav_msgs.msg import Odometry
from std_msgs.msg import Header

from fleetpilot.agent_states import AgentStates, as_float_array
from fleetpilot.msg import AgentState, AgentStateArray


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return value


def time_to_seconds(stamp: Time) -> float:
    """builtin_interfaces/Time -> seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_time(seconds: float) -> Time:
    """Seconds (finite, >= 0) -> builtin_interfaces/Time."""
    seconds = _finite("stamp", seconds)
    if seconds < 0:
        raise ValueError(f"stamp: expected a time >= 0 s, got {seconds!r}")
    sec = math.floor(seconds)
    nanosec = min(round((seconds - sec) * 1e9), 999_999_999)
    return Time(sec=int(sec), nanosec=int(nanosec))


def yaw_to_quaternion(yaw: float) -> Quaternion:
    """Planar heading [rad] -> a unit quaternion about +z."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


def quaternion_to_yaw(q: Quaternion, field: str = "orientation") -> float:
    """Unit quaternion -> yaw [rad]; rejects non-finite or zero-norm quaternions."""
    values = [_finite(f"{field}.{axis}", getattr(q, axis)) for axis in ("x", "y", "z", "w")]
    if math.fsum(v * v for v in values) < 1e-12:
        raise ValueError(f"{field}: expected a unit quaternion, got all zeros")
    x, y, z, w = values
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def agent_state_array_to_states(msg: AgentStateArray) -> AgentStates:
    """AgentStateArray -> validated AgentStates (world frame of ``msg.header.frame_id``)."""
    count = len(msg.agents)
    positions = np.empty((count, 2))
    headings = np.empty(count)
    velocities = np.empty((count, 2))
    radii = np.empty(count)
    stamps = np.empty(count)
    ids = []
    for index, agent in enumerate(msg.agents):
        prefix = f"agents[{index}]"
        if not agent.id:
            raise ValueError(f"{prefix}.id: expected a non-empty robot id")
        ids.append(agent.id)
        positions[index] = (_finite(f"{prefix}.x", agent.x), _finite(f"{prefix}.y", agent.y))
        headings[index] = _finite(f"{prefix}.heading", agent.heading)
        velocities[index] = (_finite(f"{prefix}.vx", agent.vx), _finite(f"{prefix}.vy", agent.vy))
        radii[index] = _finite(f"{prefix}.radius", agent.radius)
        if radii[index] <= 0:
            raise ValueError(f"{prefix}.radius: expected a positive radius, got {agent.radius!r}")
        stamps[index] = time_to_seconds(agent.stamp)
    return AgentStates(tuple(ids), positions, headings, velocities, radii, stamps)


def states_to_agent_state_array(
    states: AgentStates, frame_id: str, stamp_seconds: float
) -> AgentStateArray:
    """AgentStates -> AgentStateArray with the given world frame and assembly time."""
    msg = AgentStateArray(header=Header(frame_id=frame_id, stamp=seconds_to_time(stamp_seconds)))
    for index, robot_id in enumerate(states.ids):
        msg.agents.append(
            AgentState(
                id=robot_id,
                x=float(states.positions[index, 0]),
                y=float(states.positions[index, 1]),
                heading=float(states.headings[index]),
                vx=float(states.velocities[index, 0]),
                vy=float(states.velocities[index, 1]),
                radius=float(states.radii[index]),
                stamp=seconds_to_time(float(states.stamps[index])),
            )
        )
    return msg


def odometry_to_arrays(msg: Odometry) -> tuple[np.ndarray, np.ndarray, float]:
    """Odometry -> (pose (3,) [x m, y m, yaw rad], world velocity (2,) [m/s], yaw rate [rad/s]).

    The body-frame twist (REP 105: ``child_frame_id``) is rotated into the world frame.
    """
    position = msg.pose.pose.position
    x = _finite("pose.position.x", position.x)
    y = _finite("pose.position.y", position.y)
    yaw = quaternion_to_yaw(msg.pose.pose.orientation, "pose.orientation")
    linear = msg.twist.twist.linear
    forward = _finite("twist.linear.x", linear.x)
    lateral = _finite("twist.linear.y", linear.y)
    yaw_rate = _finite("twist.angular.z", msg.twist.twist.angular.z)
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    velocity = np.array(
        [cos_yaw * forward - sin_yaw * lateral, sin_yaw * forward + cos_yaw * lateral]
    )
    return np.array([x, y, yaw]), velocity, yaw_rate


def arrays_to_odometry(
    pose: np.ndarray,
    velocity: np.ndarray,
    yaw_rate: float,
    frame_id: str,
    child_frame_id: str,
    stamp_seconds: float,
) -> Odometry:
    """(pose (3,), world velocity (2,), yaw rate) -> Odometry with a body-frame twist."""
    pose = as_float_array("pose", pose, (3,))
    velocity = as_float_array("velocity", velocity, (2,))
    yaw_rate = _finite("yaw_rate", yaw_rate)
    msg = Odometry()
    msg.header = Header(frame_id=frame_id, stamp=seconds_to_time(stamp_seconds))
    msg.child_frame_id = child_frame_id
    msg.pose.pose.position.x = float(pose[0])
    msg.pose.pose.position.y = float(pose[1])
    msg.pose.pose.orientation = yaw_to_quaternion(float(pose[2]))
    cos_yaw, sin_yaw = math.cos(pose[2]), math.sin(pose[2])
    msg.twist.twist.linear.x = float(cos_yaw * velocity[0] + sin_yaw * velocity[1])
    msg.twist.twist.linear.y = float(-sin_yaw * velocity[0] + cos_yaw * velocity[1])
    msg.twist.twist.angular.z = float(yaw_rate)
    return msg


def twist_to_command(msg: Twist) -> np.ndarray:
    """Twist -> unicycle command (2,) [v m/s, omega rad/s]; non-finite values are rejected."""
    return np.array([_finite("linear.x", msg.linear.x), _finite("angular.z", msg.angular.z)])


def command_to_twist(command: np.ndarray) -> Twist:
    """Unicycle command (2,) [v m/s, omega rad/s] -> Twist (body frame)."""
    command = as_float_array("command", command, (2,))
    msg = Twist()
    msg.linear.x = float(command[0])
    msg.angular.z = float(command[1])
    return msg
