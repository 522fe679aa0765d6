"""The warehouse_tasks node over real rclpy: its message logic (tasks out and back, legs, idle
robots, assignment validation, metrics) and the node itself driving one task from assignment
through pickup to delivery on the fleet topics; and the shelves and walls the warehouse's
cbf_safety nodes keep clear of."""

import json

import numpy as np
import pytest
from fleetpilot.msg import AgentState, AgentStateArray, Assignment, AssignmentArray, TaskArray
from rclpy.parameter import Parameter
from std_msgs.msg import String

from fleetpilot.agent_states import AgentStates
from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.allocation.registry import make_allocator
from fleetpilot.ros.convert import seconds_to_time
from fleetpilot.ros.robot_safety import arena_from_flat, obstacles_from_flat
from fleetpilot.ros.task_allocator_node import tasks_from_message
from fleetpilot.ros.warehouse_obstacles import safety_parameters
from fleetpilot.ros.warehouse_tasks_node import (
    WarehouseTasksNode,
    commit_assignments,
    idle_states,
    leg_messages,
    task_array,
    warehouse_metrics,
)
from fleetpilot.warehouse.dispatch import TaskDispatcher
from fleetpilot.warehouse.scenario import load_warehouse
from tests.ros.conftest import spin_until
from tests.ros.fleet_watch import ROOT

pytestmark = pytest.mark.ros

SCENARIO = ROOT / "sim" / "scenarios" / "warehouse_6.yaml"
HOMES = np.array([[0.0, 0.0], [5.0, 0.0]])
TASKS = [
    FleetTask("carry", pickup=(1.0, 1.0), dropoff=(3.0, 1.0), value=2.0, deadline=50.0),
    FleetTask("later", pickup=(2.0, 2.0), release=30.0),
]


def dispatcher() -> TaskDispatcher:
    return TaskDispatcher(make_allocator("greedy"), ["r0", "r1"], HOMES, TASKS, 1.0, 0.25)


def states(positions) -> AgentStates:
    count = len(positions)
    ids = tuple(f"r{i}" for i in range(count))
    return AgentStates(ids, np.array(positions, float), np.zeros(count), np.zeros((count, 2)),
                       np.full(count, 0.2), np.zeros(count))  # fmt: skip


def test_tasks_survive_the_round_trip_through_a_task_array():
    back, rejected = tasks_from_message(task_array(TASKS, "map", 0.0))
    assert not rejected
    assert [t.id for t in back] == ["carry", "later"]
    np.testing.assert_allclose(back[0].dropoff, (3.0, 1.0))
    assert back[0].deadline == pytest.approx(50.0) and back[1].deadline is None
    assert back[1].dropoff is None and back[1].release == pytest.approx(30.0)


def test_legs_lead_to_the_station_of_the_current_leg_or_home():
    tasks = dispatcher()
    legs, assigned = leg_messages(tasks, ["r0", "r1"], "map", 0.0)
    assert [(t.pickup_x, t.pickup_y) for t in legs.tasks] == [(0.0, 0.0), (5.0, 0.0)]
    assert [(a.task_id, list(a.robot_ids)) for a in assigned.assignments] == [
        ("r0/leg", ["r0"]),
        ("r1/leg", ["r1"]),
    ]
    assert tasks.assign("carry", "r0", 1.0)
    legs, _ = leg_messages(tasks, ["r0"], "map", 1.0)
    assert (legs.tasks[0].pickup_x, legs.tasks[0].pickup_y) == (1.0, 1.0)
    tasks.update(2.0, np.array([[1.1, 1.0], [5.0, 0.0]]))  # picked up
    legs, _ = leg_messages(tasks, ["r0"], "map", 2.0)
    assert (legs.tasks[0].pickup_x, legs.tasks[0].pickup_y) == (3.0, 1.0)


def test_only_idle_robots_among_the_fresh_ones_are_offered_to_the_allocator():
    tasks = dispatcher()
    fleet = states([[0.0, 0.0], [5.0, 0.0]])
    assert idle_states(fleet, tasks, ["r0", "r1"]).ids == ("r0", "r1")
    assert idle_states(fleet, tasks, ["r1"]).ids == ("r1",)
    tasks.assign("carry", "r1", 0.0)
    idle = idle_states(fleet, tasks, ["r0", "r1"])
    assert idle.ids == ("r0",)
    np.testing.assert_allclose(idle.positions, [[0.0, 0.0]])


def test_assignments_commit_once_and_unknown_names_are_reported():
    tasks = dispatcher()
    message = AssignmentArray(
        assignments=[
            Assignment(task_id="carry", robot_ids=["r0"]),
            Assignment(task_id="carry", robot_ids=["r1"]),  # taken a moment ago: skipped
            Assignment(task_id="later", robot_ids=["r1"]),  # not released yet: skipped
            Assignment(task_id="carry", robot_ids=["ghost"]),
            Assignment(task_id="nothing", robot_ids=["r1"]),
            Assignment(task_id="carry", robot_ids=["r0", "r1"]),
        ]
    )
    committed, problems = commit_assignments(tasks, message, 0.0)
    assert committed == [("carry", "r0")]
    assert len(problems) == 3
    assert "unknown robot 'ghost'" in problems[0]
    assert "unknown task 'nothing'" in problems[1]
    assert "expected one robot" in problems[2]


