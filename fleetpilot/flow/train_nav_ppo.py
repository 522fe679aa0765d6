"""Train a Gaussian nominal navigation controller from scratch with PPO (an RL baseline).

Reads top to bottom like CleanRL's ppo_continuous_action.py. Every agent is one learner
sharing the policy (decentralized execution): per agent, the observation is
:func:`~fleetpilot.envs.nav_observation.nav_observation` and the action a planar velocity in
units of max speed, which the environment clips to the speed limit and passes through its CBF
filter (alpha fixed), so the filter stays the last word.

Agents arrive at different times, so the rollout is stored as fixed ``(ticks, env x agent)``
tensors with a mask of the agents still acting; GAE runs over time per (env, agent) column:

* an agent's arrival terminates its column (no bootstrap past the goal);
* the time limit truncates it (bootstrap from the value of the final observation);
* ticks after an agent arrived, while its teammates still drive, are masked out of the losses
  and cut the advantage recursion; ended episodes restart with ``NavEnv.reset_finished``.

``global_step`` counts acting-agent transitions: the sample count methods are compared on.
The policy is evaluated with its mean action every ``eval_interval`` samples (and at 0); the
learning curve is returned, saved in the policy's metadata and written next to the policy as
``learning_curve.json``. Example::

    fleetpilot train nav-ppo --seed 1 --output-dir build/nav-ppo-seed1
    fleetpilot eval nav --policy build/nav-ppo-seed1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetpilot.learn.cli_args import add_dataclass_arguments, dataclass_from_args

ENV_ID = "NavNominal"
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
CURVE_FILE = "learning_curve.json"


@dataclass
class Args:
    exp_name: str = "nav_ppo"
    """name of this experiment (part of the run name)"""
    seed: int = 1
    """seed of the experiment (training layouts, initialisation, action noise)"""
    torch_deterministic: bool = True
    """ask torch for deterministic kernels"""
    threads: int = 1
    """torch CPU threads"""
    scenarios: str = "crossing_groups,random_field"
    """comma-separated scenario families (files in sim/scenarios/), one env each"""
    num_agents: int = 4
    """team size of generated families (explicit scenarios keep their own)"""
    alpha: float = 1.0
    """the CBF filter's fixed alpha"""
    goal_scale: float = 1.0
    """length unit of the goal offset in the observation [m]"""
    own_velocity: bool = False
    """include the agent's own velocity in the observation"""
    total_timesteps: int = 1_000_000
    """acting-agent transitions in total"""
    num_envs: int = 8
    """parallel environments per family"""
    num_steps: int = 128
    """ticks per rollout"""
    learning_rate: float = 3e-4
    """Adam learning rate of policy and critic"""
    anneal_lr: bool = True
    """linearly anneal the learning rate to 0 over total_timesteps"""
    gamma: float = 0.99
    """discount factor (per tick of 0.1 s)"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 8
    """minibatches per epoch (the acting samples of a rollout are split into this many)"""
    update_epochs: int = 5
    """epochs over each rollout"""
    clip_coef: float = 0.2
    """PPO ratio clip range"""
    vf_coef: float = 0.5
    """value-loss weight"""
    ent_coef: float = 0.0
    """entropy bonus weight"""
    max_grad_norm: float = 0.5
    """gradient norm clip, applied to policy and critic separately"""
    target_kl: float = 0.0
    """stop an update's epochs early above this approximate KL (0 disables)"""
    reward_scale: float = 0.2
    """rewards are multiplied by this for learning (agent returns reach ~10; keeps values O(1))"""
    init_log_std: float = -0.5
    """initial log-std of the Gaussian policy"""
    hidden: int = 128
    """width of the two hidden layers of policy and critic"""
    eval_interval: int = 100_000
    """evaluate every this many samples (and at 0 and at the end)"""
    eval_episodes: int = 32
    """evaluation episodes per family (layout seed = seed + 10000, 4 agents)"""
    output_dir: str = ""
    """where to save the trained policy (empty: runs/<run name>/policy)"""
    runs_dir: str = "runs"
    """folder of TensorBoard logs"""
    progress: bool = True
    """show a progress bar"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, Args)


def train(args: Args) -> dict[str, Any]:
    """Runs the whole training; returns the learning curve and where the policy went."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from fleetpilot.envs.nav_observation import NavObservationConfig, env_observation
    from fleetpilot.flow.nav_policy import learning_curve_point, observation_metadata, team_sizes
    from fleetpilot.flow.nav_transitions import NavTransitionSource
    from fleetpilot.flow.registry import make_config, make_policy
    from fleetpilot.learn.gae import compute_gae
    from fleetpilot.learn.mlp import build_mlp
    from fleetpilot.learn.ppo_loss import clipped_policy_loss, normalize_advantages, value_loss
    from fleetpilot.learn.rollout_buffer import RolloutBuffer
    from fleetpilot.learn.run_logging import make_writer, run_name, seed_everything
    from fleetpilot.scenarios import load_scenario

    if args.total_timesteps <= 0 or args.num_steps <= 0 or args.num_minibatches <= 0:
        raise ValueError("total_timesteps, num_steps and num_minibatches must be > 0")
    start_time = time.time()
    name = run_name(ENV_ID, args.exp_name, args.seed, start_time)
    writer = make_writer(args.runs_dir, name, dataclasses.asdict(args))

    # Seeding: Python, NumPy, torch, the environments and a dedicated sampling generator.
    seed_everything(args.seed, args.torch_deterministic)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    shuffle_generator = torch.Generator().manual_seed(args.seed + 1)

    # One env per scenario family; its (env, agent) slots are columns of the rollout tensors.
    obs_config = NavObservationConfig(scale=args.goal_scale, own_velocity=args.own_velocity)
    obs_dim = obs_config.obs_dim
    scenarios = {
        family: load_scenario(SCENARIO_DIR / f"{family}.yaml")
        for family in args.scenarios.split(",")
    }
    agents = team_sizes(scenarios, args.num_agents)
    source = NavTransitionSource(
        scenarios, obs_config, args.num_envs, args.seed, num_agents=agents, alpha=args.alpha
    )
    envs, params = source.envs, source.params
    columns = {}
    num_columns = 0
    for family, env in envs.items():
        width = env.num_envs * env.num_agents
        columns[family] = slice(num_columns, num_columns + width)
        num_columns += width

    # The policy acts with its mean at inference (evaluation and deployment); training samples.
    hidden = (args.hidden, args.hidden)
    config = make_config(
        "gaussian",
        obs_dim=obs_dim,
        action_dim=2,
        hidden_dims=hidden,
        init_log_std=args.init_log_std,
        sample_at_inference=False,
    )
    policy = make_policy("gaussian", config)
    critic = build_mlp(obs_dim, hidden, 1, activation="tanh", output_gain=1.0)
    parameters = list(policy.parameters()) + list(critic.parameters())
    optimizer = torch.optim.Adam(parameters, lr=args.learning_rate, eps=1e-5)

    # Rollout storage: (ticks, columns); `mask` marks the agents that acted on a tick.
    T, K = args.num_steps, num_columns
    obs_buffer = torch.zeros(T, K, obs_dim)
    action_buffer = torch.zeros(T, K, 2)
    log_prob_buffer = torch.zeros(T, K)
    reward_buffer = torch.zeros(T, K)
    value_buffer = torch.zeros(T, K)
    next_value_buffer = torch.zeros(T, K)
    terminated_buffer = torch.zeros(T, K, dtype=torch.bool)
    episode_end_buffer = torch.zeros(T, K, dtype=torch.bool)
    mask_buffer = torch.zeros(T, K, dtype=torch.bool)

    curve: list[dict[str, Any]] = []

    def evaluate(samples: int) -> dict[str, Any]:
        policy.eval()
        point = learning_curve_point(
            policy,
            scenarios,
            obs_config,
            agents,
            args.eval_episodes,
            args.seed + 10000,
            samples,
            args.alpha,
        )
        for family, rate in point["success"].items():
            writer.add_scalar(f"eval/success_{family}", rate, samples)
        writer.add_scalar("eval/mean_success", point["mean_success"], samples)
        curve.append(point)
        return point

    evaluate(0)
    next_eval = args.eval_interval
    recent_success: dict[str, list[bool]] = {family: [] for family in scenarios}
    recent_returns: list[float] = []
    agent_returns = torch.zeros(K)
    global_step = 0
    iteration = 0
    bar = tqdm(total=args.total_timesteps, disable=not args.progress, desc=name)
    while global_step < args.total_timesteps:
        iteration += 1
        if args.anneal_lr:
            fraction = max(0.0, 1.0 - global_step / args.total_timesteps)
            optimizer.param_groups[0]["lr"] = fraction * args.learning_rate

        # Rollout.
        policy.eval()
        step_before = global_step
        for step in range(T):
            for family, env in envs.items():
                cols = columns[family]
                B, N = env.num_envs, env.num_agents
                obs = env_observation(env, obs_config).reshape(B * N, obs_dim)
                acting = (env.running.unsqueeze(-1) & ~env.arrived).reshape(B * N)
                with torch.no_grad():
                    dist = policy.distribution(obs)
                    noise = torch.randn(dist.mean.shape, generator=generator)
                    action = dist.mean + dist.stddev * noise
                    log_prob = dist.log_prob(action).sum(-1)
                    value = critic(obs).squeeze(-1)
                velocity = action.reshape(B, N, 2).to(env.dtype) * env.robot.max_speed
                _, reward, _, truncated, info = env.step(params[family], nominal_velocity=velocity)
                # The observation after the tick, before any restart: the final one at an end.
                next_obs = env_observation(env, obs_config).reshape(B * N, obs_dim)
                with torch.no_grad():
                    next_value = critic(next_obs).squeeze(-1)
                arrived_now = info["arrived"].reshape(B * N) & acting
                truncated = truncated.unsqueeze(-1).expand(B, N).reshape(B * N)
                reward = reward.reshape(B * N).to(torch.float32) * acting
                # Masked slots terminate too: the recursion must not run through them.
                terminated = arrived_now | ~acting
                obs_buffer[step, cols] = obs
                action_buffer[step, cols] = action
                log_prob_buffer[step, cols] = log_prob
                reward_buffer[step, cols] = args.reward_scale * reward
                value_buffer[step, cols] = value * acting
                next_value_buffer[step, cols] = next_value * acting
                terminated_buffer[step, cols] = terminated
                episode_end_buffer[step, cols] = terminated | truncated
                mask_buffer[step, cols] = acting
                global_step += int(acting.sum())

                # Bookkeeping of training episodes (per agent returns, per episode success).
                agent_returns[cols] += reward
                ended = (arrived_now | (truncated & acting)).nonzero().flatten()
                recent_returns.extend(agent_returns[cols][ended].tolist())
                agent_returns[cols.start + ended] = 0.0
                for metrics in info["final_metrics"].values():
                    recent_success[family].append(bool(metrics.success))
                env.reset_finished()
        bar.update(global_step - step_before)

        # Advantages per (env, agent) column, then only the acting samples.
        advantages, returns = compute_gae(
            reward_buffer,
            value_buffer,
            terminated_buffer,
            next_value_buffer,
            episode_end_buffer,
            args.gamma,
            args.gae_lambda,
        )
        mask = mask_buffer
        flat = {
            "obs": obs_buffer[mask],
            "action": action_buffer[mask],
            "log_prob": log_prob_buffer[mask],
            "advantage": advantages[mask],
            "return": returns[mask],
        }
        num_samples = flat["obs"].shape[0]
        minibatch_size = max(2, -(-num_samples // args.num_minibatches))

        # Optimisation.
        policy.train()
        stats: dict[str, float] = {}
        for _ in range(args.update_epochs):
            for batch in RolloutBuffer.minibatches(flat, minibatch_size, shuffle_generator):
                if batch["obs"].shape[0] < 2:
                    continue
                dist = policy.distribution(batch["obs"])
                log_ratio = dist.log_prob(batch["action"]).sum(-1) - batch["log_prob"]
                entropy = dist.entropy().sum(-1).mean()
                advantage = normalize_advantages(batch["advantage"])
                policy_loss, info = clipped_policy_loss(log_ratio, advantage, args.clip_coef)
                critic_loss = value_loss(critic(batch["obs"]).squeeze(-1), batch["return"])
                loss = policy_loss + args.vf_coef * critic_loss - args.ent_coef * entropy
                optimizer.zero_grad()
                loss.backward()
                # Separately: the critic's large early gradients must not shrink the policy's.
                torch.nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                torch.nn.utils.clip_grad_norm_(critic.parameters(), args.max_grad_norm)
                optimizer.step()
                stats = {
                    "policy_loss": policy_loss.item(),
                    "value_loss": critic_loss.item(),
                    "entropy": entropy.item(),
                    **info,
                }
            if args.target_kl > 0.0 and stats.get("approx_kl", 0.0) > args.target_kl:
                break

        # Logging.
        for key, value in stats.items():
            writer.add_scalar(f"losses/{key}", value, global_step)
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        writer.add_scalar("charts/SPS", global_step / (time.time() - start_time), global_step)
        writer.add_scalar("charts/log_std", policy.log_std.mean().item(), global_step)
        if recent_returns:
            mean_return = float(np.mean(recent_returns))
            writer.add_scalar("charts/agent_return", mean_return, global_step)
            recent_returns = []
        for family, outcomes in recent_success.items():
            if outcomes:
                writer.add_scalar(f"charts/success_{family}", np.mean(outcomes), global_step)
        recent_success = {family: [] for family in scenarios}

        # Periodic evaluation with the mean action.
        if global_step >= next_eval and global_step < args.total_timesteps:
            point = evaluate(global_step)
            bar.set_postfix(success=f"{point['mean_success']:.2f}")
            while next_eval <= global_step:
                next_eval += args.eval_interval
    bar.close()

    # Final evaluation and saving.
    final = evaluate(global_step)
    train_seconds = time.time() - start_time
    writer.close()
    output_dir = (
        Path(args.output_dir) if args.output_dir else Path(args.runs_dir) / name / "policy"
    )
    result = {
        "samples": global_step,
        "iterations": iteration,
        "train_seconds": round(train_seconds, 1),
        "final": final,
        "curve": curve,
    }
    command = reproduce_command(args)
    metadata = {
        **observation_metadata(obs_config),
        "command": command,
        "seed": args.seed,
        "train_args": dataclasses.asdict(args),
        "result": result,
    }
    policy.save_pretrained(output_dir, model_card=model_card(args, result), metadata=metadata)
    (output_dir / CURVE_FILE).write_text(json.dumps(curve, indent=2) + "\n")
    return {"run_name": name, "policy_dir": str(output_dir), **result}


def reproduce_command(args: Args) -> str:
    """The ``fleetpilot train nav-ppo`` command line that reproduces ``args``."""
    defaults = Args()
    skip = {"output_dir", "runs_dir", "progress", "exp_name", "seed"}
    flags = [f"--seed {args.seed}"] + [
        f"--{field.name.replace('_', '-')} {getattr(args, field.name)}"
        for field in dataclasses.fields(Args)
        if field.name not in skip and getattr(args, field.name) != getattr(defaults, field.name)
    ]
    return " ".join(["fleetpilot train nav-ppo", *flags, "--output-dir <dir>"])


def model_card(args: Args, result: dict[str, Any]) -> str:
    """The README.md of a PPO-trained nominal navigation controller."""
    rows = "\n".join(
        f"| {point['samples']} | "
        + " | ".join(f"{rate:.3f}" for rate in point["success"].values())
        + f" | {point['mean_success']:.3f} |"
        for point in result["curve"]
    )
    families = list(result["final"]["success"])
    header = "| samples | " + " | ".join(families) + " | mean |"
    rule = "|" + " --- |" * (len(families) + 2)
    return f"""# nav_ppo: Gaussian PPO nominal navigation controller

A diagonal-Gaussian MLP policy ({args.hidden}x{args.hidden}) trained from scratch with PPO as
the nominal controller of the navigation env: it maps the per-agent observation
(`fleetpilot.envs.nav_observation`, goal scale {args.goal_scale}, own velocity
{args.own_velocity}) to a planar velocity / max speed, which the env clips and passes through
the CBF filter (alpha {args.alpha}). Every agent is a learner sharing the policy. At inference
the policy returns its mean action. Evaluate with `fleetpilot eval nav --policy DIR`.

- Training families: {args.scenarios} ({args.num_agents} agents in generated families,
  {args.num_envs} envs each); reward: the env's per-agent reward x {args.reward_scale}.
- {result["samples"]} acting-agent samples in {result["train_seconds"]} s on
  {args.threads} CPU thread(s); seed {args.seed}.

## Reproduce

```bash
{reproduce_command(args)}
```

## Learning curve

Success rate with the mean action, {args.eval_episodes} episodes per family, layout seed
{args.seed + 10000}:

{header}
{rule}
{rows}

The curve is also in `{CURVE_FILE}` next to this card and in `config.json`'s metadata.
"""


def main(args: argparse.Namespace) -> int:
    try:
        result = train(dataclass_from_args(Args, args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({key: result[key] for key in ("policy_dir", "samples", "final")}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
