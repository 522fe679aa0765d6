"""``fleetpilot sim``: metrics JSON like ``eval nav``, a recording whose bag reads back with
rosbags, and clear errors for malformed scenarios."""

import json

import av
import pytest
import yaml
from rosbags.rosbag2 import Reader

from fleetpilot.cli import main
from fleetpilot.envs.evaluate import evaluate
from fleetpilot.envs.tuners import make_tuner
from fleetpilot.safety.status import SafetyMode
from fleetpilot.scenarios import load_scenario
from fleetpilot.sim.bag import fleetpilot_typestore
from fleetpilot.sim.run import perception_seed, tuner_noise_seed

TOPICS = ("odom", "cmd_vel", "cmd_vel_nominal", "safety_status", "cbf_params")
TICKS = 15


def write_pair_scenario(path, **overrides):
    data = {
        "version": 1,
        "name": "cli_pair",
        "dt": 0.1,
        "horizon": 12.0,
        "sensing_radius": 2.0,
        "arena": {"x_min": -3.0, "y_min": -2.0, "x_max": 3.0, "y_max": 2.0},
        "robot": {"dynamics": "unicycle", "radius": 0.2, "max_speed": 1.0},
        "agents": [
            {"start": [-2.0, 0.0], "goal": [2.0, 0.0]},
            {"start": [2.0, 0.1], "goal": [-2.0, 0.1]},
        ],
    }
    data.update(overrides)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_sim_prints_eval_nav_metrics_and_records_a_readable_bag(tmp_path, capsys):
    scenario = write_pair_scenario(tmp_path / "pair.yaml")
    out = tmp_path / "recording"
    status = main(
        ["sim", str(scenario), "--record", str(out), "--max-steps", str(TICKS), "--no-progress"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    reference = evaluate(
        load_scenario(scenario), make_tuner("fixed:alpha=1,gain=1"), episodes=1, seed=0,
        max_steps=2,
    )  # fmt: skip
    assert set(reference) <= set(summary)
    assert set(reference["per_episode"]) == set(summary["per_episode"])
    assert summary["per_episode"]["steps"] == [TICKS] and summary["simulator"] == "pybullet"
    assert str(out) in captured.err  # says where the recording is

    with Reader(out / "bag") as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        types = {c.topic: c.msgtype for c in reader.connections}
        assert counts == {"/tf": TICKS} | {
            f"/robot_{r}/{t}": TICKS for r in (0, 1) for t in TOPICS
        }
        assert types["/robot_0/odom"] == "nav_msgs/msg/Odometry"
        assert types["/robot_1/safety_status"] == "fleetpilot/msg/SafetyStatus"
        store = fleetpilot_typestore()
        last = {}
        for connection, timestamp, raw in reader.messages():
            last[connection.topic] = (timestamp, store.deserialize_cdr(raw, connection.msgtype))
    transforms = {tf.child_frame_id: tf for tf in last["/tf"][1].transforms}
    assert set(transforms) == {
        f"robot_{r}/{f}" for r in (0, 1) for f in ("base_link", "base_scan")
    }
    timestamp, odom = last["/robot_0/odom"]
    assert timestamp == pytest.approx(TICKS * 0.1e9, abs=1e6)
    assert -2.0 < odom.pose.pose.position.x < 0.0  # moved right from x = -2
    base = transforms["robot_0/base_link"]
    assert base.header.frame_id == "map" and base.header.stamp == odom.header.stamp
    assert base.transform.translation.x == odom.pose.pose.position.x
    assert base.transform.rotation.z == odom.pose.pose.orientation.z
    safety = last["/robot_1/safety_status"][1]
    assert safety.agent_id == "robot_1" and safety.mode in set(SafetyMode)
    assert last["/robot_0/cbf_params"][1].alpha == 1.0

    with av.open(str(out / "animation.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == TICKS
    assert (out / "min_distance.png").is_file() and (out / "alpha.png").is_file()
    assert json.loads((out / "metrics.json").read_text())["steps"] == TICKS


def test_malformed_scenario_fails_with_the_file_and_field_named(tmp_path, capsys):
    scenario = write_pair_scenario(tmp_path / "bad.yaml", dt=-0.1)
    assert main(["sim", str(scenario), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert str(scenario) in error and "dt" in error and "-0.1" in error

    assert main(["sim", str(tmp_path / "missing.yaml"), "--no-progress"]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_bad_flags_are_refused_before_running(tmp_path, capsys):
    scenario = write_pair_scenario(tmp_path / "pair.yaml")
    assert main(["sim", str(scenario), "--physics-dt", "0.2", "--no-progress"]) == 2
    assert "physics_dt" in capsys.readouterr().err
    assert main(["sim", str(scenario), "--tuner", "fixed:alpha=99", "--no-progress"]) == 2
    assert "alpha" in capsys.readouterr().err
    (tmp_path / "taken" / "bag").mkdir(parents=True)
    record = ["--record", str(tmp_path / "taken"), "--no-progress"]
    assert main(["sim", str(scenario), *record]) == 2
    assert "already exists" in capsys.readouterr().err


def test_physics_defaults_and_previous_settings_are_reported(tmp_path, capsys):
    scenario = write_pair_scenario(tmp_path / "pair.yaml")
    common = ["sim", str(scenario), "--max-steps", "5", "--no-progress"]
    assert main(common) == 0
    assert json.loads(capsys.readouterr().out)["physics_dt"] == 0.025
    assert main([*common, "--previous-physics"]) == 0
    assert json.loads(capsys.readouterr().out)["physics_dt"] == 0.02
    assert main([*common, "--previous-physics", "--physics-dt", "0.01"]) == 0
    assert json.loads(capsys.readouterr().out)["physics_dt"] == 0.01


def test_each_episode_samples_the_tuner_with_its_own_noise_seed(tmp_path, capsys):
    scenario = write_pair_scenario(tmp_path / "pair.yaml")
    arguments = ["sim", str(scenario), "--tuner", "policies/cbf_tuner_gnn", "--episodes", "2"]
    status = main([*arguments, "--seed", "3", "--max-steps", "2", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    seeds = json.loads(captured.out.strip().splitlines()[-1])["tuner_noise_seeds"]
    assert seeds == [tuner_noise_seed(3, 0), tuner_noise_seed(3, 1)]
    assert len({*seeds, perception_seed(3, 0), perception_seed(3, 1)}) == 4
