"""Fine-tune an imitation-trained flow nominal controller online with EXPO in the navigation env.

EXPO (Dong et al., 2025, "Expressive Value Learning for Scalable Offline-to-Online RL"): the
expressive base policy is kept stable by training it only with its imitation (flow-matching)
loss, on the replayed actions; a light Gaussian *edit* policy learns, SAC-style, to nudge base
samples toward higher Q; a Q-ensemble is trained by TD with the on-the-fly policy (the
highest-Q action among base and edited samples) choosing the next action of the target. The
same on-the-fly policy acts. Every agent is one learner sharing the networks; the CBF filter
stays between every action and the robot (see :mod:`fleetpilot.flow.nav_transitions`).

EXPO's offline data (``demo_episodes``, 0 for none): demonstrations of the go-to-goal + CBF
stack with their rewards, kept in a replay of their own, mixed into every batch and fitted
alone before the first tick (``offline_q_updates``). The shipped recipe uses them: with the
base's own actions alone the Q-ensemble has little to compare, and ranks them poorly.

Two phases: for the first ``base_only_samples`` transitions the base acts alone and only the
Q-ensemble learns (it evaluates the base); then the on-the-fly policy acts and every network
learns. The shipped recipe (the defaults) stops after the first phase: the saved policy acts
by max-Q selection among base samples scored by the base's evaluated Q, which beat the base in
our runs, while the second phase lost the gain (docs/results/flow_policies.md).

Reads top to bottom like CleanRL's sac_continuous_action.py. One seeded command::

    fleetpilot train expo --seed 1 --out policies/expo_nav

The learning curve (samples = acting-agent transitions vs evaluation success) is saved in the
policy's metadata and in ``curve.json`` beside it.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fleetpilot.learn.cli_args import add_dataclass_arguments, dataclass_from_args

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
ENV_ID = "NavNominal"


@dataclass
class Args:
    exp_name: str = "expo"
    """name of this experiment (part of the run name)"""
    seed: int = 1
    """seed of the layouts, the network initialisation and every sample"""
    base: str = "policies/flow_nav"
    """folder of the imitation-trained flow base policy (fleetpilot train nav-imitation)"""
    scenarios: str = "crossing_groups,random_field"
    """comma-separated scenario families (files in sim/scenarios/) to train and evaluate on"""
    num_agents: int = 4
    """team size of each generated family (explicit scenarios keep their own)"""
    num_envs: int = 8
    """parallel copies of each family"""
    total_samples: int = 30_000
    """acting-agent transitions in total (the sample budget)"""
    learning_starts: int = 5_000
    """transitions collected before the first update"""
    base_only_samples: int = 30_000
    """transitions acted by the base policy alone before EXPO's selection takes over; meanwhile
    only the Q-ensemble learns, evaluating the base (its TD targets' next action is a base
    sample), so that the first max-Q choices rest on a trained Q (0: select from the start).
    The default, the whole budget, is the shipped recipe: in our runs the online phase after it
    (selection acting, edit policy and base training) lost what the evaluated Q had gained"""
    demo_episodes: int = 32
    """demonstration episodes per family (go-to-goal + CBF, layout seed = seed + 20000) kept in
    a replay of their own, EXPO's offline data (0: none, the recipe shipped until 2026-12-07).
    They give the Q-ensemble actions other than the base's own to compare"""
    demo_fraction: float = 0.5
    """share of every update batch drawn from the demonstrations (when there are any)"""
    offline_q_updates: int = 5_000
    """Q-ensemble updates on the demonstrations alone before the first env tick"""
    explore_noise: float = 0.0
    """std of Gaussian noise added to the base's actions while it acts alone (in units of max
    speed), so that the Q-ensemble also sees the value of actions beside the base's"""
    buffer_size: int = 200_000
    """replay capacity (transitions)"""
    batch_size: int = 256
    """transitions per update"""
    updates_per_tick: int = 8
    """gradient updates after each tick of the envs (one tick gives about num_envs *
    num_agents * families transitions)"""
    gamma: float = 0.99
    """discount factor (a tick is 0.1 s)"""
    n_step: int = 1
    """rewards summed per TD target before bootstrapping (1: one-step TD); more carries the
    cost of a deadlock back to the actions that led into it in fewer backups"""
    tau: float = 0.005
    """Polyak rate of the target Q-ensemble"""
    q_learning_rate: float = 3e-4
    """Adam learning rate of the Q-ensemble"""
    edit_learning_rate: float = 3e-4
    """Adam learning rate of the edit policy"""
    base_learning_rate: float = 0.0
    """Adam learning rate of the base policy's flow-matching loss on replayed actions
    (0 freezes the base; 1e-4 drove it to 0 % success in our runs: without demonstrations in
    the replay it learns the selection's bias)"""
    edit_entropy_coef: float = 0.01
    """entropy weight of the edit policy's SAC objective"""
    num_base_samples: int = 8
    """base samples proposed per observation"""
    num_edited_samples: int = 8
    """edited samples per observation"""
    edit_scale: float = 0.05
    """largest edit per action dimension, in units of max speed (0.2 held agents 0.2 m off their
    goals, beyond the 0.1 m tolerance)"""
    num_q: int = 2
    """members of the Q-ensemble (the target takes their minimum)"""
    critic_hidden: int = 256
    """width of the two hidden layers of the edit policy and each Q-network"""
    eval_interval: int = 10_000
    """transitions between evaluations"""
    eval_episodes: int = 32
    """evaluation episodes per family (layout seed = seed + 10000, as nav-imitation)"""
    out: str = "runs/expo_nav"
    """directory the policy is saved to"""
    runs_dir: str = "runs"
    """folder of TensorBoard logs"""
    threads: int = 1
    """torch CPU threads"""
    progress: bool = True
    """show a progress bar"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, Args)


class ReplayBuffer:
    """A ring buffer of per-agent transitions, sampled uniformly; each keeps the discount of its
    bootstrap instead of a termination flag (n-step rows discount by gamma ** n)."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int) -> None:
        import torch

        self.capacity, self.size, self.cursor = capacity, 0, 0
        self.data = {
            "obs": torch.zeros(capacity, obs_dim),
            "action": torch.zeros(capacity, action_dim),
            "reward": torch.zeros(capacity),
            "next_obs": torch.zeros(capacity, obs_dim),
            "discount": torch.zeros(capacity),
        }

    def add(self, transitions, discount) -> None:
        """Stores ``transitions`` with the discount of their bootstrap (0 where terminated)."""
        import torch

        count = len(transitions)
        index = (self.cursor + torch.arange(count)) % self.capacity
        for name, store in self.data.items():
            column = discount if name == "discount" else getattr(transitions, name)
            store[index] = column.to(store.dtype)
        self.cursor = (self.cursor + count) % self.capacity
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int, generator) -> dict:
        import torch

        index = torch.randint(0, self.size, (batch_size,), generator=generator)
        return {name: store[index] for name, store in self.data.items()}


