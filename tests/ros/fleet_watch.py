"""Test helpers for simulated fleets: start the node executables as processes (what the launch
files would start) and watch the fleet from the test process."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from fleetpilot.msg import AgentStateArray, SafetyStatus
from rosgraph_msgs.msg import Clock

from fleetpilot.ros.convert import time_to_seconds
from fleetpilot.ros.qos import COMMAND_QOS

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / "nodes"
SIM_PARAMS = ROOT / "config" / "sim_fleet.yaml"


def node_arguments(
    executable: str, namespace: str | None, *overrides: str, params_file: Path = SIM_PARAMS
) -> list[str]:
    """argv for ``nodes/<executable>`` with the fleet params file, autostart and overrides."""
    arguments = [str(NODES / executable), "--ros-args"]
    if namespace:
        arguments += ["-r", f"__ns:=/{namespace}"]
    arguments += ["--params-file", str(params_file), "-p", "autostart:=true"]
    for override in overrides:
        arguments += ["-p", override]
    return arguments


class FleetWatch:
    """Records the fleet's states, the sim's diagnostics and every robot's safety status."""

    def __init__(self, node, robots: list[str]) -> None:
        self.robots = robots
        self.min_distance = np.inf
        self.latest_positions: dict[str, np.ndarray] = {}
        self.diagnostics: dict[str, str] = {}
        self.last_status: dict[str, tuple[float, SafetyStatus]] = {}
        self.mode_counts: dict[int, int] = {}
        self.clock = 0.0
        node.create_subscription(
            Clock, "/clock", lambda m: setattr(self, "clock", time_to_seconds(m.clock)), 10
        )
        node.create_subscription(
            AgentStateArray, "/fleet/robot_states", self._on_states, COMMAND_QOS
        )
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        for robot in robots:
            node.create_subscription(
                SafetyStatus,
                f"/{robot}/safety_status",
                lambda m, robot=robot: self._on_status(robot, m),
                COMMAND_QOS,
            )

    def _on_status(self, robot: str, msg: SafetyStatus) -> None:
        self.last_status[robot] = (time.monotonic(), msg)
        self.mode_counts[msg.mode] = self.mode_counts.get(msg.mode, 0) + 1

    def _on_states(self, msg: AgentStateArray) -> None:
        positions = np.array([[a.x, a.y] for a in msg.agents])
        self.latest_positions = {a.id: p for a, p in zip(msg.agents, positions, strict=True)}
        if len(positions) > 1:
            gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
            np.fill_diagonal(gaps, np.inf)
            self.min_distance = min(self.min_distance, float(gaps.min()))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == "pybullet":
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def reporting(self, robot: str, within: float = 1.0) -> bool:
        """``robot``'s safety node published a status in the last ``within`` seconds."""
        status = self.last_status.get(robot)
        return status is not None and time.monotonic() - status[0] <= within

    def all_reporting(self, within: float = 1.0) -> bool:
        """Every robot's safety node published a status in the last ``within`` seconds."""
        return all(self.reporting(robot, within) for robot in self.robots)

    def arrived(self, goals: np.ndarray, tolerance: float) -> list[bool]:
        return [
            robot in self.latest_positions
            and float(np.linalg.norm(self.latest_positions[robot] - goal)) <= tolerance
            for robot, goal in zip(self.robots, goals, strict=True)
        ]

    def contacts(self) -> int:
        return sum(int(v) for k, v in self.diagnostics.items() if k.endswith("_contacts"))
