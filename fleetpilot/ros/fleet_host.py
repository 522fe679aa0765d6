"""``fleet_host``: many robots' per-robot nodes in one process, for simulated fleets.

Each robot still gets its own ``cbf_safety`` and ``goal_follower`` nodes in its own namespace,
with the same topics and parameters (``--params-file`` blocks like ``/**/cbf_safety`` apply to
each), so the rest of the system cannot tell the difference. Hosting them in one process spares
a small machine one Python interpreter (and torch import) per node, and keeps the number of DDS
participants low (Fast DDS discovery degrades beyond ~100 participants on one host). Real
robots run the separate executables instead. The nodes share one single-threaded executor:
every callback is short, and one thread keeps the host's CPU use predictable. ``executor:
events`` selects rclpy's experimental EventsExecutor (Jazzy and later, not Humble), which
avoids rebuilding a wait set over every hosted entity per callback; see
``docs/results/ros_loop.md`` for what that buys.
"""

from __future__ import annotations

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from fleetpilot.ros.cbf_safety_node import CbfSafetyNode
from fleetpilot.ros.goal_follower_node import GoalFollowerNode
from fleetpilot.ros.lifecycle import autostart
from fleetpilot.ros.params import declare_value

NODE_KINDS = {"cbf_safety": CbfSafetyNode, "goal_follower": GoalFollowerNode}


def robot_nodes(robots: list[str], kinds: list[str], context=None) -> list:
    """One node of each kind per robot, each in the robot's namespace."""
    unknown = [kind for kind in kinds if kind not in NODE_KINDS]
    if unknown:
        raise ValueError(f"nodes: expected kinds from {sorted(NODE_KINDS)}, got {unknown}")
    if not robots or any(not robot for robot in robots):
        raise ValueError(f"robots: expected non-empty robot names, got {robots}")
    return [
        NODE_KINDS[kind](namespace=f"/{robot}", context=context)
        for robot in robots
        for kind in kinds
    ]


def make_executor(kind: str):
    """``single`` (every distribution) or ``events`` (rclpy.experimental, Jazzy and later)."""
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor()
    if kind != "single":
        raise ValueError(f"executor: expected single or events, got {kind!r}")
    return SingleThreadedExecutor()


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    host = rclpy.create_node("fleet_host")
    declare_value(host, "robots", ["robot_0"], "robot namespaces to host")
    declare_value(host, "nodes", list(NODE_KINDS), "node kinds to run for each robot")
    declare_value(host, "autostart", True, "configure and activate every hosted node")
    host.declare_parameter(
        "executor",
        "single",
        ParameterDescriptor(description="single, or events (Jazzy+)", read_only=True),
    )
    nodes = []
    executor = SingleThreadedExecutor()
    try:
        executor = make_executor(host.get_parameter("executor").value)
        nodes = robot_nodes(
            list(host.get_parameter("robots").value), list(host.get_parameter("nodes").value)
        )
        for node in nodes:
            executor.add_node(node)
            if host.get_parameter("autostart").value:
                autostart(node)
        executor.add_node(host)
        # spin() of the EventsExecutor does not return on shutdown (Jazzy); a spin_once loop
        # checking the context stops either executor on SIGINT/SIGTERM.
        while rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ValueError as error:
        host.get_logger().error(str(error))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if rclpy.ok():  # not the "context is invalid" of a callback cut short by shutdown
            raise
    finally:
        for node in nodes:
            node.destroy_node()
        host.destroy_node()
        rclpy.try_shutdown()
