"""The PyBullet world benchmark runs end to end (--quick) and reports every size and setting."""

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
    sizes_and_settings = [(row["num_agents"], row["settings"]) for row in report["rows"]]
    assert sizes_and_settings == [
        (size, settings) for size in (4, 16, 64) for settings in ("current", "previous")
    ]
    for row in report["rows"]:
        assert row["cpu_real_time_factor"] > 0 and 0 < row["physics_fraction"] < 1
        assert row["contact_starts"] == 0 and row["speedup_vs_previous"] > 0
    assert report["settings"]["previous"] == {
        "physics_dt": 0.02,
        "cone_friction": False,
        "solver_iterations": 10,
        "contact_breaking_threshold": 0.02,
    }
    assert "| robots |" in result.stdout
    assert json.loads(out.read_text())["runs"] == report["runs"]
