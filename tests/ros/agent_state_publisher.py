"""Separate-process publisher for the exchange test: publishes a known AgentStateArray at 20 Hz.

Usage: python agent_state_publisher.py TOPIC
"""

import sys

import rclpy
from builtin_interfaces.msg import Time
from fleetpilot.msg import AgentState, AgentStateArray
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import Header


def known_message() -> AgentStateArray:
    """The message the test expects, field by field (values chosen to be exactly representable)."""
    agents = [
        AgentState(
            id=f"robot_{i}",
            x=1.25 * i - 3.5,
            y=-0.75 * i + 2.0,
            heading=0.5 * i - 1.0,
            vx=0.125 * i,
            vy=-0.25 * i,
            radius=0.2 + 0.05 * i,
            stamp=Time(sec=100 + i, nanosec=250_000_000 * i),
        )
        for i in range(3)
    ]
    return AgentStateArray(
        header=Header(frame_id="map", stamp=Time(sec=42, nanosec=7)), agents=agents
    )


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("agent_state_publisher")
    publisher = node.create_publisher(AgentStateArray, sys.argv[1], 10)
    node.create_timer(0.05, lambda: publisher.publish(known_message()))
    print("publishing", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
