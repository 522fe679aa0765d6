"""Learned tuners for one robot's safety node (torch and torch_geometric are imported here).

A learned tuner is given the observation it was trained on, restricted to this robot's view: a
one-graph Batch with the robot as node 0 and its perceived neighbours as the other nodes
(neighbours' goals are unknown to the robot, so their goal offsets are zero).
"""

from __future__ import annotations

import numpy as np
import torch

from fleetpilot.agent_states import AgentStates
from fleetpilot.envs.actions import ActionLayout
from fleetpilot.envs.graph import NeighbourGraphBuilder, compute_geometry
from fleetpilot.envs.tuners import make_tuner, observation_scan
from fleetpilot.ros.tuning import TunedParameters


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when present) -> a usable device.

    Raises:
        ValueError: naming the device when it is unknown or not available here.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device: expected cpu, cuda, cuda:N or auto, got {name!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected cpu, cuda, cuda:N or auto, got {name!r}")
    return device


class LearnedTunerAdapter:
    """Runs a learned tuner for one robot.

    Args:
        spec: a learned tuner's directory (a :func:`~fleetpilot.envs.tuners.make_tuner` spec).
        device: where the tuner runs.
        noise_seed: seed of a sampling tuner's noise; None: the seed in its ``tuner.yaml``.
    """

    def __init__(self, spec: str, device: torch.device, noise_seed: int | None = None) -> None:
        self.spec = spec
        self.device = device
        self.tuner = make_tuner(spec)
        if hasattr(self.tuner, "to"):
            self.tuner = self.tuner.to(device)
        if noise_seed is not None and hasattr(self.tuner, "reset"):
            self.tuner.reset(noise_seed)
        self.layout = ActionLayout(tuple(self.tuner.action_parameters))
        self._builders: dict[tuple[int, float], NeighbourGraphBuilder] = {}

    def parameters(
        self,
        pose: np.ndarray,
        velocity: np.ndarray,
        goal: np.ndarray | None,
        neighbours: AgentStates,
        config,
        obstacles: np.ndarray | None = None,
    ) -> TunedParameters:
        """This tick's parameters; ``config`` supplies the sensing radius; ``obstacles`` (M, 3)
        are the discs this robot perceives (its map and what its lidar sees), what the tuner's
        obstacle scan ranges over (None: ``config.obstacles``, the map alone)."""
        if obstacles is None:
            obstacles = config.obstacles
        observation = self.observation(pose, velocity, goal, neighbours, config, obstacles)
        with torch.no_grad():
            output = self.tuner(observation)
        # Tuners with per-neighbour outputs return (action, (B, N, N) responsibility).
        action, responsibility = output if isinstance(output, tuple) else (output, None)
        values = self.layout.unpack(action[:, :1].to(device="cpu", dtype=torch.float64))
        return TunedParameters(
            float(values["alpha"][0, 0]),
            float(values["gain"][0, 0]),
            float(values["tangential"][0, 0]),
            None if responsibility is None else responsibility[0].double().cpu().numpy(),
        )

    def graph_builder(self, count: int, sensing_radius: float) -> NeighbourGraphBuilder:
        """The builder of a ``count``-node graph, made once: its pair tables never change."""
        key = (count, float(sensing_radius))
        if key not in self._builders:
            self._builders[key] = NeighbourGraphBuilder(
                1, count, sensing_radius, self.device, **observation_scan(self.tuner)
            )
        return self._builders[key]

    def observation(self, pose, velocity, goal, neighbours: AgentStates, config, obstacles):
        """The one-graph Batch the tuner reads (this robot is node 0)."""
        count = 1 + len(neighbours)
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=self.device)  # noqa: E731
        positions = np.concatenate([pose[None, :2], neighbours.positions])
        goals = positions.copy()
        if goal is not None:
            goals[0] = goal
        present = len(obstacles) > 0
        obstacles = obstacles if present else np.array([[1e9, 1e9, 1.0]])
        positions_t = as_tensor(positions)[None]
        obstacles_t = as_tensor(obstacles)[None]
        mask = torch.tensor([[present] * len(obstacles)], device=self.device)
        geometry = compute_geometry(positions_t, obstacles_t, mask)
        return self.graph_builder(count, config.sensing_radius)(
            geometry,
            positions_t,
            as_tensor(np.concatenate([velocity[None], neighbours.velocities]))[None],
            as_tensor(np.concatenate([[pose[2]], neighbours.headings]))[None],
            as_tensor(goals)[None],
            torch.zeros((1, count), dtype=torch.bool, device=self.device),
        )
