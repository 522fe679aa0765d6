"""What a node process imports decides how long a fleet of processes takes to start on a small
computer: goal_follower must not import torch, and cbf_safety with a fixed tuner must not import
torch_geometric (several seconds of CPU and ~160 MB per process)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros

PROBE = """
import json, sys
import numpy as np
import fleetpilot.ros.goal_follower_node
after_follower = {name: name in sys.modules for name in ("torch", "torch_geometric")}
import fleetpilot.ros.cbf_safety_node
from fleetpilot.ros.robot_safety import RobotSafetyConfig, RobotSafetyLoop
from fleetpilot.ros.tuning import make_tuner_adapter
loop = RobotSafetyLoop(RobotSafetyConfig(), make_tuner_adapter("fixed:alpha=1"))
loop.warm_up()
after_safety = {name: name in sys.modules for name in ("torch", "torch_geometric")}
print(json.dumps({"goal_follower": after_follower, "cbf_safety": after_safety}))
"""


def test_node_processes_import_only_what_they_use():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["goal_follower"] == {"torch": False, "torch_geometric": False}
    assert loaded["cbf_safety"]["torch_geometric"] is False
