"""One allocation round over live robots: costs, forbidden tasks, and bad tasks named."""

import numpy as np
import pytest

from fleetpilot.allocation.fleet_tasks import FleetTask, RobotRoster, allocate, travel_cost
from fleetpilot.allocation.registry import make_allocator


def test_nearest_robots_get_the_tasks_and_costs_are_travel_times():
    tasks = [
        FleetTask("near_b", pickup=[10.0, 0.0], dropoff=[10.0, 3.0]),
        FleetTask("near_a", pickup=[0.0, 1.0]),
    ]
    positions = np.array([[0.0, 0.0], [9.0, 0.0], [50.0, 50.0]])
    assignments, unservable = allocate(
        make_allocator("optimal"), ["a", "b", "c"], positions, tasks, speed=0.5, now=0.0
    )
    by_task = {a.task_id: a for a in assignments}
    assert by_task["near_a"].robot_ids == ("a",)
    assert by_task["near_b"].robot_ids == ("b",)
    assert by_task["near_b"].expected_cost == pytest.approx((1.0 + 3.0) / 0.5)
    assert unservable == []


def test_unreleased_and_late_tasks_are_forbidden_and_coalitions_formed_apart():
    tasks = [
        FleetTask("later", pickup=[1.0, 0.0], release=5.0),
        FleetTask("too_late", pickup=[10.0, 0.0], deadline=3.0),
        FleetTask("pair", pickup=[1.0, 1.0], min_robots=2),
        FleetTask("ok", pickup=[2.0, 0.0], deadline=30.0),
    ]
    cost = travel_cost(np.zeros((2, 2)), tasks, speed=1.0, now=0.0)
    assert np.isinf(cost[:, :3]).all() and np.isfinite(cost[:, 3]).all()
    assignments, unservable = allocate(
        make_allocator("greedy"), ["a", "b"], np.zeros((2, 2)), tasks, speed=1.0, now=0.0
    )
    assert [(a.task_id, a.robot_ids) for a in assignments] == [("pair", ("a", "b"))]
    assert unservable == ["later", "too_late"]  # "ok" is servable, only its robots are busy
    assignments, unservable = allocate(
        make_allocator("greedy"), ["a", "b", "c"], np.zeros((3, 2)), tasks, 1.0, 0.0
    )
    assert [(a.task_id, a.robot_ids) for a in assignments] == [
        ("pair", ("a", "b")),
        ("ok", ("c",)),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pickup": [0.0, np.nan]}, r"task 't': pickup\[1\]: expected a finite"),
        ({"value": -1.0}, "task 't': value"),
        ({"min_robots": 0}, "task 't': min_robots"),
        ({"dropoff": [1.0]}, r"task 't': dropoff: expected shape \(2,\)"),
        ({"requirements": [1.0, -0.5]}, "task 't': requirements: expected levels >= 0"),
        ({"requirements": [np.inf]}, r"task 't': requirements\[0\]: expected a finite"),
    ],
)
def test_bad_tasks_name_the_task_and_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FleetTask("t", **{"pickup": [0.0, 0.0], **kwargs})


def test_duplicate_task_ids_are_refused():
    tasks = [FleetTask("x", pickup=[0, 0]), FleetTask("x", pickup=[1, 1])]
    with pytest.raises(ValueError, match="unique task ids"):
        allocate(make_allocator("optimal"), ["a"], np.zeros((1, 2)), tasks, 1.0, 0.0)


def test_a_robot_that_stops_reporting_drops_out_and_its_task_goes_to_the_rest():
    roster = RobotRoster(stale_timeout=2.0)
    tasks = [FleetTask("near_b", pickup=[10.0, 0.0]), FleetTask("near_a", pickup=[0.0, 1.0])]
    allocator = make_allocator("optimal")
    roster.update(["a", "b", "c"], np.array([[0.0, 0.0], [9.0, 0.0], [20.0, 0.0]]), now=0.0)
    ids, positions, dropped, returned = roster.live(now=0.5)
    assert (ids, dropped, returned) == (["a", "b", "c"], [], ["a", "b", "c"])
    assignments, _ = allocate(allocator, ids, positions, tasks, speed=1.0, now=0.5)
    assert {a.task_id: a.robot_ids for a in assignments} == {"near_b": ("b",), "near_a": ("a",)}

    roster.update(["a", "c"], np.array([[0.0, 0.0], [20.0, 0.0]]), now=1.5)  # b disappears
    ids, positions, dropped, _ = roster.live(now=2.0)
    assert ids == ["a", "b", "c"] and dropped == []  # b's last state is 2.0 s old: still live
    ids, positions, dropped, _ = roster.live(now=2.01)
    assert (ids, dropped) == (["a", "c"], ["b"])
    assignments, _ = allocate(allocator, ids, positions, tasks, speed=1.0, now=2.01)
    assert {a.task_id: a.robot_ids for a in assignments} == {"near_b": ("c",), "near_a": ("a",)}
    assert all("b" not in a.robot_ids for a in assignments)

    roster.update(["b"], np.array([[9.0, 0.0]]), now=3.0)  # b is back
    ids, positions, dropped, returned = roster.live(now=3.0)
    assert (ids, dropped, returned) == (["a", "b", "c"], [], ["b"])  # a, c: 1.5 s old
    assignments, _ = allocate(allocator, ids, positions, tasks, speed=1.0, now=3.0)
    assert {a.task_id: a.robot_ids for a in assignments}["near_b"] == ("b",)

    ids, positions, dropped, _ = roster.live(now=10.0)
    assert ids == [] and positions.shape == (0, 2) and sorted(dropped) == ["a", "b", "c"]
    assert allocate(allocator, ids, positions, tasks, speed=1.0, now=10.0)[0] == []


