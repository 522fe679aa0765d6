"""The lidar evaluation scenarios load, a lidar-only episode with silent robots keeps clear of
walls, pillars and robots in real PyBullet, and the evaluation script reports both conditions."""

import json
from pathlib import Path

import numpy as np
import pytest

from fleetpilot.envs.tuners import make_tuner
from fleetpilot.scenarios import load_scenario
from fleetpilot.sim.lidar import LidarConfig
from fleetpilot.sim.runner import ScenarioRun, SimConfig
from tests.benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
LIDAR_SCENARIOS = sorted((ROOT / "sim" / "scenarios").glob("lidar_*.yaml"))
CROSSING = ROOT / "sim" / "scenarios" / "lidar_crossing.yaml"
TUNER = ROOT / "policies" / "cbf_tuner_gnn"


def load_eval_script():
    return load_benchmark("perception_eval")


def test_lidar_scenarios_are_shipped():
    assert {path.stem for path in LIDAR_SCENARIOS} >= {"lidar_crossing", "lidar_room"}


@pytest.mark.parametrize("path", LIDAR_SCENARIOS, ids=lambda p: p.stem)
def test_lidar_scenario_has_walls_pillars_and_a_team(path):
    instance = load_scenario(path).sample(seed=(1, 0, 0))
    assert 8 <= instance.num_agents <= 12
    radii = instance.obstacles[:, 2]
    # Interior walls are rows of discs; pillars are the few discs standing alone.
    assert (radii == 0.1).sum() >= 40 and len(instance.obstacles) >= 45
    assert instance.horizon <= 40.0  # an evaluation over several seeds stays short


def test_the_room_plans_on_its_map_and_the_crossing_drives_straight():
    """Go-to-goal stalls behind lidar_room's interior walls; the crossing's walls run along the
    lanes, so it keeps the reactive controller (and stays comparable with earlier runs)."""
    room = load_scenario(ROOT / "sim" / "scenarios" / "lidar_room.yaml")
    assert room.nominal.type == "waypoints"
    assert load_scenario(CROSSING).nominal.type == "go-to-goal"


def test_lidar_only_episode_with_silent_robots_has_no_contacts():
    """The two groups meet in the intersection: every robot sees walls and pillars only by
    scan, and 3 robots are in nobody's neighbour list."""
    instance = load_scenario(CROSSING).sample(seed=(0, 0, 0))
    config = SimConfig(
        max_steps=120,  # 12 s: both groups are through the intersection's centre
        lidar=LidarConfig(beams=360, range_max=1.5 * instance.sensing_radius),
        silent_robots=3,
    )
    with ScenarioRun(instance, make_tuner(str(TUNER)), config) as run:
        assert len(run.filter.silent) == 3
        run.run()
        contacts = run.contact_counts()
        metrics = run.episode()
        poses = run.world.poses()
    assert contacts == {"robot": 0, "obstacle": 0, "wall": 0}
    assert metrics.min_distance < 1.0  # robots did come close to each other
    start_gap = np.linalg.norm(poses[:, :2] - instance.starts, axis=1)
    assert (start_gap > 4.0).all()  # every robot got past the crossing point


def test_evaluation_script_reports_both_conditions(tmp_path, capsys):
    out = tmp_path / "eval.json"
    script = load_eval_script()
    argv = ["--scenarios", str(CROSSING), "--seeds", "1", "--max-steps", "5", "--json", str(out)]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    report = json.loads(printed[-1])
    assert json.loads(out.read_text())["results"] == report["results"]
    conditions = report["results"]["lidar_crossing"]
    assert set(conditions) == {"known", "lidar"}
    for summary in conditions.values():
        assert summary["episodes"] == 1
        assert set(summary["contacts"]) == {"robot", "obstacle", "wall"}
    assert any(line.startswith("| lidar_crossing | lidar, 3 silent | 1 |") for line in printed)
    assert report["nominal"]["lidar_crossing"]["type"] == "go-to-goal"


def test_evaluation_script_refuses_an_unknown_nominal(capsys):
    with pytest.raises(SystemExit):
        load_eval_script().parse_args(["--nominal", "straight"])
    assert "--nominal" in capsys.readouterr().err
