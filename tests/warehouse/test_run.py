"""The whole pipeline in PyBullet: tasks get delivered, nobody touches anything."""

import json

import numpy as np
import pytest

from fleetpilot.cli import main as cli_main
from fleetpilot.sim.runner import SimConfig
from fleetpilot.warehouse.pipeline import PRESETS
from fleetpilot.warehouse.run import WarehouseRun
from fleetpilot.warehouse.scenario import load_warehouse

SHIPPED = "sim/scenarios/warehouse_16.yaml"


def test_one_robot_fetches_and_delivers_a_task_through_the_aisles(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        """
version: 1
kind: warehouse
name: tiny
dt: 0.1
horizon: 40.0
num_robots: 1
robot: {dynamics: unicycle, radius: 0.2, max_speed: 1.0, max_turn_rate: 3.0}
layout:
  map: |
    D.....
    .####.
    .....P
tasks: {rate_per_minute: 0, initial: 1, deadline: [40, 40]}
""",
        encoding="utf-8",
    )
    instance = load_warehouse(path).sample(seed=0)
    with WarehouseRun(instance, config=SimConfig(max_steps=400)) as run:
        pickups = []
        run.run(on_tick=lambda tick: pickups.append(int(run.dispatcher.leg[0])))
        metrics = run.metrics()
    assert metrics.tasks_delivered == 1 and metrics.tasks_on_time == 1
    assert metrics.collisions == 0
    # The robot went to the pick station first, then to the drop station, then home.
    legs = [leg for i, leg in enumerate(pickups) if i == 0 or leg != pickups[i - 1]]
    assert legs[:4] == [1, 2, 0] or legs[:3] == [1, 2, 0]
    delivery = run.dispatcher.deliveries[0]
    # Around the shelf block: at least the 5 m + 7 m grid path at 1 m/s.
    assert delivery.delivery_time > 10.0
    np.testing.assert_allclose(metrics.value_earned, instance.tasks[0].value)


@pytest.mark.parametrize("preset", ["classical", "learned"])
def test_sixteen_robots_deliver_without_contact(preset):
    instance = load_warehouse(SHIPPED).sample(seed=1)
    with WarehouseRun(instance, PRESETS[preset], SimConfig(max_steps=300)) as run:
        run.run()
        metrics = run.metrics()
    assert metrics.collisions == 0, metrics.contacts_by_kind
    assert metrics.tasks_delivered >= 2
    assert metrics.min_distance >= instance.world.safety_distance - 0.05
    assert 0 < metrics.intervention_rate < 1


def test_six_robots_deliver_without_contact_with_the_flow_controller():
    instance = load_warehouse("sim/scenarios/warehouse_6.yaml").sample(seed=0)
    stack = instance.scenario.pipeline.with_stages(controller="flow")
    with WarehouseRun(instance, stack, SimConfig(max_steps=300)) as run:
        assert run.flow is not None  # the learned policy, not go-to-goal, drives
        run.run()
        metrics = run.metrics()
    assert metrics.controller == "flow"
    assert metrics.collisions == 0, metrics.contacts_by_kind
    assert metrics.tasks_delivered >= 1
    assert metrics.min_distance >= instance.world.safety_distance - 0.05


def test_cli_runs_a_warehouse_with_swapped_stages(capsys):
    code = cli_main(
        [
            "sim",
            SHIPPED,
            "--pipeline",
            "classical",
            "--planner",
            "pibt-traffic",
            "--agents",
            "4",
            "--max-steps",
            "20",
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pipeline"]["planner"] == "pibt-traffic"
    assert summary["pipeline"]["allocator"] == "greedy"
    assert summary["num_robots"] == 4 and len(summary["episodes"]) == 1


def test_cli_refuses_unknown_stage_and_nav_only_flags(capsys):
    assert cli_main(["sim", SHIPPED, "--planner", "teleport", "--no-progress"]) == 2
    assert "planner: expected one of" in capsys.readouterr().err
    assert cli_main(["sim", SHIPPED, "--controller", "teleport", "--no-progress"]) == 2
    assert "controller: expected one of go-to-goal, flow" in capsys.readouterr().err
    assert cli_main(["sim", SHIPPED, "--lidar", "--no-progress"]) == 2
    assert "--lidar: not available for warehouse" in capsys.readouterr().err
    assert cli_main(["sim", "sim/scenarios/doorway.yaml", "--planner", "pibt"]) == 2
    assert "--planner: only warehouse scenarios" in capsys.readouterr().err


def test_recording_holds_the_task_markers_and_the_fleet_topics(tmp_path, capsys):
    from pathlib import Path

    from rosbags.highlevel import AnyReader

    from fleetpilot.sim.bag import fleetpilot_typestore

    out = tmp_path / "rec"
    args = ["sim", SHIPPED, "--agents", "4", "--max-steps", "60", "--no-progress"]
    assert cli_main([*args, "--record", str(out), "--animation", "gif"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert Path(summary["recording"]["animation"]).suffix == ".gif"
    with AnyReader([out / "bag"], default_typestore=fleetpilot_typestore()) as reader:
        topics = {c.topic: c for c in reader.connections}
        assert {"/fleet/tasks", "/fleet/assignments", "/robot_3/odom"} <= set(topics)
        first = next(reader.messages([topics["/fleet/assignments"]]))
        assignments = reader.deserialize(first[2], first[0].msgtype).assignments
    # Four idle robots and sixteen waiting tasks: the first round keeps every robot busy.
    assert sorted(a.robot_ids[0] for a in assignments) == [f"robot_{i}" for i in range(4)]


def test_flow_controller_refuses_missing_or_foreign_policies(tmp_path):
    from fleetpilot.warehouse.controller import FlowController

    with pytest.raises(FileNotFoundError, match="controller: no config.json in"):
        FlowController(str(tmp_path / "absent"), np.zeros((0, 3)), 2.0, 1.0, seed=0)
    with pytest.raises(ValueError, match="controller: .*not a nav policy"):
        FlowController("policies/flow_multigoal", np.zeros((0, 3)), 2.0, 1.0, seed=0)


def test_flow_controller_stops_robots_whose_action_is_not_finite():
    import torch

    from fleetpilot.warehouse.controller import FlowController

    controller = FlowController("policies/flow_nav", np.zeros((0, 3)), 2.0, 1.0, seed=0)
    positions = torch.tensor([[[0.0, 0.0], [3.0, 0.0]]], dtype=torch.float64)
    waypoints = torch.tensor([[[1.0, 0.0], [3.0, 1.0]]], dtype=torch.float64)
    moving = controller(positions, np.zeros((2, 2)), waypoints)
    assert torch.linalg.vector_norm(moving[0], dim=-1).min() > 0.1
    with torch.no_grad():  # a corrupted network: every output NaN
        for parameter in controller.policy.parameters():
            parameter.fill_(float("nan"))
    stopped = controller(positions, np.zeros((2, 2)), waypoints)
    assert torch.equal(stopped, torch.zeros_like(stopped))
    assert controller.stopped_by_bad_action == 2
