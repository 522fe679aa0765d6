"""The task_allocator lifecycle node over real rclpy: assignments only while active, invalid
tasks dropped by name while the rest are served, a robot that stops reporting loses its task to
the others and gets it back when it returns, unknown allocators refused on set."""

import math

import pytest
from fleetpilot.msg import AgentState, AgentStateArray, AssignmentArray, Task, TaskArray
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleetpilot.ros.task_allocator_node import TaskAllocatorNode
from tests.ros.conftest import spin_until

POSITIONS = {"r0": (0.0, 0.0), "r1": (10.0, 0.0), "r2": (14.0, 0.0)}


def robots(names=("r0", "r1")) -> AgentStateArray:
    message = AgentStateArray()
    for name in names:
        x, y = POSITIONS[name]
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
            Parameter("stale_timeout", value=0.5),
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


def test_a_robot_that_stops_reporting_loses_its_task_to_the_others_until_it_returns(
    allocator, executor
):
    node, received, (task_publisher, state_publisher) = allocator
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def served_by(message: AssignmentArray) -> dict[str, list[str]]:
        return {a.task_id: list(a.robot_ids) for a in message.assignments}

    def feed_until(names, expected) -> bool:
        def step() -> bool:
            task_publisher.publish(tasks())
            state_publisher.publish(robots(names))
            return bool(received) and served_by(received[-1]) == expected

        return spin_until(executor, step, timeout=15.0)

    everyone = {"by_r1": ["r1"], "by_r0": ["r0"]}
    assert feed_until(("r0", "r1", "r2"), everyone), "no assignments with all robots live"
    # r1 stops reporting: after stale_timeout its task goes to the next nearest robot, r2
    assert feed_until(("r0", "r2"), {"by_r1": ["r2"], "by_r0": ["r0"]}), (
        f"r1's task was not re-allocated; last: {served_by(received[-1])}"
    )
    dropped_at = next(i for i, m in enumerate(received) if served_by(m).get("by_r1") == ["r2"])
    assert all("r1" not in sum(served_by(m).values(), []) for m in received[dropped_at:])
    # r1 reports again: usable at once
    assert feed_until(("r0", "r1", "r2"), everyone), "r1 was not used again after returning"

    # every robot silent: the next arrays assign nobody
    count = len(received)
    assert spin_until(
        executor, lambda: len(received) > count and not received[-1].assignments, timeout=15.0
    ), "assignments still published for robots that all dropped out"


def test_a_coalition_task_gets_capable_robots_each_used_once(allocator, executor):
    node, received, (task_publisher, state_publisher) = allocator
    capabilities = ["r0=1,0", "r1=1,0", "r2=0,1"]  # (lift, scan)
    assert node.set_parameters([Parameter("robot_capabilities", value=capabilities)])[0].successful
    bad = node.set_parameters([Parameter("robot_capabilities", value=["r0=1,-2"])])[0]
    assert not bad.successful and "robot_capabilities[0]" in bad.reason
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    open_tasks = TaskArray(
        tasks=[
            Task(id="pair", pickup_x=12.0, value=3.0, min_robots=2, requirements=[1.0, 1.0]),
            Task(id="visit", pickup_x=0.0, pickup_y=2.0, value=1.0, min_robots=1),
            Task(id="scan", pickup_x=1.0, value=1.0, min_robots=1, requirements=[0.0, 1.0]),
            Task(id="bad", pickup_x=1.0, value=1.0, min_robots=2, requirements=[-1.0]),
        ]
    )

    def feed() -> bool:
        task_publisher.publish(open_tasks)
        state_publisher.publish(robots(("r0", "r1", "r2")))
        return bool(received) and bool(received[-1].assignments)

    assert spin_until(executor, feed, timeout=15.0), "no assignments"
    served = {a.task_id: (sorted(a.robot_ids), a.expected_cost) for a in received[-1].assignments}
    assert set(served) == {"pair", "visit"}  # "scan": only r2 can, and it is in the coalition
    assert served["pair"][0] == ["r1", "r2"]  # r0 is farther; r1 lifts, r2 scans
    assert served["pair"][1] == pytest.approx(2.0)  # both 2 m away at 1 m/s
    assert served["visit"][0] == ["r0"]