def test_metrics_count_deliveries_and_the_value_of_those_on_time():
    tasks = dispatcher()
    tasks.assign("carry", "r0", 0.0)
    tasks.update(1.0, np.array([[1.0, 1.0], [5.0, 0.0]]))
    tasks.update(4.0, np.array([[3.0, 1.0], [5.0, 0.0]]))
    metrics = warehouse_metrics(tasks, 40.0)
    assert metrics["tasks_delivered"] == metrics["tasks_on_time"] == 1
    assert metrics["value_earned"] == pytest.approx(2.0)
    assert metrics["tasks_released"] == 2 and metrics["tasks_open"] == 1
    assert metrics["delivered"] == [["carry", "r0"]] and metrics["robots_busy"] == 0
    json.dumps(metrics)  # what the node publishes


@pytest.fixture
def node_and_probe(ros_context, executor):
    import rclpy

    node = WarehouseTasksNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("scenario", value=str(SCENARIO)),
            Parameter("num_robots", value=2),
            Parameter("rate_hz", value=20.0),
        ],
    )
    probe = rclpy.create_node("warehouse_probe", context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    yield node, probe
    node.destroy_node()
    probe.destroy_node()


def test_node_carries_an_assigned_task_from_pickup_to_delivery(node_and_probe, executor):
    node, probe = node_and_probe
    instance = load_warehouse(SCENARIO).sample(num_robots=2)
    received: dict[str, object] = {}
    for topic, kind in (
        ("/fleet/tasks", TaskArray),
        ("/fleet/idle_robot_states", AgentStateArray),
        ("/fleet/legs", TaskArray),
        ("/fleet/warehouse_metrics", String),
    ):
        probe.create_subscription(kind, topic, lambda m, t=topic: received.__setitem__(t, m), 10)
    states_out = probe.create_publisher(AgentStateArray, "/fleet/robot_states", 10)
    assignments_out = probe.create_publisher(AssignmentArray, "/fleet/assignments", 10)

    def publish_states(now: float, robot_1_at) -> None:
        message = AgentStateArray()
        message.header.stamp = seconds_to_time(now)
        for name, (x, y) in (("robot_0", instance.homes[0]), ("robot_1", robot_1_at)):
            message.agents.append(AgentState(id=name, x=float(x), y=float(y), radius=0.2))
        message.agents.append(AgentState(id="stranger", x=0.0, y=0.0, radius=0.2))  # ignored
        states_out.publish(message)

    node.trigger_configure()
    node.trigger_activate()
    publish_states(1.0, instance.homes[1])
    assert spin_until(executor, lambda: len(received) == 4, timeout=10.0), received.keys()
    task = next(t for t in received["/fleet/tasks"].tasks if t.has_dropoff)
    assignments_out.publish(
        AssignmentArray(assignments=[Assignment(task_id=task.id, robot_ids=["robot_1"])])
    )

    def idle_is_robot_0_only() -> bool:
        idle = received["/fleet/idle_robot_states"]
        return [a.id for a in idle.agents] == ["robot_0"]

    assert spin_until(executor, idle_is_robot_0_only, timeout=10.0)
    assert task.id not in [t.id for t in received["/fleet/tasks"].tasks]

    def leg_of_robot_1():
        leg = next(t for t in received["/fleet/legs"].tasks if t.id == "robot_1/leg")
        return leg.pickup_x, leg.pickup_y

    assert spin_until(executor, lambda: leg_of_robot_1() == (task.pickup_x, task.pickup_y), 5)
    publish_states(2.0, (task.pickup_x, task.pickup_y))
    dropoff = (task.dropoff_x, task.dropoff_y)
    assert spin_until(executor, lambda: leg_of_robot_1() == dropoff, timeout=5.0)
    publish_states(3.0, dropoff)

    def delivered() -> list:
        return json.loads(received["/fleet/warehouse_metrics"].data)["delivered"]

    publish_states(4.5, dropoff)  # metrics go out once a simulated second
    assert spin_until(executor, lambda: delivered() == [[task.id, "robot_1"]], timeout=5.0)
    home = tuple(instance.homes[1])
    assert spin_until(executor, lambda: leg_of_robot_1() == home, timeout=5.0)


def test_safety_parameters_hold_the_shelves_and_the_walls():
    layout = load_warehouse(SCENARIO).layout
    parameters = safety_parameters(layout)
    discs = obstacles_from_flat(parameters["obstacles"])
    np.testing.assert_array_equal(discs, layout.obstacles)
    assert arena_from_flat(parameters["arena"]) == layout.arena.bounds
    with pytest.raises(ValueError, match="arena: expected"):
        arena_from_flat([0.0, 0.0, -1.0, 5.0])
