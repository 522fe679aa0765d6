"""The ``fleetpilot`` command: doctor, sim, train, eval, bench, export, bag-play.

Each subcommand lives in the module that owns the capability; this file only maps names to
modules (a registry). A command module provides ``add_arguments(parser)`` and
``main(args) -> int``, and imports heavy dependencies (torch, rclpy, pybullet) inside ``main``
so that ``fleetpilot doctor`` starts fast and works when an optional part is missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> module; grouped commands map target -> module.
COMMANDS: dict[str, str] = {
    "doctor": "fleetpilot.doctor",
    "demo": "fleetpilot.demo",
    "sim": "fleetpilot.sim.run",
    "export": "fleetpilot.flow.export",
    "bag-play": "fleetpilot.ros.bag_play",
}
GROUPS: dict[str, dict[str, str]] = {
    "eval": {
        "nav": "fleetpilot.envs.eval_nav",
        "mapf": "fleetpilot.mapf.eval_mapf",
        "alloc": "fleetpilot.allocation.eval_alloc",
        "multigoal": "fleetpilot.flow.eval_multigoal",
    },
    "train": {
        "follower": "fleetpilot.mapf.train_follower",
        "allocator": "fleetpilot.allocation.train_allocator",
        "flow-ppo": "fleetpilot.flow.train_flow_ppo",
        "nav-imitation": "fleetpilot.flow.train_nav_imitation",
        "expo": "fleetpilot.flow.train_expo",
        "nav-ppo": "fleetpilot.flow.train_nav_ppo",
        "cbf-tuner": "fleetpilot.learn.train_cbf_tuner",
    },
}
GROUP_HELP = {
    "eval": "evaluate a controller, planner or allocator and print metrics as JSON",
    "train": "train a learned component (seeded, reproducible)",
}


def _add_command(subparsers: argparse._SubParsersAction, name: str, module_name: str) -> None:
    module = importlib.import_module(module_name)
    doc = (module.__doc__ or "").strip().splitlines()
    parser = subparsers.add_parser(name, help=doc[0] if doc else None, description=module.__doc__)
    module.add_arguments(parser)
    parser.set_defaults(_command_main=module.main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpilot", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        _add_command(subparsers, name, module_name)
    for group, targets in GROUPS.items():
        if not targets:
            continue
        group_parser = subparsers.add_parser(group, help=GROUP_HELP[group])
        target_parsers = group_parser.add_subparsers(dest="target", metavar="TARGET")
        for target, module_name in targets.items():
            _add_command(target_parsers, target, module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    command_main = getattr(args, "_command_main", None)
    if command_main is None:
        parser.print_help()
        return 2
    return int(command_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
