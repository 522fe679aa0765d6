"""The `fleetpilot` command: doctor reports every part with a version and pass/fail."""

import json
import subprocess
import sys
from pathlib import Path

from fleetpilot.cli import main

FLEETPILOT = [sys.executable, "-m", "fleetpilot.cli"]


def test_doctor_reports_every_part_working():
    result = subprocess.run(
        [*FLEETPILOT, "doctor", "--json"], capture_output=True, text=True, timeout=120
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    failed = [c for c in report["checks"] if not c["ok"]]
    assert result.returncode == 0 and report["ok"], failed
    names = {c["name"] for c in report["checks"]}
    assert {
        "rclpy",
        "fleetpilot interfaces",
        "torch",
        "torch-geometric",
        "osqp",
        "pybullet",
    } <= names
    assert all(c["version"] not in ("", "-") for c in report["checks"])


def test_doctor_fails_when_a_required_part_is_missing(tmp_path: Path):
    # A fake `osqp` module that breaks on import, shadowing the real one for this process only.
    (tmp_path / "osqp.py").write_text("raise ImportError('osqp removed for this test')\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from fleetpilot.cli import main; sys.exit(main(['doctor']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "FAIL  osqp" in result.stdout and "osqp removed for this test" in result.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "doctor" in capsys.readouterr().out
