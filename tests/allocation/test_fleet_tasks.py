"""One allocation round over live robots: costs, forbidden tasks, and bad tasks named."""

import numpy as np
import pytest

from fleetpilot.allocation.fleet_tasks import FleetTask, allocate, travel_cost
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


def test_unreleased_late_and_coalition_tasks_are_forbidden():
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
    assert [a.task_id for a in assignments] == ["ok"]
    assert unservable == ["later", "too_late", "pair"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pickup": [0.0, np.nan]}, r"task 't': pickup\[1\]: expected a finite"),
        ({"value": -1.0}, "task 't': value"),
        ({"min_robots": 0}, "task 't': min_robots"),
        ({"dropoff": [1.0]}, r"task 't': dropoff: expected shape \(2,\)"),
    ],
)
def test_bad_tasks_name_the_task_and_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FleetTask("t", **{"pickup": [0.0, 0.0], **kwargs})


def test_duplicate_task_ids_are_refused():
    tasks = [FleetTask("x", pickup=[0, 0]), FleetTask("x", pickup=[1, 1])]
    with pytest.raises(ValueError, match="unique task ids"):
        allocate(make_allocator("optimal"), ["a"], np.zeros((1, 2)), tasks, 1.0, 0.0)
