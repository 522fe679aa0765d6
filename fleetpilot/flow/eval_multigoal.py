"""Evaluate a saved policy on MultiGoal: mean return and per-goal episode shares as JSON."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, help="folder written by save_pretrained")
    parser.add_argument("--episodes", type=int, default=500, help="episodes to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of starts and sampling")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the config's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")


def main(args: argparse.Namespace) -> int:
    import torch

    from fleetpilot.envs.multigoal import MultiGoalConfig
    from fleetpilot.flow.multigoal_rollouts import evaluate_multigoal
    from fleetpilot.flow.registry import load_policy

    torch.set_num_threads(1)
    policy = load_policy(args.policy, device=args.device)
    env_config = MultiGoalConfig(**policy.metadata.get("env_config", {}))
    result = evaluate_multigoal(policy, env_config, args.episodes, args.seed)
    result["policy"] = str(args.policy)
    result["seed"] = args.seed
    if args.json:
        print(json.dumps(result))
    else:
        shares = ", ".join(f"{share:.2f}" for share in result["goal_shares"])
        print(
            f"return {result['return']:.3f}  goal shares [{shares}]  "
            f"success {result['success_rate']:.2f}  modes >=15%: {result['modes_covered']}"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
