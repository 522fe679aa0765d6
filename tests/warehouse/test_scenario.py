"""Warehouse floors, task streams and scenario files: parsed right, refused with clear errors."""

import math

import numpy as np
import pytest

from fleetpilot.mapf.errors import MapFormatError
from fleetpilot.scenarios.loader import ScenarioError
from fleetpilot.warehouse.layout import parse_layout
from fleetpilot.warehouse.pipeline import PRESETS, PipelineSpec
from fleetpilot.warehouse.scenario import is_warehouse_file, load_warehouse
from fleetpilot.warehouse.tasks import TaskStreamSpec, generate_tasks

SHIPPED = "sim/scenarios/warehouse_16.yaml"
FLOOR = """
    D...
    .##P
    ....
"""


def test_layout_places_shelves_stations_and_walls_in_the_world():
    layout = parse_layout(FLOOR, resolution=2.0, shelf_radius=0.8)
    assert layout.grid.blocked.sum() == 2 and layout.grid.height == 3
    # Row 0 is the top: the drop station (row 0, col 0) is at the top-left, y = 5 m.
    np.testing.assert_allclose(layout.drop_stations, [[1.0, 5.0]])
    np.testing.assert_allclose(layout.pick_stations, [[7.0, 3.0]])
    np.testing.assert_allclose(layout.obstacles, [[3.0, 3.0, 0.8], [5.0, 3.0, 0.8]])
    assert layout.arena.bounds == (0.0, 0.0, 8.0, 6.0)
    assert len(layout.parking_cells) == 12 - 2 - 2
    assert layout.render() == "\n".join(line.strip() for line in FLOOR.strip().splitlines())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("D.x.\n..P.", "one of '.#PD' at column 3"),
        ("D...\n..P", "4 characters like the first row"),
        ("....\n..P.", "at least one drop station"),
        ("D.#.\n##P.", "every station reachable"),
    ],
)
def test_malformed_floors_are_refused_with_the_line(text, message):
    with pytest.raises(MapFormatError, match=message):
        parse_layout(text, resolution=1.0, shelf_radius=0.4, source="floor")


def test_shelf_radius_must_leave_the_aisles_free():
    with pytest.raises(ValueError, match=r"shelf_radius: expected a number in \(0, resolution"):
        parse_layout(FLOOR, resolution=1.0, shelf_radius=0.6)


def test_task_stream_is_seeded_poisson_over_the_stations():
    layout = parse_layout(FLOOR, resolution=1.0, shelf_radius=0.4)
    spec = TaskStreamSpec(rate_per_minute=60.0, initial=3, value=(1.0, 2.0), deadline=(10, 20))
    tasks = generate_tasks(spec, layout, horizon=600.0, seed=4)
    again = generate_tasks(spec, layout, horizon=600.0, seed=4)
    assert [(t.id, t.release, t.value) for t in tasks] == [
        (t.id, t.release, t.value) for t in again
    ]
    other = generate_tasks(spec, layout, horizon=600.0, seed=5)
    assert [t.release for t in other] != [t.release for t in tasks]
    releases = np.array([task.release for task in tasks])
    assert (releases[:3] == 0).all() and (np.diff(releases) >= 0).all()
    # About 600 arrivals in 10 minutes at one a second (Poisson: within 4 standard deviations).
    assert abs(len(tasks) - 3 - 600) < 4 * math.sqrt(600)
    for task in tasks:
        assert 1.0 <= task.value <= 2.0 and 10 <= task.deadline - task.release <= 20
        np.testing.assert_allclose(task.pickup, layout.pick_stations[0])
        np.testing.assert_allclose(task.dropoff, layout.drop_stations[0])


def test_shipped_scenario_samples_distinct_parking_cells():
    scenario = load_warehouse(SHIPPED)
    assert is_warehouse_file(SHIPPED) and not is_warehouse_file("sim/scenarios/doorway.yaml")
    instance = scenario.sample(seed=3)
    assert instance.num_robots == 16 and len(instance.tasks) > 16
    cells = instance.layout.frame.to_cells(instance.homes)
    assert len({tuple(cell) for cell in cells}) == 16
    assert not instance.layout.grid.blocked[tuple(cells.T)].any()
    assert not np.array_equal(instance.homes, scenario.sample(seed=4).homes)
    assert scenario.sample(seed=3, num_robots=8).num_robots == 8


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("num_robots: 16", "num_robots: 500"), r"num_robots: expected 1\.\.203 \(the floor"),
        (("planner: pibt", "planner: teleport"), "pipeline.planner: expected one of"),
        (("rate_per_minute: 40", "rate_per_minute: -1"), "tasks.rate_per_minute"),
        (("shelf_radius: 0.45", "shelf_radius: 0.9"), "layout.shelf_radius"),
        (("D....................D\n    ...P", "D....................X\n    ...P"), "layout.map"),
        (("kind: warehouse", "kind: depot"), "kind: expected 'warehouse'"),
    ],
)
def test_malformed_scenario_files_name_the_key(tmp_path, edit, message):
    text = open(SHIPPED, encoding="utf-8").read()
    assert edit[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ScenarioError, match=message):
        load_warehouse(path)


def test_pipeline_stages_are_validated_and_swappable():
    spec = PRESETS["classical"].with_stages(planner="follower", tuner=None)
    assert spec.planner == "follower" and spec.tuner == PRESETS["classical"].tuner
    with pytest.raises(ValueError, match="allocator: expected one of"):
        PipelineSpec(allocator="lottery")
    with pytest.raises(ValueError, match="allocation_period"):
        PipelineSpec(allocation_period=0.0)
    for controller in ("teleport", "flow:", "go-to-goal:x"):
        with pytest.raises(ValueError, match=f"controller: expected one of .*got '{controller}'"):
            PipelineSpec(controller=controller)
    # ``flow`` is the shipped policy; ``flow:DIR`` any saved nav policy; go-to-goal has none.
    assert PipelineSpec(controller="flow").flow_policy().endswith("policies/flow_nav")
    assert PipelineSpec(controller="flow:elsewhere/nav").flow_policy() == "elsewhere/nav"
    assert PipelineSpec().flow_policy() is None
    # The learned preset's tuner resolves against the repository from any working directory.
    assert PRESETS["learned"].resolved_tuner().endswith("policies/cbf_tuner_gnn")


@pytest.mark.parametrize("path", sorted(__import__("glob").glob("sim/scenarios/warehouse_*.yaml")))
def test_every_shipped_warehouse_loads_and_samples(path):
    scenario = load_warehouse(path)
    instance = scenario.sample()
    assert instance.num_robots == scenario.num_robots and instance.tasks
    assert len(scenario.layout.pick_cells) and len(scenario.layout.drop_cells)
