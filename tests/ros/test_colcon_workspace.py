"""The repository builds with `colcon build` in an ordinary ROS 2 workspace, the way a robot
builds it (library, interfaces, executables), and the installed executables start."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def repository_files() -> list[str]:
    """Tracked and not-ignored files: what a clone of the repository holds."""
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [name for name in result.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("ros_ws")
    package = workspace / "src" / "fleetpilot"
    for name in repository_files():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, package / name)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_interfaces.py"), "--workspace",
         str(workspace)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workspace


def sourced(workspace: Path, *command: str) -> list[str]:
    """The command run after sourcing the workspace, as a user on a robot would."""
    script = f'source "{workspace}/install/setup.bash" && exec "$@"'
    return ["bash", "-c", script, "sourced", *command]


def test_install_tree_holds_library_interfaces_and_executables(workspace):
    install = workspace / "install" / "fleetpilot"
    site = install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    package = site / "site-packages" / "fleetpilot"
    assert (package / "msg" / "_agent_state_array.py").is_file()
    assert (package / "ros" / "convert.py").is_file()
    assert (package / "safety" / "status.py").is_file()
    assert os.access(install / "lib" / "fleetpilot" / "fleet_state", os.X_OK)
    assert os.access(install / "bin" / "fleetpilot", os.X_OK)
    assert (install / "share" / "fleetpilot" / "package.xml").is_file()


def test_installed_fleetpilot_command_runs_doctor_from_the_install_tree(workspace):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    probe = (
        "import fleetpilot.ros.convert as c, fleetpilot.msg as m;"
        "print(c.__file__); print(m.__file__)"
    )
    result = subprocess.run(
        sourced(workspace, "python3", "-c", probe),
        capture_output=True, text=True, env=env, cwd=workspace,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for location in result.stdout.split():
        assert location.startswith(str(workspace / "install")), location
    doctor = subprocess.run(
        sourced(workspace, "fleetpilot", "doctor", "--json"),
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    report = json.loads(doctor.stdout.strip().splitlines()[-1])
    assert doctor.returncode == 0 and report["ok"], report


def test_installed_node_executable_starts_and_publishes(workspace, executor, ros_context):
    import rclpy
    from fleetpilot.msg import AgentStateArray

    from tests.ros.conftest import spin_until

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    executable = str(workspace / "install" / "fleetpilot" / "lib" / "fleetpilot" / "fleet_state")
    node_process = subprocess.Popen(
        sourced(workspace, executable, "--ros-args", "-r", "__node:=ws_fleet_state",
                "-p", "autostart:=true", "-p", "rate_hz:=20.0"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        received = []
        probe = rclpy.create_node("ws_probe", context=ros_context)
        probe.create_subscription(AgentStateArray, "/fleet/robot_states", received.append, 10)
        executor.add_node(probe)
        started = time.monotonic()
        ok = spin_until(executor, lambda: bool(received), timeout=30.0)
        waited = time.monotonic() - started
        assert ok, f"no /fleet/robot_states from the installed node after {waited:.0f} s"
        assert received[0].header.frame_id == "map"
    finally:
        node_process.terminate()
        node_process.wait(timeout=10)
