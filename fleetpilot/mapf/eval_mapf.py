"""Evaluate a lifelong MAPF planner on a map file or generated maps; prints throughput.

Example: ``fleetpilot eval mapf --generate random:20x20:0.3 --agents 64 --planner pibt
--steps 256 --seeds 0-9 --json``. Average throughput = goals reached by all agents per step
(mean over seeds); ``ms_per_step`` = planner wall time per step for all agents.
"""

from __future__ import annotations

import argparse
import json
import sys

from fleetpilot.mapf.planners.base import planner_names


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-9"``, ``"3"`` or ``"0,2,5-7"`` -> seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        bounds = part.split("-")
        if len(bounds) == 2 and all(bound.isdigit() for bound in bounds):
            low, high = int(bounds[0]), int(bounds[1])
            if low > high:
                raise argparse.ArgumentTypeError(f"seed range {part!r} is empty")
            seeds.extend(range(low, high + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"expected seeds like 0-9 or 0,3,5, got {text!r}")
    return tuple(seeds)


def parse_option(text: str) -> tuple[str, object]:
    """``key=value`` with a JSON value (bare words stay strings)."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--map", help="a MovingAI .map file (or a POGEMA string-map file)")
    source.add_argument(
        "--generate",
        metavar="SPEC",
        help=(
            "generate one map per seed: random:WxH:DENSITY, maze:WxH[:LOOPS], "
            "city:WxH:DENSITY or warehouse"
        ),
    )
    parser.add_argument("--agents", type=int, required=True, help="number of agents")
    parser.add_argument(
        "--planner", default="follower-planner", choices=planner_names(), help="planner name"
    )
    parser.add_argument("--steps", type=int, default=256, help="episode length (default 256)")
    parser.add_argument(
        "--seeds", type=parse_seeds, default=tuple(range(10)), help="seeds, e.g. 0-9 (default)"
    )
    parser.add_argument(
        "--option",
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="planner config field (repeatable), e.g. --option traffic_weight=1.5",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def main(args: argparse.Namespace) -> int:
    from fleetpilot.mapf.evaluation import EvalConfig, evaluate
    from fleetpilot.mapf.map_source import MapSource

    try:
        config = EvalConfig(
            maps=MapSource(path=args.map, spec=args.generate),
            num_agents=args.agents,
            planner=args.planner,
            steps=args.steps,
            seeds=args.seeds,
            planner_options=dict(args.option),
        )
        summary = evaluate(config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['planner']} on {summary['map']} with {summary['agents']} agents, "
            f"{len(summary['seeds'])} seeds x {summary['steps']} steps: "
            f"avg_throughput {summary['avg_throughput']:.3f} "
            f"(std {summary['std_throughput']:.3f}), {summary['ms_per_step']:.2f} ms/step"
        )
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
