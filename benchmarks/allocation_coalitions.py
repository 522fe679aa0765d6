"""Where the per-step optimum's gain over greedy lies: inside each task, or between tasks.

Runs per-step planners through the dynamic allocation environment on the benchmark's settings
(10 seeds, 100 robots) and prints one JSON object and a Markdown table:

- ``greedy``: each task in turn adds the robot with the lowest cost per useful capability;
- ``exact-step``: the step's coalition formation over all tasks jointly (integer program);
- ``per-task exact``: each task alone, oldest first, gets its cheapest covering coalition among
  the robots still free (the same integer program restricted to one task), or nobody when no
  coalition pays;
- ``per-task exact, 8 by ratio`` / ``8 by cost``: the same, choosing only among the task's 8 best
  robots by cost per unit of useful capability / by plain cost (what a candidate stage keeps).

    python benchmarks/allocation_coalitions.py            # ~3 min on 2 cores
    python benchmarks/allocation_coalitions.py --seeds 2  # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from fleetpilot.allocation.dynamic_baselines import GreedyCoalitionPolicy
from fleetpilot.allocation.env import NO_TASK, AllocationObs, make_env_config
from fleetpilot.allocation.evaluation import run_episode
from fleetpilot.allocation.exact_step import ExactStepPolicy, solve_step


class PerTaskExact:
    """Oldest task first, each task's most profitable covering coalition on its own."""

    def __init__(self, max_coalition: int, keep: int | None = None, rank: str = "ratio") -> None:
        self.max_coalition, self.keep, self.rank = max_coalition, keep, rank

    def act(self, obs: AllocationObs) -> np.ndarray:
        batch, n_robots, n_slots = obs.eligible.shape
        action = np.full((batch, n_robots), NO_TASK, dtype=np.int64)
        useful = np.minimum(obs.capabilities[:, :, None, :], obs.requirement[:, None]).sum(-1)
        for b in range(batch):
            taken = np.zeros(n_robots, dtype=bool)
            for slot in range(n_slots):
                allowed = obs.eligible[b, :, slot] & ~taken
                if self.keep is not None:
                    key = obs.member_cost[b, :, slot]
                    if self.rank == "ratio":
                        key = key / np.maximum(useful[b, :, slot], 1e-6)
                    best = np.argsort(np.where(allowed, key, np.inf))[: self.keep]
                    allowed = np.isin(np.arange(n_robots), best) & allowed
                eligible = np.zeros((n_robots, n_slots), dtype=bool)
                eligible[:, slot] = allowed
                chosen = solve_step(
                    obs.capabilities[b],
                    obs.requirement[b],
                    obs.value[b],
                    obs.member_cost[b],
                    eligible,
                    self.max_coalition,
                )
                members = chosen == slot
                action[b, members] = slot
                taken |= members
        return action


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
    print("| planner | " + " | ".join(f"{f} reward | {f} cost | {f} done" for f in report) + " |")
    print("|---|" + "---|---|---|" * len(report))
    for name in report["pickup"]:
        cells = [
            f"{report[f][name]['reward']:.2f} | {report[f][name]['cost']:.2f} | "
            f"{report[f][name]['tasks_done']:.1f}"
            for f in report
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(json.dumps({"seeds": args.seeds, "mean": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
