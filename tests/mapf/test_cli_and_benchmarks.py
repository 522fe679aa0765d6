"""The eval command and the benchmark scripts, run as subprocesses (smoke)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_eval_mapf_prints_one_json_object_with_the_required_keys():
    result = run(
        "-m", "fleetpilot.mapf.eval_mapf", "--generate", "random:12x12:0.2", "--agents", "10",
        "--planner", "pibt", "--steps", "24", "--seeds", "0-2", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["per_seed"]) == 3
    assert summary["avg_throughput"] == pytest.approx(np.mean(summary["per_seed"]))
    assert summary["per_seed"] == pytest.approx([g / 24 for g in summary["goals_reached"]])
    assert summary["ms_per_step"] > 0


def test_eval_mapf_reads_a_movingai_file_and_reports_bad_input(tmp_path):
    cutout = ROOT / "sim" / "maps" / "movingai-cutouts-64" / "Paris_1_256_05.map"
    result = run(
        "-m", "fleetpilot.mapf.eval_mapf", "--map", str(cutout), "--agents", "32",
        "--planner", "follower-planner", "--steps", "8", "--seeds", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["map"].endswith("Paris_1_256_05.map")
    broken = tmp_path / "broken.map"
    broken.write_text("type octile\nheight 2\nwidth 2\nmap\n..\n.\n")
    result = run(
        "-m", "fleetpilot.mapf.eval_mapf", "--map", str(broken), "--agents", "1", "--json"
    )
    assert result.returncode == 2
    assert f"{broken}:6: expected 2 map characters" in result.stderr


def test_throughput_benchmark_quick(tmp_path):
    result = run(
        "benchmarks/mapf_throughput.py", "--quick", "--out", str(tmp_path),
        "--planners", "astar,pibt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "mapf_throughput.json").read_text())
    rows = report["rows"]
    assert {row["planner"] for row in rows} == {"astar", "pibt"}
    assert all(len(row["per_seed"]) == 2 for row in rows)
    table = (tmp_path / "mapf_throughput.md").read_text()
    assert "| warehouse 46x33 (192) | pibt |" in table


@pytest.mark.slow
def test_pogema_check_quick_matches_pogema_step_for_step(tmp_path):
    if not (ROOT / "build" / "pogema-venv" / "bin" / "python").exists():
        pytest.skip("build/pogema-venv missing: run benchmarks/pogema_check.py once (needs PyPI)")
    result = run(
        "benchmarks/pogema_check.py", "--quick", "--planners", "pibt", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "pogema_check.json").read_text())
    assert {row["family"] for row in rows} == {
        "random 20x20 d0.2",
        "maze 21x21",
        "warehouse 46x33",
    }
    for row in rows:
        assert row["same_map"]
        if row["family"] != "warehouse 46x33":
            assert row["first_difference_step"] is None
            assert row["pogema_avg_throughput"] == row["ours_avg_throughput"]
