"""Inference time of the online CBF tuner per control tick, next to the safety filter's own time.

The claim: the GNN tuner needs <= 2 ms per tick for a 64-agent graph on one CPU core. The
state is the 64-agent circle swap after ``--warm-ticks`` ticks of the fixed baseline (agents
crowding toward the centre, so each agent senses many neighbours). On that same state, in the
same run and on one torch thread, it times: building the observation graph, the tuner (the
network plus squashing and the dense responsibility matrix, i.e. everything between the graph
and the filter), and the batched CBF-QP filter given the tuner's outputs. For the GNN tuner it
also times the compiled path the simulator uses (``fleetpilot.safety.tuner_kernel``: from the
robots' state through the observation and the network to the same parameters), against the
torch observation + tuner.

    .venv/bin/python benchmarks/cbf_tuner.py                 # the shipped tuner, 64 agents
    .venv/bin/python benchmarks/cbf_tuner.py --agents 16 --repeats 50

Prints a Markdown table, then the results as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.envs import NavEnv, NavEnvConfig, make_tuner  # noqa: E402
from fleetpilot.envs.nominal import go_to_goal  # noqa: E402
from fleetpilot.envs.tuners import observation_scan  # noqa: E402
from fleetpilot.safety.tuner import GnnTuner  # noqa: E402
from fleetpilot.safety.tuner_kernel import TunerKernel  # noqa: E402
from fleetpilot.scenarios import load_scenario  # noqa: E402

TARGET_MS = 2.0


def timed(function, repeats: int) -> list[float]:
    """Wall times [ms] of ``repeats`` calls, after three warm-up calls."""
    for _ in range(3):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
        "min_ms": round(ordered[0], 4),
    }


def compiled_tuner(tuner: GnnTuner, env: NavEnv):
    """One tick of the compiled path on the environment's current state (one world)."""
    kernel = TunerKernel(tuner.net, env.sensing_radius)
    state = (
        env.positions[0].double().numpy(),
        env.velocities[0].double().numpy(),
        env.headings[0].double().numpy(),
        env.goals[0].double().numpy(),
        env.arrived[0].numpy(),
        env.obstacles[0][env.obstacle_mask[0]].double().numpy(),
    )

    def run() -> None:
        node_mean, edge_mean, edge_index = kernel(*state)
        tuner.act_on_means(node_mean, edge_mean, edge_index, 1, env.num_agents)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuner", default=str(ROOT / "policies" / "cbf_tuner_gnn"))
    parser.add_argument(
        "--scenario", default=str(ROOT / "sim" / "scenarios" / "circle_swap_64.yaml")
    )
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--warm-ticks", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)

    tuner = make_tuner(args.tuner)
    env = NavEnv(
        NavEnvConfig(
            scenario=load_scenario(args.scenario),
            num_envs=1,
            num_agents=args.agents,
            action_parameters=("alpha", "gain"),
            max_steps=args.warm_ticks + 10,
            **observation_scan(tuner),
        )
    )
    observation, _ = env.reset(seed=0)
    fixed = env.action_layout.pack({"alpha": 1.0, "gain": 1.0}, 1, env.num_agents)
    with torch.inference_mode():
        for _ in range(args.warm_ticks):
            observation = env.step(fixed)[0]
        action, responsibility = tuner(observation)
        alpha = action[..., tuner.action_parameters.index("alpha")]
        velocity = go_to_goal(
            env.positions, env.goals, torch.ones_like(alpha), env.robot.max_speed
        )
        active = torch.ones_like(alpha, dtype=torch.bool)
        obstacles = env.obstacles if bool(env.obstacle_mask.any()) else None

        def run_tuner():
            tuner(observation)

        def run_filter():
            env.model.safe_command(
                env.positions, env.headings, velocity, alpha, obstacles, active, responsibility
            )

        def run_observe():
            env._geometry = None  # rebuild geometry and graph, as after a step
            env._observe()

        results = {
            "tuner": summary(timed(run_tuner, args.repeats)),
            "filter": summary(timed(run_filter, args.repeats)),
            "observation": summary(timed(run_observe, args.repeats)),
        }
        if isinstance(tuner, GnnTuner):
            results["compiled"] = summary(timed(compiled_tuner(tuner, env), args.repeats))
    ratio = results["tuner"]["median_ms"] / results["filter"]["median_ms"]
    compiled_ratio = None
    if "compiled" in results:
        torch_ms = results["observation"]["median_ms"] + results["tuner"]["median_ms"]
        compiled_ratio = round(results["compiled"]["median_ms"] / torch_ms, 3)
    report = {
        "benchmark": "cbf_tuner_inference",
        "scenario": Path(args.scenario).stem,
        "agents": env.num_agents,
        "edges": int(observation.edge_index.shape[1]),
        "warm_ticks": args.warm_ticks,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        **{f"{name}_{key}": value for name, row in results.items() for key, value in row.items()},
        "tuner_over_filter": round(ratio, 3),
        "compiled_over_torch": compiled_ratio,
        "target_ms": TARGET_MS,
        "meets_target": results["tuner"]["median_ms"] <= TARGET_MS,
    }
    print(f"{report['agents']} agents, {report['edges']} sensed pairs, 1 torch thread\n")
    print("| step | median [ms] | p90 [ms] | min [ms] |")
    print("|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['median_ms']:.3f} | {row['p90_ms']:.3f} | {row['min_ms']:.3f} |")
    if compiled_ratio is not None:
        print(f"\ncompiled / (torch observation + tuner) = {compiled_ratio:.2f}")
    print(
        f"\ntuner / filter = {ratio:.2f}; target {TARGET_MS} ms: "
        f"{'met' if report['meets_target'] else 'NOT met'}"
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
