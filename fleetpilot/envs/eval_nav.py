"""Evaluate a CBF tuner on multi-agent navigation scenarios, or grid-search the fixed baseline.

Examples::

    fleetpilot eval nav --scenario sim/scenarios/doorway.yaml --tuner fixed:alpha=1,gain=1 \\
        --episodes 16 --seed 0 --json
    fleetpilot eval nav --grid-search --episodes 8 --json   # every file in sim/scenarios/
    fleetpilot eval nav --scenario sim/scenarios/head_on_pair.yaml --policy policies/flow_nav \
        --episodes 16 --json   # a learned nominal controller under the CBF filter

Also runnable as ``python -m fleetpilot.envs.eval_nav ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        action="append",
        type=Path,
        help="scenario YAML file (repeatable with --grid-search; default there: every file in "
        "sim/scenarios/)",
    )
    parser.add_argument(
        "--tuner",
        default="fixed:alpha=1,gain=1",
        help="fixed:alpha=A,gain=K[,tangential=B] or a learned tuner's directory",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        help="a saved nominal policy's directory (fleetpilot.flow); replaces the go-to-goal "
        "nominal, still under the CBF filter (alpha from --alpha)",
    )
    parser.add_argument(
        "--alpha", type=float, default=1.0, help="CBF alpha [1/s] used with --policy"
    )
    parser.add_argument("--episodes", type=int, default=8, help="episodes (per grid setting)")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the layouts")
    parser.add_argument("--agents", type=int, help="override the team size of a family")
    parser.add_argument("--max-steps", type=int, help="override the episode length [ticks]")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--per-agent", action="store_true", help="include per-agent lists")
    parser.add_argument(
        "--grid-search",
        action="store_true",
        help="search fixed (alpha, gain) per scenario for the best success, then makespan",
    )
    parser.add_argument(
        "--alphas",
        type=_float_list,
        default=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
        help="grid of CBF alphas [1/s], comma-separated",
    )
    parser.add_argument(
        "--gains",
        type=_float_list,
        default=(0.5, 1.0, 2.0, 4.0),
        help="grid of nominal gains [1/s], comma-separated",
    )
    parser.add_argument(
        "--make-way",
        type=float,
        default=0.0,
        help="with --grid-search: parked agents make way this hard in every setting [m/s]",
    )
    parser.add_argument("--max-envs", type=int, default=512, help="largest environment batch")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")


def _scenario_paths(args: argparse.Namespace) -> list[Path]:
    if args.scenario:
        return list(args.scenario)
    if not args.grid_search:
        raise ValueError("--scenario: required unless --grid-search is given")
    from fleetpilot.scenarios.loader import navigation_files

    return navigation_files(SCENARIO_DIR)


def _print_summary(summary: dict) -> None:
    keys = (
        "success_rate",
        "collisions",
        "deadlock_rate",
        "makespan",
        "mean_time_to_goal",
        "path_length_ratio",
        "min_distance",
        "arrived_fraction",
    )
    print(f"{summary['scenario']}  ({summary['num_agents']} agents, {summary['episodes']} ep.)")
    for key in keys:
        value = summary[key]
        print(f"  {key:<20} {value:.4g}" if isinstance(value, float) else f"  {key:<20} {value}")


def main(args: argparse.Namespace) -> int:
    import torch

    from fleetpilot.envs.evaluate import evaluate
    from fleetpilot.envs.grid_search import GridSearchConfig, grid_search, markdown_table
    from fleetpilot.envs.tuners import make_tuner
    from fleetpilot.scenarios import load_scenario

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        paths = _scenario_paths(args)
        scenarios = [load_scenario(path) for path in paths]
        if args.grid_search:
            config = GridSearchConfig(
                alphas=args.alphas,
                gains=args.gains,
                episodes=args.episodes,
                seed=args.seed,
                num_agents=args.agents,
                max_steps=args.max_steps,
                max_envs=args.max_envs,
                make_way=args.make_way,
            )
            results = []
            for scenario in scenarios:
                start = time.perf_counter()
                result = grid_search(scenario, config)
                result["seconds"] = round(time.perf_counter() - start, 1)
                results.append(result)
                best = result["best"]
                print(
                    f"{scenario.name}: alpha={best['alpha']:g} gain={best['gain']:g} "
                    f"success={best['success_rate']:.2f} ({result['seconds']} s)",
                    file=sys.stderr,
                )
            if args.json:
                print(json.dumps({"grid_search": results, "table": markdown_table(results)}))
            else:
                print(markdown_table(results))
            return 0
        if len(scenarios) != 1:
            raise ValueError("--scenario: expected exactly one file without --grid-search")
        if args.episodes < 1:
            raise ValueError(f"--episodes: expected an integer >= 1, got {args.episodes}")
        if args.policy is not None:
            from fleetpilot.flow.nav_policy import evaluate_policy, load_nav_policy

            policy, obs_config = load_nav_policy(args.policy)
            summary = evaluate_policy(
                scenarios[0],
                policy,
                obs_config,
                episodes=args.episodes,
                seed=args.seed,
                num_agents=args.agents,
                max_steps=args.max_steps,
                per_agent=args.per_agent,
                alpha=args.alpha,
            )
            summary["policy"] = str(args.policy)
            summary["alpha"] = args.alpha
        else:
            summary = evaluate(
                scenarios[0],
                make_tuner(args.tuner),
                episodes=args.episodes,
                seed=args.seed,
                num_agents=args.agents,
                max_steps=args.max_steps,
                per_agent=args.per_agent,
            )
            summary["tuner"] = args.tuner
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m fleetpilot.envs.eval_nav", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
