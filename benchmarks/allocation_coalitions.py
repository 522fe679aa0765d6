"""Where the per-step optimum's gain over greedy lies: inside each task, or between tasks.

Runs per-step planners through the dynamic allocation environment on the benchmark's settings
(10 seeds, 100 robots) and prints one JSON object and a Markdown table:

- ``greedy``: each task in turn adds the robot with the lowest cost per useful capability;
- ``exact-step``: the step's coalition formation over all tasks jointly (integer program);
- ``per-task exact``: each task alone, oldest first, gets its cheapest covering coalition among
  the robots still free (the same integer program restricted to one task), or nobody when no
  coalition pays;
- ``per-task exact, 8 by ratio`` / ``8 by cost``: the same, choosing only among the task's 8 best
  robots by cost per unit of useful capability / by plain cost (what a candidate stage keeps);
- ``per-task exact, waits``: the per-task planner, but a task is left for later when a robot that
  is busy now and can still reach it before its deadline would make its best coalition at least
  10 % more profitable (a bound on what waiting, which no per-step planner does, could add).

    python benchmarks/allocation_coalitions.py            # ~3 min on 2 cores
    python benchmarks/allocation_coalitions.py --seeds 2  # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from fleetpilot.allocation.dynamic_baselines import GreedyCoalitionPolicy
from fleetpilot.allocation.env import (
    NO_TASK,
    AllocationEnv,
    AllocationObs,
    EnvConfig,
    make_env_config,
)
from fleetpilot.allocation.evaluation import run_episode
from fleetpilot.allocation.exact_step import ExactStepPolicy, solve_step


def best_coalition(
    obs: AllocationObs, slot: int, allowed: np.ndarray, max_coalition: int
) -> tuple[np.ndarray, float]:
    """(R,) members of environment 0's most profitable covering coalition for ``slot`` among
    ``allowed`` robots, and its profit (0 and nobody when none pays)."""
    eligible = np.zeros(obs.eligible.shape[1:], dtype=bool)
    eligible[:, slot] = allowed
    chosen = solve_step(
        obs.capabilities[0],
        obs.requirement[0],
        obs.value[0],
        obs.member_cost[0],
        eligible,
        max_coalition,
    )
    members = chosen == slot
    return members, float(obs.value[0, slot] - obs.member_cost[0, members, slot].sum())


class PerTaskExact:
    """Oldest task first, each task's most profitable covering coalition on its own."""

    def __init__(self, max_coalition: int, keep: int | None = None, rank: str = "ratio") -> None:
        self.max_coalition, self.keep, self.rank = max_coalition, keep, rank

    def act(self, obs: AllocationObs) -> np.ndarray:
        n_robots, n_slots = obs.eligible.shape[1:]
        action = np.full((1, n_robots), NO_TASK, dtype=np.int64)
        useful = np.minimum(obs.capabilities[0, :, None, :], obs.requirement[0][None]).sum(-1)
        taken = np.zeros(n_robots, dtype=bool)
        for slot in range(n_slots):
            allowed = obs.eligible[0, :, slot] & ~taken
            if self.keep is not None:
                key = obs.member_cost[0, :, slot]
                if self.rank == "ratio":
                    key = key / np.maximum(useful[:, slot], 1e-6)
                best = np.argsort(np.where(allowed, key, np.inf))[: self.keep]
                allowed = np.isin(np.arange(n_robots), best) & allowed
            members, _ = best_coalition(obs, slot, allowed, self.max_coalition)
            action[0, members] = slot
            taken |= members
        return action


def waiting_reward(config: EnvConfig, seed: int, margin: float = 0.1) -> float:
    """Episode reward of the per-task planner that may wait for robots busy now (see module doc).

    It reads the environment's busy times, which allocators do not observe.
    """
    env = AllocationEnv(config, batch_size=1)
    obs, finished = env.reset(seed), False
    while not finished:
        action = np.full((1, config.n_robots), NO_TASK, dtype=np.int64)
        taken = np.zeros(config.n_robots, dtype=bool)
        ready_in = np.maximum(env.busy_until[0] - env.step_count, 0)
        for slot in np.flatnonzero(obs.task_valid[0]):
            allowed = obs.eligible[0, :, slot] & ~taken
            members, profit = best_coalition(obs, slot, allowed, config.max_coalition)
            if profit > 0:
                helps = ((obs.capabilities[0] > 0) & (obs.requirement[0, slot] > 0)).any(-1)
                reach = ready_in.astype(float)
                if config.spatial:
                    to_pickup = np.linalg.norm(
                        obs.robot_position[0] - obs.pickup[0, slot], axis=-1
                    )
                    reach = reach + to_pickup / config.speed
                soon = ~obs.robot_free[0] & helps & (reach <= obs.time_left[0, slot] - 1)
                later, later_profit = best_coalition(
                    obs, slot, allowed | soon, config.max_coalition
                )
                if later_profit > profit * (1 + margin) and (later & soon).any():
                    continue  # leave the task for the robot that is about to become free
            action[0, members] = slot
            taken |= members
        obs, _, finished = env.step(obs, action)
    return float(env.totals["reward"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per family")
    args = parser.parse_args(argv)
    report: dict[str, dict] = {}
    for family in ("pickup", "capability"):
        config = make_env_config(family)
        m = config.max_coalition
        planners = {
            "greedy": GreedyCoalitionPolicy(m),
            "exact-step": ExactStepPolicy(m),
            "per-task exact": PerTaskExact(m),
            "per-task exact, 8 by ratio": PerTaskExact(m, keep=8, rank="ratio"),
            "per-task exact, 8 by cost": PerTaskExact(m, keep=8, rank="cost"),
        }
        report[family] = {}
        for name, planner in planners.items():
            results = [run_episode(config, planner, seed) for seed in range(args.seeds)]
            report[family][name] = {
                field: float(np.mean([getattr(r, field) for r in results]))
                for field in ("reward", "cost", "tasks_done")
            }
        rewards = [waiting_reward(config, seed) for seed in range(args.seeds)]
        report[family]["per-task exact, waits"] = {"reward": float(np.mean(rewards))}
    print("| planner | " + " | ".join(f"{f} reward | {f} cost | {f} done" for f in report) + " |")
    print("|---|" + "---|---|---|" * len(report))
    for name in report["pickup"]:
        cells = [
            " | ".join(
                f"{report[f][name][field]:.{digits}f}" if field in report[f][name] else "-"
                for field, digits in (("reward", 2), ("cost", 2), ("tasks_done", 1))
            )
            for f in report
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(json.dumps({"seeds": args.seeds, "mean": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
