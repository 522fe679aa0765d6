"""Throughput of the batched navigation environment with the CBF filter in the loop.

For each B x N (environments x agents) the environment runs the circle-swap family from reset
(agents converge on the centre, the densest case for the filter) and reports agent-steps per
second, the share of time spent in ``filter_batch``, and the same for a reference loop that
filters agent by agent with one warm-started OSQP problem per agent (same constraints, same
nominal controller, same dynamics, same ticks; on the first few environments only, since its
cost per agent does not depend on B), measured in the same run.

    .venv/bin/python benchmarks/nav_env.py            # full run
    .venv/bin/python benchmarks/nav_env.py --quick    # a few ticks per size (smoke test)

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import osqp
import scipy.sparse as sparse
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs import NavEnv, NavEnvConfig  # noqa: E402
from fleetpilot.scenarios import load_scenario  # noqa: E402

SIZES = ((1, 16), (64, 16), (16, 64), (256, 32))
SCENARIO = ROOT / "sim" / "scenarios" / "circle_swap_8.yaml"
ALPHA, GAIN = 1.0, 1.0
TARGET_AGENT_STEPS_PER_SECOND = 200_000


def time_batched(scenario, num_envs: int, num_agents: int, ticks: int, warmup: int) -> dict:
    """Steps one NavEnv for ``ticks`` ticks after ``warmup`` and times it, filter separately."""
    env = NavEnv(
        NavEnvConfig(scenario=scenario, num_envs=num_envs, num_agents=num_agents, max_steps=10**6)
    )
    env.reset(seed=0)
    action = env.action_layout.pack({"alpha": ALPHA, "gain": GAIN}, num_envs, num_agents)
    filter_seconds = [0.0]
    safe_command = env.model.safe_command

    def timed_safe_command(*args, **kwargs):
        start = time.perf_counter()
        result = safe_command(*args, **kwargs)
        filter_seconds[0] += time.perf_counter() - start
        return result

    env.model.safe_command = timed_safe_command
    collisions = 0
    with torch.inference_mode():
        for _ in range(warmup):
            env.step(action)
        filter_seconds[0] = 0.0
        start = time.perf_counter()
        for _ in range(ticks):
            _, _, _, _, info = env.step(action)
            collisions += int(info["contacts"].sum())
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "ticks": ticks,
        "agent_steps_per_second": num_envs * num_agents * ticks / seconds,
        "ms_per_tick": 1e3 * seconds / ticks,
        "filter_fraction": filter_seconds[0] / seconds,
        "contact_starts": collisions,
    }


class OsqpAgentLoop:
    """The reference: every agent solves its own CBF-QP with its own warm-started OSQP problem.

    Same constraints as the batched filter's contract: for neighbour j within the sensing
    radius ``2 (p_i - p_j) . u >= -(alpha / 2)(|p_i - p_j|^2 - D^2)``, plus ``|u_x|, |u_y| <=
    max_speed``; the objective is ``|u - u_nominal|^2``.
    """

    def __init__(self, starts: np.ndarray, goals: np.ndarray, instance) -> None:
        self.positions, self.goals = starts.copy(), goals
        self.num_envs, self.count = starts.shape[:2]
        self.distance = instance.safety_distance
        self.radius = instance.sensing_radius
        self.max_speed = instance.robots[0].max_speed
        self.dt = instance.dt
        rows = self.count - 1 + 2  # every possible neighbour, then the two speed bounds
        self.rows = rows
        structure = (np.tile(np.arange(rows), 2), np.array([0, rows, 2 * rows]))
        base = np.zeros((rows, 2))
        base[-2, 0] = base[-1, 1] = 1.0
        self.problems = []
        for _ in range(self.num_envs * self.count):
            problem = osqp.OSQP()
            matrix = sparse.csc_matrix((base.T.ravel(), *structure), shape=(rows, 2))
            lower, upper = np.full(rows, -np.inf), np.full(rows, np.inf)
            lower[-2:], upper[-2:] = -self.max_speed, self.max_speed
            problem.setup(
                sparse.csc_matrix(2.0 * np.eye(2)),
                np.zeros(2),
                matrix,
                lower,
                upper,
                verbose=False,
                warm_starting=True,
                polishing=False,
                eps_abs=1e-5,
                eps_rel=1e-5,
            )
            self.problems.append(problem)

    def step(self) -> None:
        offsets = self.goals - self.positions
        nominal = GAIN * offsets
        speed = np.linalg.norm(nominal, axis=-1, keepdims=True)
        nominal *= np.minimum(1.0, self.max_speed / np.maximum(speed, 1e-12))
        commands = np.zeros_like(nominal)
        for env in range(self.num_envs):
            positions = self.positions[env]
            for agent in range(self.count):
                others = np.delete(np.arange(self.count), agent)
                relative = positions[agent] - positions[others]
                squared = np.einsum("ij,ij->i", relative, relative)
                seen = squared <= self.radius**2
                matrix = np.zeros((self.rows, 2))
                matrix[: self.count - 1] = np.where(seen[:, None], 2.0 * relative, 0.0)
                matrix[-2, 0] = matrix[-1, 1] = 1.0
                lower = np.full(self.rows, -np.inf)
                lower[: self.count - 1] = np.where(
                    seen, -(ALPHA / 2) * (squared - self.distance**2), -np.inf
                )
                lower[-2:] = -self.max_speed
                upper = np.full(self.rows, np.inf)
                upper[-2:] = self.max_speed
                problem = self.problems[env * self.count + agent]
                problem.update(q=-2.0 * nominal[env, agent], Ax=matrix.T.ravel(), l=lower, u=upper)
                result = problem.solve(raise_error=False)
                if result.info.status in ("solved", "solved inaccurate"):
                    commands[env, agent] = result.x
        self.positions = self.positions + self.dt * commands


def time_osqp(scenario, num_envs: int, num_agents: int, ticks: int, warmup: int) -> dict:
    """Times the OSQP agent loop over the same ticks as the batched run.

    Its cost per agent does not depend on B, so it runs the first ``num_envs`` layouts only.
    """
    instances = [
        scenario.sample(seed=(0, env, 0), num_agents=num_agents) for env in range(num_envs)
    ]
    loop = OsqpAgentLoop(
        np.stack([i.starts for i in instances]),
        np.stack([i.goals for i in instances]),
        instances[0],
    )
    for _ in range(warmup):
        loop.step()
    start = time.perf_counter()
    for _ in range(ticks):
        loop.step()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "ticks": ticks,
        "num_envs": num_envs,
        "agent_steps_per_second": num_envs * num_agents * ticks / seconds,
        "ms_per_tick": 1e3 * seconds / ticks,
    }


def markdown(results: dict) -> str:
    lines = [
        "| B x N | batched agent-steps/s | ms/tick | filter share | OSQP loop agent-steps/s "
        "| speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["sizes"]:
        batched, reference = row["batched"], row["osqp_loop"]
        lines.append(
            f"| {row['num_envs']} x {row['num_agents']} | "
            f"{batched['agent_steps_per_second']:,.0f} | {batched['ms_per_tick']:.2f} | "
            f"{100 * batched['filter_fraction']:.0f} % | "
            f"{reference['agent_steps_per_second']:,.0f} | {row['speedup']:.0f}x |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few ticks per size")
    parser.add_argument("--ticks", type=int, default=100, help="timed ticks per size")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--osqp-envs", type=int, default=2, help="environments the OSQP loop runs per size"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ticks, warmup = (3, 1) if args.quick else (args.ticks, 5)
    scenario = load_scenario(SCENARIO)
    sizes = []
    for num_envs, num_agents in SIZES:
        batched = time_batched(scenario, num_envs, num_agents, ticks, warmup)
        osqp_envs = 1 if args.quick else min(num_envs, args.osqp_envs)
        reference = time_osqp(scenario, osqp_envs, num_agents, ticks, warmup)
        sizes.append(
            {
                "num_envs": num_envs,
                "num_agents": num_agents,
                "batched": batched,
                "osqp_loop": reference,
                "speedup": batched["agent_steps_per_second"] / reference["agent_steps_per_second"],
            }
        )
        print(f"{num_envs} x {num_agents}: done", file=sys.stderr)
    largest = sizes[-1]["batched"]["agent_steps_per_second"]
    results = {
        "benchmark": "nav_env",
        "scenario": scenario.name,
        "quick": args.quick,
        "alpha": ALPHA,
        "gain": GAIN,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "osqp": osqp.__version__,
        "python": platform.python_version(),
        "target_agent_steps_per_second": TARGET_AGENT_STEPS_PER_SECOND,
        "target_met_at_largest": largest >= TARGET_AGENT_STEPS_PER_SECOND,
        "sizes": sizes,
    }
    print(markdown(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
