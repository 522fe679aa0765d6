"""Lifelong multi-agent grid simulator (numpy + a compiled collision kernel).

Each step every agent chooses one of five actions (0 wait, 1 up, 2 down, 3 left, 4 right; the
POGEMA convention). Moves are resolved by :mod:`fleetpilot.mapf.collisions` (POGEMA's soft
collisions: invalid, swapping or vertex-conflicting moves become waits, so no two agents ever
share a cell or pass through each other). After moving, every agent standing on its goal counts
one reached goal and immediately gets a new one from the seeded :class:`GoalStream`.

Average throughput = (goals reached by all agents over the episode) / (episode steps), the
definition of POGEMA's ``avg_throughput``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from fleetpilot.mapf.collisions import resolve_moves
from fleetpilot.mapf.grid_map import MOVES, NUM_ACTIONS, GridMap
from fleetpilot.mapf.tasks import GoalStream, initial_placement


@dataclass(frozen=True)
class SimConfig:
    """One lifelong episode.

    Attributes:
        num_agents: agents on the map.
        max_steps: episode length in steps (POGEMA benchmark: 256).
        seed: task seed (start cells, first goals and the goal stream).
    """

    num_agents: int
    max_steps: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_agents < 1:
            raise ValueError(f"SimConfig.num_agents must be >= 1, got {self.num_agents}")
        if self.max_steps < 1:
            raise ValueError(f"SimConfig.max_steps must be >= 1, got {self.max_steps}")
        if self.seed < 0:
            raise ValueError(f"SimConfig.seed must be >= 0, got {self.seed}")


class LifelongSim:
    """A lifelong MAPF episode on one map.

    Attributes:
        positions: (N, 2) int64 ``(row, col)`` of every agent.
        goals: (N, 2) int64 current goal of every agent.
        steps: steps taken so far.
        goals_reached: goals reached by all agents so far.
    """

    def __init__(self, grid: GridMap, config: SimConfig) -> None:
        self.grid = grid
        self.config = config
        self._free = grid.free.reshape(-1)
        self._occupant = np.full(self._free.size, -1, dtype=np.int64)
        self.positions, self.goals = initial_placement(grid, config.num_agents, config.seed)
        self._stream = GoalStream(grid, config.num_agents, config.seed)
        self.steps = 0
        self.goals_reached = 0

    @property
    def done(self) -> bool:
        return self.steps >= self.config.max_steps

    @property
    def throughput(self) -> float:
        """Goals reached per step so far (over ``max_steps`` once the episode is done)."""
        return self.goals_reached / max(self.steps, 1)

    def step(self, actions: np.ndarray) -> np.ndarray:
        """Advance one step.

        Args:
            actions: (N,) int in [0, 5).

        Returns:
            (N,) bool, which agents reached their goal in this step (they already have new
            goals).
        """
        actions = np.asarray(actions)
        if actions.shape != (self.config.num_agents,):
            raise ValueError(
                f"actions must have shape ({self.config.num_agents},), got {actions.shape}"
            )
        if np.any((actions < 0) | (actions >= NUM_ACTIONS)):
            raise ValueError(f"actions must be in [0, {NUM_ACTIONS}), got {actions}")
        width, height = self.grid.width, self.grid.height
        moved = self.positions + MOVES[actions]
        inside = (
            (moved[:, 0] >= 0)
            & (moved[:, 0] < height)
            & (moved[:, 1] >= 0)
            & (moved[:, 1] < width)
        )
        proposed = np.where(inside, moved[:, 0] * width + moved[:, 1], -1)
        current = self.positions[:, 0] * width + self.positions[:, 1]
        nxt = resolve_moves(current, proposed, self._free, self._occupant)
        self.positions = np.stack([nxt // width, nxt % width], axis=-1)
        reached = np.all(self.positions == self.goals, axis=1)
        for agent in np.flatnonzero(reached):
            self.goals[agent] = self._stream.next_goal(int(agent), self.positions[agent])
        self.goals_reached += int(np.count_nonzero(reached))
        self.steps += 1
        return reached


@dataclass
class EpisodeResult:
    """What one episode measured.

    Attributes:
        throughput: goals reached per step.
        goals_reached: total goals reached.
        steps: episode length.
        planner_seconds: wall time spent in the planner, all steps, all agents.
        reset_seconds: wall time of the planner's reset (precomputation), not in the above.
    """

    throughput: float
    goals_reached: int
    steps: int
    planner_seconds: float
    reset_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ms_per_step(self) -> float:
        return 1e3 * self.planner_seconds / max(self.steps, 1)


def run_episode(grid: GridMap, planner, config: SimConfig) -> EpisodeResult:
    """Run one lifelong episode with a planner (see :mod:`fleetpilot.mapf.planners`).

    Args:
        grid: the map.
        planner: object with ``reset(grid, positions, goals, seed)`` and
            ``act(positions, goals) -> (N,) actions``.
        config: episode settings.
    """
    sim = LifelongSim(grid, config)
    start = time.perf_counter()
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), config.seed)
    reset_seconds = time.perf_counter() - start
    planner_seconds = 0.0
    while not sim.done:
        start = time.perf_counter()
        actions = planner.act(sim.positions.copy(), sim.goals.copy())
        planner_seconds += time.perf_counter() - start
        sim.step(actions)
    return EpisodeResult(
        throughput=sim.goals_reached / config.max_steps,
        goals_reached=sim.goals_reached,
        steps=sim.steps,
        planner_seconds=planner_seconds,
        reset_seconds=reset_seconds,
    )