@pytest.mark.parametrize("timeout", [0.0, -1.0, np.nan])
def test_a_bad_stale_timeout_is_refused_by_name(timeout):
    with pytest.raises(ValueError, match="stale_timeout: expected a positive"):
        RobotRoster(timeout)


def test_bad_robot_states_are_refused_by_field():
    roster = RobotRoster(1.0)
    with pytest.raises(ValueError, match="robot_ids: expected unique"):
        roster.update(["a", "a"], np.zeros((2, 2)), now=0.0)
    with pytest.raises(ValueError, match="positions"):
        roster.update(["a"], np.array([[np.nan, 0.0]]), now=0.0)


def test_coalitions_cover_requirements_with_the_cheapest_capable_robots_used_once():
    # capabilities: (lift, scan)
    capabilities = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    positions = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.5, 0.0], [30.0, 0.0]])
    tasks = [
        FleetTask("heavy", pickup=[0.0, 1.0], min_robots=3, value=5.0, requirements=[2, 1]),
        FleetTask("scan", pickup=[29.0, 0.0], requirements=[0, 1]),
        FleetTask("visit", pickup=[0.0, 0.0]),
    ]
    assignments, unservable = allocate(
        make_allocator("optimal"), list("abcde"), positions, tasks, 1.0, 0.0, capabilities
    )
    by_task = {a.task_id: a for a in assignments}
    assert set(by_task["heavy"].robot_ids) == {"a", "b", "c"}  # d lacks both capabilities
    assert by_task["heavy"].expected_cost == pytest.approx(np.hypot(2.0, 1.0))  # last arrival
    assert by_task["scan"].robot_ids == ("e",)
    assert by_task["visit"].robot_ids == ("d",)  # needs nothing: d may serve it
    used = [r for a in assignments for r in a.robot_ids]
    assert len(used) == len(set(used)) and unservable == []


def test_a_coalition_that_cannot_be_covered_gets_nobody():
    capabilities = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    tasks = [
        FleetTask("needs_scan", pickup=[0.0, 0.0], min_robots=2, requirements=[1, 1]),
        FleetTask("too_big", pickup=[0.0, 0.0], min_robots=4),
        FleetTask("pair", pickup=[0.0, 0.0], min_robots=2, requirements=[2]),
    ]
    assignments, unservable = allocate(
        make_allocator("greedy"), list("abc"), np.zeros((3, 2)), tasks, 1.0, 0.0, capabilities
    )
    assert [(a.task_id, a.robot_ids) for a in assignments] == [("pair", ("a", "b"))]
    assert unservable == ["needs_scan", "too_big"]


def test_a_single_robot_task_goes_only_to_a_robot_covering_it_alone():
    capabilities = np.array([[1.0, 0.0], [1.0, 1.0]])
    tasks = [FleetTask("both", pickup=[0.0, 0.0], requirements=[1, 1])]
    positions = np.array([[0.0, 0.0], [50.0, 0.0]])
    assignments, _ = allocate(
        make_allocator("optimal"), ["near", "far"], positions, tasks, 1.0, 0.0, capabilities
    )
    assert [(a.task_id, a.robot_ids) for a in assignments] == [("both", ("far",))]
    assignments, unservable = allocate(
        make_allocator("optimal"), ["near", "far"], positions, tasks, 1.0, 0.0, None
    )
    assert assignments == [] and unservable == ["both"]
    with pytest.raises(ValueError, match="capabilities: expected levels >= 0"):
        allocate(make_allocator("optimal"), ["a", "b"], positions, tasks, 1.0, 0.0, -capabilities)
