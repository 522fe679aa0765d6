"""``fleetpilot sim --gui`` in a virtual X display (Xvfb): PyBullet's window opens, frames every
robot, and the loop is paced to the wall clock."""

import json
import shutil
import subprocess
import sys
import time

import pytest

from tests.sim.test_sim_command import write_pair_scenario

pytestmark = pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="needs xvfb-run (apt package xvfb)"
)

# Opens a GUI world and reports which bodies the window's own camera sees.
CAMERA_SCRIPT = """
import json, time, numpy as np, pybullet
from fleetpilot.sim.world import PyBulletWorld, WorldConfig
poses = np.array([[-11.5, -7.5, 0.0], [11.5, 7.5, 3.1], [11.5, -7.5, 1.0], [-11.5, 7.5, 2.0]])
with PyBulletWorld(poses, arena=(-12, -8, 12, 8), config=WorldConfig(gui=True)) as world:
    world.advance(0.1)
    client = world._client
    for _ in range(100):  # the window's thread applies a camera reset a few frames later
        camera = pybullet.getDebugVisualizerCamera(physicsClientId=client)
        if camera[10] > 10.0:  # its distance: moved back to frame the 24 m x 16 m arena
            break
        time.sleep(0.05)
    width, height, view, projection = camera[:4]
    image = pybullet.getCameraImage(width, height, view, projection, physicsClientId=client,
                                    renderer=pybullet.ER_BULLET_HARDWARE_OPENGL)
    seen = np.unique(np.asarray(image[4]) & ((1 << 24) - 1))
    print(json.dumps({"connection": pybullet.getConnectionInfo(client)["connectionMethod"],
                      "gui": pybullet.GUI, "seen": seen.tolist(), "robots": world._robots}))
"""


def run_in_virtual_display(args: list[str]) -> subprocess.CompletedProcess:
    command = ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def last_json_line(stdout: str) -> dict:
    """PyBullet's GUI prints its own shutdown chatter on stdout too: take our JSON line."""
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def test_the_window_shows_every_robot():
    result = run_in_virtual_display(["-c", CAMERA_SCRIPT])
    assert result.returncode == 0, result.stderr[-2000:]
    report = last_json_line(result.stdout)
    assert report["connection"] == report["gui"]  # a real GUI connection, not DIRECT
    assert set(report["robots"]) <= set(report["seen"])  # the camera frames the arena's corners


def test_sim_gui_runs_paced_to_the_wall_clock(tmp_path):
    scenario = write_pair_scenario(tmp_path / "pair.yaml")
    ticks = 20
    script = "import sys; from fleetpilot.cli import main; sys.exit(main(sys.argv[1:]))"
    start = time.perf_counter()
    result = run_in_virtual_display(
        ["-c", script, "sim", str(scenario), "--gui", "--max-steps", str(ticks), "--no-progress"]
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json_line(result.stdout)
    assert summary["per_episode"]["steps"] == [ticks] and summary["collisions"] == 0
    assert elapsed >= ticks * 0.1  # dt = 0.1 s: real time, not as fast as possible
