"""The navigation benchmark runs end to end (--quick) and reports every size."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nav_env.py"


def test_quick_benchmark_reports_every_size():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    sizes = [(row["num_envs"], row["num_agents"]) for row in report["sizes"]]
    assert sizes == [(1, 16), (64, 16), (16, 64), (256, 32)]
    for row in report["sizes"]:
        assert row["batched"]["agent_steps_per_second"] > 0
        assert row["osqp_loop"]["agent_steps_per_second"] > 0
        assert row["batched"]["contact_starts"] == 0
    assert "| B x N |" in result.stdout
