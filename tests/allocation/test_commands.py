"""Command-line entry points run as subprocesses: eval alloc and the benchmark smoke run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "env,allocator",
    [
        ("capability", "greedy"),
        ("pickup", "auction"),
        ("static", "optimal"),
        ("static", "two-stage"),
        ("capability", "two-stage"),
        ("pickup", "exact-step"),
    ],
)
def test_eval_alloc_prints_the_summary_as_json(env, allocator):
    result = run(
        "-m",
        "fleetpilot.allocation.eval_alloc",
        "--env",
        env,
        "--robots",
        "20",
        "--tasks",
        "5" if env != "static" else "20",
        "--allocator",
        allocator,
        "--seeds",
        "0",
        "1",
        "--episode-steps",
        "30",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["per_seed"]) == 2
    assert summary["mean_reward"] == pytest.approx(sum(summary["per_seed"]) / 2)
    assert summary["ms_per_decision"] > 0
    if env == "static":
        assert summary["mean_reward"] < 0  # minus the total distance


def test_eval_alloc_rejects_unknown_names_with_a_message():
    result = run("-m", "fleetpilot.allocation.eval_alloc", "--allocator", "magic", "--json")
    assert result.returncode == 2 and "unknown dynamic allocator" in result.stderr
    result = run(
        "-m",
        "fleetpilot.allocation.eval_alloc",
        "--env",
        "static",
        "--allocator",
        "two-stage",
        "--policy-dir",
        "/nonexistent/policy",
    )
    assert result.returncode == 2 and "policy file missing" in result.stderr


def test_benchmark_quick_runs_every_method_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = run("benchmarks/allocation.py", "--quick", "--out", str(out), timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    methods = set(report["static"]["gap_percent"])
    assert {"greedy", "auction"} <= methods and any(m.startswith("two-stage") for m in methods)
    assert all(gap["mean"] >= -1e-9 for gap in report["static"]["gap_percent"].values())
    assert {
        s["mean_reward"].keys()
        >= {"greedy", "auction", "two-stage", "exact-step", "two-stage, initial weights"}
        for s in report["dynamic"]
    } == {True}
    assert "| two-stage |" in result.stdout and "| exact-step |" in result.stdout
