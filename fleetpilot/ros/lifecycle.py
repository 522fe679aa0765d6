"""Running fleetpilot's lifecycle nodes as executables.

Without a lifecycle manager (no ``launch`` on some machines, none on a bare robot), a node can
bring itself up: the ``autostart`` parameter configures and activates it right after start.
"""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn

from fleetpilot.ros.executors import (
    declare_executor_parameter,
    executor_name,
    make_executor,
    spin_until_shutdown,
)
from fleetpilot.ros.params import declare_value


def autostart(node: LifecycleNode) -> bool:
    """Configures and activates ``node``; returns False (and logs) if a transition failed."""
    for name, transition in (
        ("configure", node.trigger_configure),
        ("activate", node.trigger_activate),
    ):
        if transition() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().error(f"autostart: {name} failed; the node stays inactive")
            return False
    return True


def run_lifecycle_node(make_node: Callable[[], LifecycleNode], args: list[str] | None = None):
    """rclpy.init, build the node, autostart it if asked, spin it on the executor its
    ``executor`` parameter picks (:mod:`fleetpilot.ros.executors`) until shutdown, clean up."""
    rclpy.init(args=args)
    node = make_node()
    declare_value(node, "autostart", False, "configure and activate on start")
    executor = None
    try:
        executor = make_executor(declare_executor_parameter(node), node.context)
        executor.add_node(node)
        node.get_logger().info(f"spinning on the {executor_name(executor)} executor")
        if node.get_parameter("autostart").value:
            autostart(node)
        spin_until_shutdown(executor, node.context)
    except ValueError as error:  # an executor that cannot be had here: say which, exit
        node.get_logger().fatal(str(error))
        raise SystemExit(2) from None
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # A signal can shut the context down while a callback is publishing; that callback's
        # "context is invalid" error is part of shutting down, not a fault.
        if rclpy.ok(context=node.context):
            raise
    finally:
        if executor is not None:
            executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
