"""The mapf_planner lifecycle node over real rclpy: assigned robots are led cell by cell to
their task's pickup, unassigned ones hold; a bad map fails configuration."""

import pytest
from fleetpilot.msg import (
    AgentState,
    AgentStateArray,
    Assignment,
    AssignmentArray,
    Task,
    TaskArray,
)
from geometry_msgs.msg import PoseStamped
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleetpilot.ros.mapf_planner_node import MapfPlannerNode
from tests.ros.conftest import spin_until

MAP = """
......
.####.
......
"""


@pytest.fixture
def planner(ros_context, executor, tmp_path):
    import rclpy

    map_file = tmp_path / "corridor.txt"
    map_file.write_text(MAP)
    node = MapfPlannerNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("map_file", value=str(map_file)),
            Parameter("planner", value="astar"),
            Parameter("resolution", value=1.0),
            Parameter("rate_hz", value=20.0),
        ],
    )
    probe = rclpy.create_node("planner_probe", context=ros_context)
    goals: dict[str, list[PoseStamped]] = {"r0": [], "r1": []}
    for robot, received in goals.items():
        probe.create_subscription(PoseStamped, f"/{robot}/goal", received.append, 10)
    publishers = {
        "states": probe.create_publisher(AgentStateArray, "/fleet/robot_states", 10),
        "tasks": probe.create_publisher(TaskArray, "/fleet/tasks", 10),
        "assignments": probe.create_publisher(AssignmentArray, "/fleet/assignments", 10),
    }
    executor.add_node(node)
    executor.add_node(probe)
    yield node, goals, publishers
    node.destroy_node()
    probe.destroy_node()


def test_assigned_robot_is_led_towards_the_pickup_and_the_other_holds(planner, executor):
    node, goals, publishers = planner
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    states = AgentStateArray(
        agents=[
            AgentState(id="r0", x=0.5, y=2.5, radius=0.2),  # top-left cell (row 0, col 0)
            AgentState(id="r1", x=5.5, y=0.5, radius=0.2),  # bottom-right cell
        ]
    )
    tasks = TaskArray(tasks=[Task(id="t", pickup_x=5.5, pickup_y=2.5, value=1.0, min_robots=1)])
    assigned = AssignmentArray(assignments=[Assignment(task_id="t", robot_ids=["r0"])])

    def feed() -> bool:
        publishers["tasks"].publish(tasks)
        publishers["assignments"].publish(assigned)
        publishers["states"].publish(states)
        return len(goals["r0"]) > 3 and len(goals["r1"]) > 3

    assert spin_until(executor, feed, timeout=10.0)
    step = goals["r0"][-1].pose.position
    assert (step.x, step.y) == pytest.approx((1.5, 2.5))  # one cell right, along the top row
    hold = goals["r1"][-1].pose.position
    assert (hold.x, hold.y) == pytest.approx((5.5, 0.5))
    assert goals["r0"][-1].header.frame_id == "map"


def test_a_missing_map_fails_configuration(ros_context):
    node = MapfPlannerNode(
        context=ros_context, parameter_overrides=[Parameter("map_file", value="/nonexistent.map")]
    )
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    node.destroy_node()
