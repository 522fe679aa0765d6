"""Task state of a fleet: allocation to idle robots, pickups, deliveries, deadlines."""

import numpy as np

from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.allocation.registry import make_allocator
from fleetpilot.warehouse.dispatch import Leg, TaskDispatcher


def dispatcher(tasks, homes=((0.0, 0.0), (10.0, 0.0))):
    homes = np.array(homes)
    names = [f"robot_{i}" for i in range(len(homes))]
    return TaskDispatcher(make_allocator("greedy"), names, homes, tasks, speed=1.0, tolerance=0.2)


def test_nearest_idle_robot_takes_a_released_task_and_delivers_it():
    task = FleetTask("a", pickup=(9.0, 0.0), dropoff=(9.0, 5.0), value=2.0, deadline=30.0)
    fleet = dispatcher([task])
    positions = fleet.homes.copy()
    assert fleet.allocate(0.0, positions) == 1
    assert fleet.task == [None, "a"] and fleet.leg[1] == Leg.TO_PICKUP
    np.testing.assert_allclose(fleet.goals(), [[0.0, 0.0], [9.0, 0.0]])
    positions[1] = (9.1, 0.0)  # within tolerance of the pick station
    assert fleet.update(2.0, positions) == []
    assert fleet.leg[1] == Leg.TO_DROPOFF
    np.testing.assert_allclose(fleet.goals()[1], [9.0, 5.0])
    positions[1] = (9.0, 4.9)
    (delivery,) = fleet.update(7.5, positions)
    assert (delivery.task_id, delivery.robot, delivery.on_time) == ("a", 1, True)
    assert (delivery.pickup_time, delivery.delivery_time, delivery.value) == (2.0, 7.5, 2.0)
    assert fleet.leg[1] == Leg.IDLE and fleet.task[1] is None
    np.testing.assert_allclose(fleet.goals()[1], [10.0, 0.0])  # back home


def test_unreleased_expired_and_taken_tasks_are_not_offered():
    tasks = [
        FleetTask("later", pickup=(1.0, 0.0), dropoff=(2.0, 0.0), release=5.0),
        FleetTask("expired", pickup=(1.0, 0.0), dropoff=(2.0, 0.0), deadline=1.0),
        FleetTask("now", pickup=(1.0, 0.0), dropoff=(2.0, 0.0), deadline=100.0),
    ]
    fleet = dispatcher(tasks)
    assert [t.id for t in fleet.open_tasks(2.0)] == ["now"]
    assert fleet.allocate(2.0, fleet.homes) == 1
    assert [t.id for t in fleet.open_tasks(6.0)] == ["later"]
    assert fleet.released(2.0) == 2 and fleet.released(6.0) == 3


def test_a_late_delivery_earns_no_value_flag():
    task = FleetTask("a", pickup=(1.0, 0.0), dropoff=(2.0, 0.0), value=1.0, deadline=5.0)
    fleet = dispatcher([task], homes=((0.0, 0.0),))
    fleet.allocate(0.0, fleet.homes)
    fleet.update(1.0, np.array([[1.0, 0.0]]))
    (delivery,) = fleet.update(9.0, np.array([[2.0, 0.0]]))
    assert not delivery.on_time


def test_busy_robots_are_not_reallocated():
    tasks = [FleetTask(f"t{i}", pickup=(1.0, i), dropoff=(2.0, i)) for i in range(3)]
    fleet = dispatcher(tasks)
    assert fleet.allocate(0.0, fleet.homes) == 2
    assert fleet.allocate(1.0, fleet.homes) == 0  # both robots busy
    assert len(fleet.open_tasks(1.0)) == 1


def test_outside_assignments_commit_only_idle_robots_to_open_tasks():
    tasks = [
        FleetTask("a", pickup=(1.0, 0.0), dropoff=(2.0, 0.0)),
        FleetTask("b", pickup=(1.0, 1.0), dropoff=(2.0, 1.0), release=9.0),
    ]
    fleet = dispatcher(tasks)
    assert not fleet.assign("b", "robot_0", now=1.0)  # not released yet
    assert not fleet.assign("a", "robot_7", now=1.0)  # unknown robot
    assert fleet.assign("a", "robot_0", now=1.0)
    assert not fleet.assign("a", "robot_1", now=1.0)  # taken
    assert not fleet.assign("b", "robot_0", now=10.0)  # busy
    assert fleet.task == ["a", None]


def test_on_a_grid_entering_the_station_cell_completes_the_leg():
    from fleetpilot.mapf.waypoints import GridFrame

    task = FleetTask("a", pickup=(2.5, 0.5), dropoff=(0.5, 0.5))
    homes = np.array([[4.5, 0.5]])
    fleet = TaskDispatcher(
        make_allocator("greedy"),
        ["robot_0"],
        homes,
        [task],
        speed=1.0,
        tolerance=0.1,
        frame=GridFrame(0.0, 0.0, 1.0, height=1),
    )
    fleet.allocate(0.0, homes)
    fleet.update(1.0, np.array([[3.05, 0.5]]))  # 0.55 m away, still in the next cell
    assert fleet.leg[0] == Leg.TO_PICKUP
    fleet.update(1.5, np.array([[2.9, 0.8]]))  # inside the pick station's cell
    assert fleet.leg[0] == Leg.TO_DROPOFF
