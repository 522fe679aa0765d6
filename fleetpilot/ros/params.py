"""Declaring ROS parameters with ranges and descriptions, so invalid values are refused on set.

rclpy checks ``FloatingPointRange``/``IntegerRange`` itself whenever a parameter is set (from a
params file, the command line or ``set_parameters``) and rejects the change with a reason.
"""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


def declare_float(
    node: Node, name: str, default: float, low: float, high: float, description: str
):
    descriptor = ParameterDescriptor(
        description=description,
        floating_point_range=[FloatingPointRange(from_value=low, to_value=high, step=0.0)],
    )
    return node.declare_parameter(name, float(default), descriptor)


def declare_int(node: Node, name: str, default: int, low: int, high: int, description: str):
    descriptor = ParameterDescriptor(
        description=description,
        integer_range=[IntegerRange(from_value=low, to_value=high, step=1)],
    )
    return node.declare_parameter(name, int(default), descriptor)


def declare_value(node: Node, name: str, default, description: str):
    """A parameter without a numeric range (strings, lists, booleans)."""
    return node.declare_parameter(name, default, ParameterDescriptor(description=description))