def mixed_batch(online, demos, batch_size: int, demo_fraction: float, generator) -> dict:
    """A batch with ``demo_fraction`` of its rows from ``demos`` (None or empty: all online)."""
    import torch

    if demos is None or demos.size == 0:
        return online.sample(batch_size, generator)
    demo_rows = round(batch_size * demo_fraction) if online.size else batch_size
    parts = [demos.sample(demo_rows, generator)]
    if batch_size > demo_rows:
        parts.append(online.sample(batch_size - demo_rows, generator))
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}


def train(args: Args) -> dict:
    import torch
    from tqdm import tqdm

    from fleetpilot.flow.expo import propose_and_select
    from fleetpilot.flow.modeling_expo import ExpoPolicy
    from fleetpilot.flow.n_step import NStepReturns
    from fleetpilot.flow.nav_policy import (
        learning_curve_point,
        load_nav_policy,
        observation_metadata,
        team_sizes,
    )
    from fleetpilot.flow.nav_transitions import NavTransitionSource, demonstration_transitions
    from fleetpilot.learn.run_logging import make_writer, run_name, seed_everything, source_commit
    from fleetpilot.scenarios import load_scenario

    if args.total_samples < args.learning_starts:
        raise ValueError(
            f"Args.total_samples ({args.total_samples}) must be >= learning_starts "
            f"({args.learning_starts})"
        )
    for field in ("demo_episodes", "offline_q_updates", "explore_noise"):
        if getattr(args, field) < 0:
            raise ValueError(f"Args.{field} must be >= 0, got {getattr(args, field)}")
    if not 0.0 <= args.demo_fraction <= 1.0:
        raise ValueError(f"Args.demo_fraction must be in [0, 1], got {args.demo_fraction}")
    start_time = time.time()
    name = run_name(ENV_ID, args.exp_name, args.seed, start_time)
    writer = make_writer(args.runs_dir, name, dataclasses.asdict(args))
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)

    base, obs_config = load_nav_policy(args.base)
    policy = ExpoPolicy.from_base(
        base,
        num_base_samples=args.num_base_samples,
        num_edited_samples=args.num_edited_samples,
        edit_scale=args.edit_scale,
        num_q=args.num_q,
        critic_hidden_dims=(args.critic_hidden, args.critic_hidden),
    )
    expo = policy.config.expo
    target_q = copy.deepcopy(policy.q).requires_grad_(False)
    q_optimizer = torch.optim.Adam(policy.q.parameters(), lr=args.q_learning_rate)
    edit_optimizer = torch.optim.Adam(policy.edit.parameters(), lr=args.edit_learning_rate)
    base_optimizer = torch.optim.Adam(policy.base.parameters(), lr=args.base_learning_rate)

    scenarios = {
        family: load_scenario(SCENARIO_DIR / f"{family}.yaml")
        for family in args.scenarios.split(",")
    }
    agents = team_sizes(scenarios, args.num_agents)

    def evaluate(acting_policy, samples: int) -> dict:
        return learning_curve_point(
            acting_policy,
            scenarios,
            obs_config,
            agents,
            args.eval_episodes,
            args.seed + 10000,
            samples,
        )

    source = NavTransitionSource(
        scenarios,
        obs_config,
        args.num_envs,
        args.seed,
        num_agents=agents,
    )
    buffer = ReplayBuffer(args.buffer_size, obs_config.obs_dim, 2)
    n_step = NStepReturns(args.n_step, args.gamma) if args.n_step > 1 else None

    def one_step_discount(terminated: torch.Tensor) -> torch.Tensor:
        return args.gamma * (1.0 - terminated.to(torch.float32))

    demos = None
    if args.demo_episodes > 0:
        demo_transitions = demonstration_transitions(
            scenarios, obs_config, args.demo_episodes, args.seed + 20000, num_agents=agents
        )
        demos = ReplayBuffer(len(demo_transitions), obs_config.obs_dim, 2)
        demos.add(demo_transitions, one_step_discount(demo_transitions.terminated))

    def update_q(batch: dict, evaluating_base: bool):
        """One TD step of the Q-ensemble and its Polyak target; returns (loss, values)."""
        # The target's next action comes from the on-the-fly policy (a base sample while the
        # base acts alone), scored by the target ensemble (its minimum).
        with torch.no_grad():
            if evaluating_base:
                next_action = policy.base.predict_action_chunk(batch["next_obs"], generator)[:, 0]
            else:
                next_action, _, _ = propose_and_select(
                    policy.base, policy.edit, target_q, batch["next_obs"], expo, generator
                )
            next_value = target_q.all_values(batch["next_obs"], next_action).min(0).values
            target = batch["reward"] + batch["discount"] * next_value
        values = policy.q.all_values(batch["obs"], batch["action"])
        q_loss = (values - target).pow(2).mean(dim=1).sum()
        q_optimizer.zero_grad()
        q_loss.backward()
        q_optimizer.step()
        with torch.no_grad():
            for online, frozen in zip(policy.q.parameters(), target_q.parameters(), strict=True):
                frozen.lerp_(online, args.tau)
        return q_loss, values

    # EXPO's offline phase: the Q-ensemble first evaluates the base on the demonstrations.
    for _ in range(args.offline_q_updates if demos is not None else 0):
        update_q(mixed_batch(buffer, demos, args.batch_size, 1.0, generator), True)

    # The base alone is the starting point of the curve.
    curve = [evaluate(base, 0)]
    base_success = curve[0]["success"]
    samples, updates, next_eval = 0, 0, args.eval_interval
    stats: dict[str, float] = {}
    bar = tqdm(total=args.total_samples, disable=not args.progress, desc=name)

    def act(obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if samples < args.base_only_samples:
                action = policy.base.predict_action_chunk(obs, generator)[:, 0]
                if args.explore_noise > 0.0:
                    noise = torch.randn(action.shape, generator=generator)
                    action = action + args.explore_noise * noise
                return action
            action, _, _ = propose_and_select(
                policy.base, policy.edit, policy.q, obs, expo, generator
            )
        return action

    while samples < args.total_samples:
        # Collect: one tick of every env with the on-the-fly policy.
        transitions = source.step(act)
        samples += len(transitions)
        if n_step is None:
            buffer.add(transitions, one_step_discount(transitions.terminated))
        else:
            buffer.add(*n_step.add(transitions, source.last_slots, source.last_episode_ended))
        bar.update(len(transitions))

        if samples >= args.learning_starts:
            for _ in range(args.updates_per_tick):
                batch = mixed_batch(buffer, demos, args.batch_size, args.demo_fraction, generator)
                evaluating_base = samples < args.base_only_samples
                q_loss, values = update_q(batch, evaluating_base)
                updates += 1
                if evaluating_base:
                    continue

                # Edit policy: maximise Q of edited base samples, with an entropy bonus.
                base_action = policy.base.predict_action_chunk(batch["obs"], generator)[:, 0]
                edited, log_prob = policy.edit.sample_with_log_prob(
                    batch["obs"], base_action, generator
                )
                edit_loss = (
                    args.edit_entropy_coef * log_prob - policy.q(batch["obs"], edited)
                ).mean()
                edit_optimizer.zero_grad()
                edit_loss.backward()
                edit_optimizer.step()

                # Base policy: its own flow-matching loss on replayed (selected) actions.
                if args.base_learning_rate > 0.0:
                    base_loss, _ = policy.base({"obs": batch["obs"], "action": batch["action"]})
                    base_optimizer.zero_grad()
                    base_loss.backward()
                    base_optimizer.step()
            stats = {"q_loss": q_loss.item(), "q_mean": values.mean().item()}
            for key, value in stats.items():
                writer.add_scalar(f"losses/{key}", value, samples)

        if samples >= next_eval or samples >= args.total_samples:
            next_eval += args.eval_interval
            policy.eval()
            point = evaluate(policy, samples)
            curve.append(point)
            writer.add_scalar("eval/mean_success", point["mean_success"], samples)
            bar.set_postfix(
                success=f"{point['mean_success']:.2f}",
                **{key: f"{value:.3g}" for key, value in stats.items()},
            )
    bar.close()
    writer.close()

    seconds = time.time() - start_time
    result = {
        "samples": samples,
        "updates": updates,
        "base_success": base_success,
        "final_success": curve[-1]["success"],
        "curve": curve,
        "seconds": round(seconds, 1),
    }
    offline_data = ""
    if demos is not None:
        result["demonstration_transitions"] = demos.size
        offline_data = (
            f"Offline data: {demos.size} demonstration transitions ({args.demo_episodes} "
            f"episodes per family of the go-to-goal + CBF stack, layout seed {args.seed + 20000}"
            f"), {args.demo_fraction:g} of every update batch, {args.offline_q_updates} "
            "Q-updates on them before the first tick.\n\n"
        )
    command = (
        f"fleetpilot train expo --seed {args.seed} --base {args.base} "
        f"--total-samples {args.total_samples} --edit-scale {args.edit_scale} "
        f"--base-learning-rate {args.base_learning_rate} --base-only-samples "
        f"{args.base_only_samples} --out {args.out}"
    )
    for field in (
        "num_q",
        "updates_per_tick",
        "demo_episodes",
        "demo_fraction",
        "offline_q_updates",
        "explore_noise",
        "n_step",
    ):
        command += f" --{field.replace('_', '-')} {getattr(args, field)}"
    card = (
        "# expo_nav: EXPO fine-tuning of the flow navigation controller\n\n"
        f"Base: `{args.base}` (imitation of the go-to-goal + CBF demonstrator); fine-tuned "
        f"online on {args.scenarios} ({args.num_agents} agents, CBF alpha 1) with "
        f"{samples} agent transitions.\n\n"
        f"Training command: `{command}` (one CPU thread, {seconds:.0f} s wall), code at "
        f"commit {source_commit()}.\n\n"
        "Acting: the highest-Q action among "
        f"{args.num_base_samples} base and {args.num_edited_samples} edited samples "
        f"(Q-ensemble of {args.num_q}, minimum). The base acted alone for the first "
        f"{min(args.base_only_samples, samples)} transitions, while only the Q-ensemble "
        "learned; base learning rate "
        f"{args.base_learning_rate:g}.\n\n"
        f"{offline_data}"
        f"Result (evaluation layouts seed {args.seed + 10000}, {args.eval_episodes} episodes "
        f"per family):\n\n```json\n{json.dumps(result, indent=2)}\n```\n"
    )
    metadata = {
        **observation_metadata(obs_config),
        "command": command,
        "seed": args.seed,
        "result": result,
    }
    out = policy.save_pretrained(args.out, model_card=card, metadata=metadata)
    (out / "curve.json").write_text(json.dumps(curve, indent=2) + "\n")
    return result


def main(args: argparse.Namespace) -> int:
    try:
        result = train(dataclass_from_args(Args, args))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
