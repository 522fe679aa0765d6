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
    """rclpy.init, build the node, autostart it if asked, spin until shutdown, clean up."""
    rclpy.init(args=args)
    node = make_node()
    declare_value(node, "autostart", False, "configure and activate on start")
    try:
        if node.get_parameter("autostart").value:
            autostart(node)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # A signal can shut the context down while a callback is publishing; that callback's
        # "context is invalid" error is part of shutting down, not a fault.
        if rclpy.ok(context=node.context):
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
