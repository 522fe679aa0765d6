"""The safety-filter benchmark runs end to end (--quick) and reports every size it promises."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "safety_filter.py"


def test_quick_benchmark_reports_sizes_and_agrees_with_osqp():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row["agents"] for row in report["sizes"]] == [10, 100, 1_000]
    for row in report["sizes"]:
        assert row["mean_neighbours"] > 1
        for key in ("filter", "filter_batch", "osqp_loop", "cvxpy"):
            assert row[f"{key}_us_per_agent"] > 0
        # OSQP at eps 1e-5 lands within its tolerance of the exact answer.
        assert row["max_abs_difference_vs_osqp"] < 1e-3
    assert "| N |" in result.stdout


def test_scan_benchmark_runs_and_uses_a_bounded_number_of_constraints():
    script = SCRIPT.with_name("scan_filter.py")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert 1 <= report["obstacles_from_scan"] <= 16
    assert report["scan_and_filter_ms"] >= report["filter_only_ms"] > 0


def test_tuner_benchmark_times_the_torch_and_compiled_paths():
    script = SCRIPT.with_name("cbf_tuner.py")
    command = [sys.executable, str(script), "--agents", "16", "--warm-ticks", "40"]
    result = subprocess.run(
        [*command, "--repeats", "5"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["agents"] == 16 and report["edges"] > 0
    for step in ("tuner", "filter", "observation", "compiled"):
        assert 0 < report[f"{step}_min_ms"] <= report[f"{step}_median_ms"]
    assert report["compiled_over_torch"] > 0
    assert "| compiled |" in result.stdout
