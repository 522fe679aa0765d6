"""``follower``: the congestion-aware planner's path fed to the learned local policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.observations import follower_observations, valid_action_mask
from fleetpilot.mapf.planners.base import flat_cells
from fleetpilot.mapf.planners.follower_planner import FollowerPlanner, FollowerPlannerConfig

#: The shipped policy, relative to the repository root.
DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[3] / "policies" / "follower"


@dataclass(frozen=True)
class FollowerConfig:
    """Settings of the learned Follower.

    Attributes:
        policy_dir: directory written by ``FollowerPolicy.save_pretrained``; empty = shipped one.
        planner_obs_radius: radius within which the path planner counts other agents.
        sample: sample moves from the policy (seeded by the episode seed) instead of taking
            the most likely one; randomness breaks symmetric stand-offs.
    """

    policy_dir: str = ""
    planner_obs_radius: int = 5
    sample: bool = False

    def __post_init__(self) -> None:
        if self.planner_obs_radius < 1:
            raise ValueError(
                f"FollowerConfig.planner_obs_radius must be >= 1, got {self.planner_obs_radius}"
            )


class FollowerPolicyPlanner:
    """Each agent plans its congestion-aware path; the policy picks the move from local view."""

    config_class = FollowerConfig

    def __init__(self, config: FollowerConfig | None = None) -> None:
        from fleetpilot.mapf.follower_policy import FollowerPolicy

        self.config = config or FollowerConfig()
        self.policy = FollowerPolicy.from_pretrained(self.config.policy_dir or DEFAULT_POLICY_DIR)
        self._planner = FollowerPlanner(
            FollowerPlannerConfig(obs_radius=self.config.planner_obs_radius)
        )

    def reset(self, grid: GridMap, positions: np.ndarray, goals: np.ndarray, seed: int) -> None:
        self._grid = grid
        self._free = grid.free.reshape(-1)
        self._planner.reset(grid, positions, goals, seed)
        self._previous = flat_cells(positions, grid.width)
        self.policy.reset()
        self._rng = np.random.default_rng(seed) if self.config.sample else None

    def observe(self, positions: np.ndarray, goals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Replan and build (observations (N, C, S, S) float32, valid-action mask (N, 5)).

        Called once per step: the agents' cells are remembered as the next step's earlier ones.
        """
        width = self._grid.width
        current = flat_cells(positions, width)
        self._planner.plan(positions, goals)
        config = self.policy.config
        obs = follower_observations(
            self._free,
            width,
            current,
            self._previous,
            self._planner.paths,
            config.obs_radius,
            config.previous_agents,
        )
        self._previous = current
        return obs, valid_action_mask(self._free, width, current)

    def act(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        obs, mask = self.observe(positions, goals)
        return self.policy.select_action(obs, mask, self._rng)
