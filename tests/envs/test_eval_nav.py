"""`fleetpilot eval nav`: metrics as JSON, team-size override, grid search, readable errors."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleetpilot.envs import eval_nav

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
PAIR = str(SCENARIO_DIR / "head_on_pair.yaml")


def run(argv, capsys):
    parser = argparse.ArgumentParser()
    eval_nav.add_arguments(parser)
    code = eval_nav.main(parser.parse_args(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_prints_one_json_object_with_the_metrics(capsys):
    code, out, _ = run(
        ["--scenario", PAIR, "--tuner", "fixed:alpha=2,gain=1.5", "--episodes", "3", "--json"],
        capsys,
    )
    assert code == 0
    report = json.loads(out)
    for key in ("success_rate", "collisions", "deadlock_rate", "makespan", "min_distance"):
        assert key in report
    assert report["episodes"] == 3 and report["tuner"] == "fixed:alpha=2,gain=1.5"
    assert all(len(values) == 3 for values in report["per_episode"].values())
    assert report["collisions"] == 0 and report["success_rate"] == 1.0
    assert report["makespan"] == pytest.approx(sum(report["per_episode"]["makespan"]) / 3)


def test_agents_override_and_human_readable_output(capsys):
    code, out, _ = run(
        [
            "--scenario",
            str(SCENARIO_DIR / "circle_swap_8.yaml"),
            "--agents",
            "4",
            "--max-steps",
            "20",
            "--episodes",
            "1",
        ],
        capsys,
    )
    assert code == 0
    assert "circle_swap_8  (4 agents, 1 ep.)" in out and "success_rate" in out


def test_grid_search_ranks_settings_by_success_then_makespan(capsys):
    code, out, _ = run(
        [
            "--grid-search",
            "--scenario",
            PAIR,
            "--alphas",
            "0.5,4",
            "--gains",
            "0.5,2",
            "--episodes",
            "2",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    (result,) = json.loads(out)["grid_search"]
    settings = result["settings"]
    assert len(settings) == 4 and result["best"] == settings[0]
    assert {(s["alpha"], s["gain"]) for s in settings} == {(0.5, 0.5), (0.5, 2), (4, 0.5), (4, 2)}
    keys = [(-s["success_rate"], s["makespan"] or float("inf")) for s in settings]
    assert keys == sorted(keys)
    assert settings[0]["makespan"] < settings[-1]["makespan"]  # gain 2 beats gain 0.5 here


def test_grid_search_with_make_way_runs_every_setting_with_it(capsys):
    corridor = str(SCENARIO_DIR / "corridor.yaml")
    argv = ["--grid-search", "--scenario", corridor, "--alphas", "1", "--gains", "1"]
    argv += ["--episodes", "4", "--json"]
    code, out, _ = run([*argv, "--make-way", "2"], capsys)
    assert code == 0
    (making_way,) = json.loads(out)["grid_search"]
    assert making_way["best"]["make_way"] == 2.0
    _, out, _ = run(argv, capsys)
    (standing,) = json.loads(out)["grid_search"]
    assert "make_way" not in standing["best"]
    # the corridor's parked agents wall off later ones unless they make way (0 vs 3 of 4)
    assert making_way["best"]["success_rate"] > standing["best"]["success_rate"]
    code, _, err = run([*argv, "--make-way", "-1"], capsys)
    assert code == 2 and "make_way: expected a value in [0, 4], got -1.0" in err


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    code, _, err = run(["--scenario", str(bad)], capsys)
    assert code == 2 and f"error: {bad}: dt: missing required key" in err
    code, _, err = run(["--scenario", PAIR, "--tuner", "fixed:alpha=99"], capsys)
    assert code == 2 and "alpha: expected a value in" in err
    code, _, err = run([], capsys)
    assert code == 2 and "--scenario: required" in err


def test_module_runs_as_a_script():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetpilot.envs.eval_nav",
            "--scenario",
            PAIR,
            "--episodes",
            "1",
            "--max-steps",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["per_episode"]["steps"] == [5]
