"""The launch files and parameter files name only what exists.

``launch`` is not installable everywhere, so launch files are read with ``ast`` (never
imported): every ``Node(...)`` must name an executable in ``nodes/``, every ``*.yaml`` they
mention must be in ``config/``, and every parameter set in a ``parameters=[{...}]`` dict must
be declared by that executable's node. Every ``config/*.yaml`` block must address a known node
and only declared parameters, with values the node accepts (loaded through rclpy's own
``--params-file`` handling)."""

import ast
import os
from pathlib import Path

import pytest
import rclpy
import yaml

from fleetpilot.ros.cbf_safety_node import CbfSafetyNode
from fleetpilot.ros.fleet_state_node import FleetStateNode
from fleetpilot.ros.goal_follower_node import GoalFollowerNode
from fleetpilot.ros.mapf_planner_node import MapfPlannerNode
from fleetpilot.ros.sim_node import SimNode
from fleetpilot.ros.task_allocator_node import TaskAllocatorNode
from fleetpilot.ros.warehouse_tasks_node import WarehouseTasksNode

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def is_ros_parameter_file(path: Path) -> bool:
    """config/ also holds other configs (training); ROS ones have ros__parameters blocks."""
    blocks = yaml.safe_load(path.read_text(encoding="utf-8"))
    return isinstance(blocks, dict) and any(
        isinstance(block, dict) and "ros__parameters" in block for block in blocks.values()
    )


CONFIG_FILES = [p for p in sorted((ROOT / "config").glob("*.yaml")) if is_ros_parameter_file(p)]
LIFECYCLE_NODES = {
    "cbf_safety": CbfSafetyNode,
    "goal_follower": GoalFollowerNode,
    "sim": SimNode,
    "fleet_state": FleetStateNode,
    "task_allocator": TaskAllocatorNode,
    "mapf_planner": MapfPlannerNode,
    "warehouse_tasks": WarehouseTasksNode,
}
RUNNER_PARAMETERS = {"autostart", "executor", "use_sim_time"}  # run_lifecycle_node, rclpy
FLEET_HOST_PARAMETERS = {"robots", "nodes", "autostart", "executor", "use_sim_time"}


@pytest.fixture(scope="module")
def declared() -> dict[str, set[str]]:
    """Executable -> the parameters its node declares."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        result = {"fleet_host": FLEET_HOST_PARAMETERS}
        for executable, node_class in LIFECYCLE_NODES.items():
            node = node_class(context=context)
            result[executable] = set(node.get_parameters_by_prefix("")) | RUNNER_PARAMETERS
            node.destroy_node()
        return result
    finally:
        rclpy.shutdown(context=context)


def node_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        call
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node"
    ]


def keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_launch_and_parameter_files_exist():
    assert {p.name for p in LAUNCH_FILES} >= {
        "sim_fleet.launch.py",
        "robot.launch.py",
        "warehouse.launch.py",
    }
    assert {p.name for p in CONFIG_FILES} >= {"sim_fleet.yaml", "robot.yaml", "warehouse.yaml"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_existing_executables_files_and_parameters(path, declared):
    calls = node_calls(path)
    assert calls, f"{path.name}: no Node(...) actions found"
    for call in calls:
        executable = keyword(call, "executable")
        assert isinstance(executable, ast.Constant), f"{path.name}:{call.lineno}: literal needed"
        script = ROOT / "nodes" / executable.value
        assert script.is_file() and os.access(script, os.X_OK), f"{path.name}: {script}"
        parameters = keyword(call, "parameters")
        for element in getattr(parameters, "elts", []):
            if isinstance(element, ast.Dict):
                for key in element.keys:
                    assert isinstance(key, ast.Constant), f"{path.name}:{key.lineno}"
                    assert key.value in declared[executable.value], (
                        f"{path.name}:{key.lineno}: {executable.value} declares no "
                        f"parameter {key.value!r}"
                    )
    tree = ast.parse(path.read_text(encoding="utf-8"))
    yaml_names = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.endswith(".yaml")
    ]
    assert yaml_names, f"{path.name}: names no parameter file"
    for name in yaml_names:
        assert (ROOT / "config" / name).is_file(), f"{path.name}: config/{name} missing"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_parameter_files_set_only_declared_parameters_with_accepted_values(path, declared):
    blocks = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(blocks, dict) and blocks, f"{path.name}: expected node blocks"
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "--params-file", str(path)], context=context)
    try:
        for key, block in blocks.items():
            executable = key.split("/")[-1]
            assert executable in declared, f"{path.name}: {key}: no such node"
            names = set(block["ros__parameters"])
            unknown = names - declared[executable]
            assert not unknown, f"{path.name}: {key}: undeclared parameters {sorted(unknown)}"
            if executable in LIFECYCLE_NODES:
                # Declaring applies the file's values; out-of-range or mistyped ones raise.
                namespace = "/robot_0" if key.startswith("/**/") else "/"
                node = LIFECYCLE_NODES[executable](namespace=namespace, context=context)
                for name in names - RUNNER_PARAMETERS:
                    value = node.get_parameter(name).value
                    expected = block["ros__parameters"][name]
                    if expected == []:  # rcl reads an empty YAML list as "not set"
                        value = [] if value is None else list(value)
                    if isinstance(expected, list):
                        value = list(value)
                    assert value == expected, f"{path.name}: {key}: {name}: {value!r} was read"

                node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
