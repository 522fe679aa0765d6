"""Recorded bags decode with the readers Foxglove's apps use (@mcap/core, @foxglove/rosmsg,
@foxglove/rosmsg2-serialization, run by ``scripts/foxglove_bag_check``) to the same topics,
counts and values as with rosbags."""

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from fleetpilot.allocation.fleet_tasks import FleetTask
from fleetpilot.cli import main
from fleetpilot.sim.bag import BagWriter, fleetpilot_typestore
from tests.sim.test_sim_command import write_pair_scenario

CHECKER = Path(__file__).resolve().parents[2] / "scripts" / "foxglove_bag_check"
TICKS = 8


def foxglove_decode(bag: Path) -> dict:
    """The checker's JSON summary of the bag's one MCAP file (skips where node is missing)."""
    if shutil.which("node") is None or not (CHECKER / "node_modules" / "@mcap" / "core").is_dir():
        pytest.skip("Foxglove's readers are not installed (scripts/install.sh, needs node + npm)")
    [mcap] = sorted(bag.glob("*.mcap"))
    result = subprocess.run(
        ["node", str(CHECKER / "check_bag.mjs"), str(mcap)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rosbags_last_messages(bag: Path) -> tuple[dict, dict]:
    """Per topic: message count and the last message, read with rosbags."""
    store = fleetpilot_typestore()
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        last = {}
        for connection, _, raw in reader.messages():
            last[connection.topic] = store.deserialize_cdr(raw, connection.msgtype)
    return counts, last


def test_a_recorded_lidar_run_decodes_like_rosbags(tmp_path, capsys):
    scenario = write_pair_scenario(tmp_path / "pair.yaml")
    out = tmp_path / "recording"
    args = ["sim", str(scenario), "--lidar", "--record", str(out), "--max-steps", str(TICKS)]
    assert main([*args, "--no-progress", "--animation", "gif"]) == 0, capsys.readouterr().err
    summary = foxglove_decode(out / "bag")
    counts, last = rosbags_last_messages(out / "bag")

    assert summary["decode_errors"] == 0
    topics = summary["topics"]
    assert {topic: entry["count"] for topic, entry in topics.items()} == counts
    assert "/robot_0/scan" in topics and topics["/robot_1/odom"]["count"] == TICKS
    assert topics["/robot_0/safety_status"]["type"] == "fleetpilot/msg/SafetyStatus"

    odom = topics["/robot_1/odom"]["last"]
    expected = last["/robot_1/odom"].pose.pose.position
    assert [odom["pose"]["pose"]["position"][k] for k in "xy"] == [expected.x, expected.y]
    status = topics["/robot_0/safety_status"]["last"]
    assert (
        status["agent_id"] == "robot_0" and status["mode"] == last["/robot_0/safety_status"].mode
    )
    scan = topics["/robot_0/scan"]["last"]
    ranges = np.array([float(r) for r in scan["ranges"]], dtype=np.float32)
    np.testing.assert_array_equal(ranges, last["/robot_0/scan"].ranges)
    assert np.isinf(ranges).any() and np.isfinite(ranges).any()  # misses and hits both survive
    assert scan["header"]["frame_id"] == "robot_0/base_scan"
    frames = {tf["child_frame_id"]: tf for tf in topics["/tf"]["last"]["transforms"]}
    assert frames["robot_1/base_link"]["transform"]["translation"]["x"] == expected.x
    assert frames["robot_0/base_scan"]["header"]["frame_id"] == "robot_0/base_link"


def test_fleet_tasks_and_assignments_decode_like_rosbags(tmp_path):
    tasks = [
        FleetTask("shelf_3", pickup=np.array([1.5, -2.0]), dropoff=np.array([4.0, 0.5]),
                  value=2.5, deadline=30.0),
        FleetTask("inspect_7", pickup=np.array([0.25, 3.0]), min_robots=2, release=1.0),
    ]  # fmt: skip
    with BagWriter(tmp_path / "bag") as bag:
        bag.tasks(0.5, tasks)
        bag.assignments(0.5, [("shelf_3", "robot_2"), ("inspect_7", "robot_0")])
    summary = foxglove_decode(tmp_path / "bag")

    decoded = summary["topics"]["/fleet/tasks"]["last"]["tasks"]
    assert [task["id"] for task in decoded] == ["shelf_3", "inspect_7"]
    shelf, inspect = decoded
    assert (shelf["pickup_x"], shelf["dropoff_y"], shelf["value"]) == (1.5, 0.5, 2.5)
    assert shelf["has_dropoff"] is True and inspect["has_dropoff"] is False
    assert shelf["deadline"] == {"sec": 30, "nanosec": 0}
    assert inspect["min_robots"] == 2 and inspect["release"] == {"sec": 1, "nanosec": 0}
    assignments = summary["topics"]["/fleet/assignments"]["last"]["assignments"]
    assert [(a["task_id"], a["robot_ids"]) for a in assignments] == [
        ("shelf_3", ["robot_2"]),
        ("inspect_7", ["robot_0"]),
    ]
    assert not any(math.isnan(a["expected_cost"]) for a in assignments)
