"""Imitation-train a flow-matching nominal controller on the planner + CBF stack's demonstrations.

The demonstrator is the go-to-goal nominal (gain 1) under the CBF filter (alpha 1) in the
navigation env; the recorded action is the executed (filtered) velocity / max speed (see
:func:`fleetpilot.flow.nav_policy.collect_demonstrations`). The trained policy is EXPO's base
policy and is evaluated with ``fleetpilot eval nav --policy DIR``.

Example::

    fleetpilot train nav-imitation --seed 1 --out policies/flow_nav
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fleetpilot.learn.cli_args import add_dataclass_arguments, dataclass_from_args

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


@dataclass
class Args:
    seed: int = 1
    """seed of the demonstration layouts, the network initialisation and the batch draws"""
    scenarios: str = "head_on_pair,crossing_groups,random_field"
    """comma-separated scenario families (files in sim/scenarios/) for demos and evaluation"""
    num_agents: int = 4
    """team size of generated families (explicit scenarios keep their own)"""
    demo_episodes: int = 32
    """demonstration episodes per scenario"""
    iterations: int = 3000
    """flow-matching optimiser steps"""
    batch_size: int = 256
    """samples per step"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    hidden: int = 128
    """width of the two hidden layers"""
    flow_steps: int = 4
    """Euler steps at inference"""
    eval_episodes: int = 32
    """evaluation episodes per scenario (layout seed = seed + 10000)"""
    goal_scale: float = 1.0
    """length unit of the goal offset in the observation [m]"""
    own_velocity: bool = False
    """include the agent's own velocity in the observation"""
    out: str = "runs/flow_nav"
    """directory the policy is saved to"""
    threads: int = 1
    """torch CPU threads"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, Args)


def train(args: Args) -> dict:
    import torch

    from fleetpilot.envs.nav_observation import NavObservationConfig
    from fleetpilot.flow.imitation import behaviour_cloning
    from fleetpilot.flow.nav_policy import (
        collect_demonstrations,
        evaluate_policy,
        observation_metadata,
        team_sizes,
    )
    from fleetpilot.flow.registry import make_config, make_policy
    from fleetpilot.learn.run_logging import seed_everything, source_commit
    from fleetpilot.scenarios import load_scenario

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    start = time.perf_counter()
    obs_config = NavObservationConfig(scale=args.goal_scale, own_velocity=args.own_velocity)
    scenarios = {
        name: load_scenario(SCENARIO_DIR / f"{name}.yaml") for name in args.scenarios.split(",")
    }
    agents = team_sizes(scenarios, args.num_agents)
    observations, actions, demo = [], [], {}
    for name, scenario in scenarios.items():
        obs, action, summary = collect_demonstrations(
            scenario, obs_config, args.demo_episodes, args.seed, num_agents=agents[name]
        )
        observations.append(obs)
        actions.append(action)
        demo[name] = summary["success_rate"]
    obs, action = torch.cat(observations), torch.cat(actions)
    config = make_config(
        "flow",
        obs_dim=obs_config.obs_dim,
        action_dim=2,
        hidden_dims=(args.hidden, args.hidden),
        num_flow_steps=args.flow_steps,
    )
    policy = make_policy("flow", config)
    generator = torch.Generator().manual_seed(args.seed)
    losses = behaviour_cloning(
        policy, obs, action, args.iterations, args.batch_size, args.learning_rate, generator
    )
    metrics = {}
    for name, scenario in scenarios.items():
        summary = evaluate_policy(
            scenario,
            policy,
            obs_config,
            args.eval_episodes,
            args.seed + 10000,
            num_agents=agents[name],
        )
        metrics[name] = {
            key: summary[key]
            for key in ("success_rate", "collisions", "deadlock_rate", "makespan")
        }
    seconds = time.perf_counter() - start
    result = {
        "samples": int(obs.shape[0]),
        "demonstrator_success": demo,
        "loss_first_100": sum(losses[:100]) / 100,
        "loss_last_100": sum(losses[-100:]) / 100,
        "eval": metrics,
        "seconds": round(seconds, 1),
    }
    command = (
        f"fleetpilot train nav-imitation --seed {args.seed} --iterations {args.iterations} "
        f"--demo-episodes {args.demo_episodes} --goal-scale {args.goal_scale} "
        f"--own-velocity {args.own_velocity} --out {args.out}"
    )
    metadata = {
        **observation_metadata(obs_config),
        "command": command,
        "seed": args.seed,
        "result": result,
    }
    card = (
        "# flow_nav: imitation-trained flow-matching nominal controller\n\n"
        "Maps the per-agent navigation observation (`fleetpilot.envs.nav_observation`, "
        f"{obs_config.obs_dim} features) to a planar velocity / max speed; runs under the "
        "CBF filter (`fleetpilot eval nav --policy DIR`).\n\n"
        f"Training command: `{command}` (one CPU thread, seed {args.seed}, "
        f"{seconds:.0f} s wall), code at commit {source_commit()}.\n\n"
        "Demonstrations: go-to-goal nominal (gain 1) under the CBF filter (alpha 1), the "
        "executed (filtered) velocity recorded.\n\n"
        f"Result (evaluation layouts seed {args.seed + 10000}):\n\n```json\n"
        f"{json.dumps(result, indent=2)}\n```\n"
    )
    policy.save_pretrained(args.out, model_card=card, metadata=metadata)
    return result


def main(args: argparse.Namespace) -> int:
    try:
        result = train(dataclass_from_args(Args, args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
