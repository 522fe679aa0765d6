"""The task_allocator lifecycle node over real rclpy: assignments only while active, invalid
tasks dropped by name while the rest are served, unknown allocators refused on set."""

import math

import pytest
from fleetpilot.msg import AgentState, AgentStateArray, AssignmentArray, Task, TaskArray
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleetpilot.ros.task_allocator_node import TaskAllocatorNode
from tests.ros.conftest import spin_until


def robots() -> AgentStateArray:
    message = AgentStateArray()
    for name, (x, y) in {"r0": (0.0, 0.0), "r1": (10.0, 0.0)}.items():
        message.agents.append(AgentState(id=name, x=x, y=y, radius=0.2))
    return message


def tasks() -> TaskArray:
    return TaskArray(
        tasks=[
            Task(id="by_r1", pickup_x=9.0, pickup_y=1.0, value=1.0, min_robots=1),
            Task(id="broken", pickup_x=math.nan, pickup_y=0.0, value=1.0, min_robots=1),
            Task(
                id="by_r0",
                pickup_x=0.0,
                pickup_y=2.0,
                has_dropoff=True,
                dropoff_x=0.0,
                dropoff_y=4.0,
                value=2.0,
                min_robots=1,
            ),
        ]
    )


@pytest.fixture
def allocator(ros_context, executor):
    import rclpy

    node = TaskAllocatorNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("rate_hz", value=20.0),
            Parameter("robot_speed", value=1.0),
        ],
    )
    probe = rclpy.create_node("allocator_probe", context=ros_context)
    received: list[AssignmentArray] = []
    probe.create_subscription(AssignmentArray, "/fleet/assignments", received.append, 10)
    publishers = (
        probe.create_publisher(TaskArray, "/fleet/tasks", 10),
        probe.create_publisher(AgentStateArray, "/fleet/robot_states", 10),
    )
    executor.add_node(node)
    executor.add_node(probe)
    yield node, received, publishers
    node.destroy_node()
    probe.destroy_node()


def test_assigns_nearest_robots_only_while_active_and_drops_invalid_tasks(allocator, executor):
    node, received, (task_publisher, state_publisher) = allocator

    def feed() -> bool:
        task_publisher.publish(tasks())
        state_publisher.publish(robots())
        return any(message.assignments for message in received)

    assert not spin_until(executor, feed, timeout=1.0), "published while unconfigured"
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert not spin_until(executor, feed, timeout=1.0), "published while inactive"
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert spin_until(executor, feed, timeout=10.0), "no assignments while active"
    latest = next(m for m in reversed(received) if m.assignments)
    served = {a.task_id: (list(a.robot_ids), a.expected_cost) for a in latest.assignments}
    assert set(served) == {"by_r1", "by_r0"}  # "broken" dropped, the rest still served
    assert served["by_r1"][0] == ["r1"]
    assert served["by_r0"][0] == ["r0"]
    assert served["by_r0"][1] == pytest.approx(2.0 + 2.0)  # to pickup + the drop-off leg

    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    spin_until(executor, lambda: False, timeout=0.3)
    count = len(received)
    spin_until(executor, lambda: False, timeout=0.6)
    assert len(received) == count, "published after deactivation"


def test_an_unknown_allocator_is_refused_on_set(allocator):
    node = allocator[0]
    result = node.set_parameters([Parameter("allocator", value="clairvoyant")])[0]
    assert not result.successful and "allocator: expected one of" in result.reason
    assert node.get_parameter("allocator").value == "optimal"
    assert node.set_parameters([Parameter("allocator", value="greedy")])[0].successful
