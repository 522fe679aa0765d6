"""The PyBullet world benchmark runs end to end (--quick) and reports every size."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pybullet_world.py"


def test_quick_benchmark_reports_every_size(tmp_path):
    out = tmp_path / "result.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [run["num_agents"] for run in report["runs"]] == [4, 16, 64]
    for run in report["runs"]:
        assert run["real_time_factor"] > 0 and 0 < run["physics_fraction"] < 1
        assert run["contact_starts"] == 0
    assert "| robots |" in result.stdout
    assert json.loads(out.read_text())["runs"] == report["runs"]
