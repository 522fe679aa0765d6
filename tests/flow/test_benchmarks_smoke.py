"""The benchmark scripts run end to end in --quick mode and write their reports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "report"), [("latency.py", "latency"), ("multigoal.py", "multigoal")]
)
def test_benchmark_quick_mode(tmp_path, script, report):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / f"{report}.json").read_text())
    assert "| --- |" in (tmp_path / f"{report}.md").read_text()
    if report == "latency":
        rows = {
            row["setting"]: row for row in data["results"] if row["target"] == "cpu fp32 eager"
        }
        assert rows["gaussian MLP"]["ratio_to_gaussian"] == 1.0
        # More ODE steps cost more: 16 field evaluations are slower than 1.
        assert rows["flow euler 16"]["median_ms"] > rows["flow euler 1"]["median_ms"]
    else:
        assert {row["policy"] for row in data["rows"]} == {"flow", "gaussian"}
        assert all(len(row["goal_shares"]) == 4 for row in data["rows"])
