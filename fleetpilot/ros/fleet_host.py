"""``fleet_host``: many robots' per-robot nodes in one process, for simulated fleets.

Each robot still gets its own ``cbf_safety`` and ``goal_follower`` nodes in its own namespace,
with the same topics and parameters (``--params-file`` blocks like ``/**/cbf_safety`` apply to
each), so the rest of the system cannot tell the difference. Hosting them in one process spares
a small machine one Python interpreter (and torch import) per node, and keeps the number of DDS
participants low (Fast DDS discovery degrades beyond ~100 participants on one host). Real
robots run the separate executables instead. The nodes share one single-threaded executor
(every callback is short, and one thread keeps the host's CPU use predictable), picked by the
``executor`` parameter like every executable's (:mod:`fleetpilot.ros.executors`: the
EventsExecutor where rclpy has it, else the SingleThreadedExecutor).
"""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException

from fleetpilot.ros.cbf_safety_node import CbfSafetyNode
from fleetpilot.ros.executors import (
    declare_executor_parameter,
    executor_name,
    make_executor,
    spin_until_shutdown,
)
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


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    host = rclpy.create_node("fleet_host")
    declare_value(host, "robots", ["robot_0"], "robot namespaces to host")
    declare_value(host, "nodes", list(NODE_KINDS), "node kinds to run for each robot")
    declare_value(host, "autostart", True, "configure and activate every hosted node")
    nodes = []
    executor = None
    try:
        executor = make_executor(declare_executor_parameter(host))
        nodes = robot_nodes(
            list(host.get_parameter("robots").value), list(host.get_parameter("nodes").value)
        )
        host.get_logger().info(
            f"hosting {len(nodes)} nodes on the {executor_name(executor)} executor"
        )
        for node in nodes:
            executor.add_node(node)
            if host.get_parameter("autostart").value:
                autostart(node)
        executor.add_node(host)
        spin_until_shutdown(executor)
    except ValueError as error:
        host.get_logger().fatal(str(error))
        raise SystemExit(2) from None
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if rclpy.ok():  # not the "context is invalid" of a callback cut short by shutdown
            raise
    finally:
        if executor is not None:
            executor.shutdown()
        for node in nodes:
            node.destroy_node()
        host.destroy_node()
        rclpy.try_shutdown()
