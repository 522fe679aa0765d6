"""``follower``: the congestion-aware planner's path fed to the learned local policy.

``follower-pibt`` adds a collision shield (CS-PIBT, Veerapaneni et al., ICAPS 2024): every agent
ranks its five moves by the policy's log-probability plus a weighted static cost-to-go of the
cell, and PIBT picks conflict-free moves in that order. PIBT only ever asks an agent to make way
for one standing next to it, so the shield needs agents within two cells to exchange intended
moves and priorities (local communication); the plain Follower needs none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetpilot.mapf.grid_map import GridMap
from fleetpilot.mapf.observations import follower_observations, valid_action_mask
from fleetpilot.mapf.pibt_kernel import move_costs_from_tables, pibt_step
from fleetpilot.mapf.planners.base import actions_towards, flat_cells
from fleetpilot.mapf.planners.follower_planner import FollowerPlanner, FollowerPlannerConfig
from fleetpilot.mapf.planners.pibt import LifelongPriorities

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
        collision_shield: choose conflict-free moves with PIBT from each agent's ranking
            (module docstring) instead of taking the policy's move.
        shield_heuristic_weight: weight of the static cost-to-go in the shield's ranking (in
            units of log-probability per unit of path cost); 0 ranks by the policy alone.
    """

    policy_dir: str = ""
    planner_obs_radius: int = 5
    sample: bool = False
    collision_shield: bool = False
    shield_heuristic_weight: float = 8.0

    def __post_init__(self) -> None:
        if self.planner_obs_radius < 1:
            raise ValueError(
                f"FollowerConfig.planner_obs_radius must be >= 1, got {self.planner_obs_radius}"
            )
        if not np.isfinite(self.shield_heuristic_weight) or self.shield_heuristic_weight < 0:
            raise ValueError(
                "FollowerConfig.shield_heuristic_weight must be finite and >= 0, got "
                f"{self.shield_heuristic_weight}"
            )
        if self.sample and self.collision_shield:
            raise ValueError("FollowerConfig: sample and collision_shield cannot both be set")


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
        if self.config.collision_shield:
            self._shield_rng = np.random.default_rng(seed)
            self._priorities = LifelongPriorities(len(positions), self._shield_rng)
            self._occupant_now = np.full(self._free.size, -1, dtype=np.int64)
            self._occupant_next = np.full(self._free.size, -1, dtype=np.int64)

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
        if not self.config.collision_shield:
            return self.policy.select_action(obs, mask, self._rng)
        return self._shielded_actions(positions, goals, obs, mask)

    def _shielded_actions(
        self, positions: np.ndarray, goals: np.ndarray, obs: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        width = self._grid.width
        current = flat_cells(positions, width)
        move_costs = -self.policy.log_probs(obs, mask)  # +inf on invalid moves
        weight = self.config.shield_heuristic_weight
        if weight > 0:
            cost_to_go = self._planner.static_cost_to_go
            move_costs += weight * move_costs_from_tables(self._free, width, current, cost_to_go)
        order, _ = self._priorities.update(flat_cells(goals, width))
        noise = self._shield_rng.random((len(current), 5))
        nxt = pibt_step(
            self._free, width, current, move_costs, order, noise,
            self._occupant_now, self._occupant_next,
        )  # fmt: skip
        return actions_towards(current, nxt, width)
