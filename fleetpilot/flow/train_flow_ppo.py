"""Train a flow policy with PolicyFlow-style PPO (or a Gaussian PPO baseline) on MultiGoal.

Reads top to bottom like CleanRL's ppo_continuous_action.py. One seeded command reproduces the
shipped policy::

    fleetpilot train flow-ppo --seed 1 --learning-rate 0.0001 --episode-noise True \
        --noise-radius 2.0 --train-start-std 1.0 --num-flow-steps 8 --bc-demos 256 \
        --bc-iterations 5000 --bc-coef 1.0 --output-dir policies/flow_multigoal

With ``--policy gaussian`` the same loop trains the Gaussian baseline with the exact ratio.
TensorBoard logs go to ``runs/<env>__<exp>__<seed>__<time>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetpilot.learn.cli_args import add_dataclass_arguments, dataclass_from_args

ENV_ID = "MultiGoal"


@dataclass
class Args:
    exp_name: str = "flow_ppo"
    """name of this experiment (part of the run name)"""
    policy: str = "flow"
    """policy type: flow (PolicyFlow-style PPO) or gaussian (standard PPO)"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """ask torch for deterministic kernels"""
    threads: int = 1
    """torch CPU threads"""
    device: str = "cpu"
    """cpu or cuda"""
    total_timesteps: int = 262_144
    """environment steps in total"""
    num_envs: int = 64
    """parallel MultiGoal copies"""
    num_steps: int = 16
    """steps per copy per rollout"""
    learning_rate: float = 3e-4
    """Adam learning rate of policy and critic"""
    anneal_lr: bool = True
    """linearly anneal the learning rate to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 8
    """minibatches per epoch"""
    update_epochs: int = 5
    """epochs over each rollout"""
    clip_coef: float = 0.2
    """PPO ratio clip range"""
    vf_coef: float = 0.5
    """value-loss weight"""
    max_grad_norm: float = 0.5
    """gradient norm clip, applied to policy and critic separately"""
    reward_scale: float = 0.1
    """rewards are multiplied by this for learning (returns reach -100; keeps values O(1))"""
    target_kl: float = 0.0
    """stop an update's epochs early above this approximate KL (0 disables)"""
    ent_coef: float = 0.0
    """entropy bonus weight (gaussian: exact entropy; flow: Euler log-det entropy gain)"""
    brownian_coef: float = 0.3
    """Brownian-regulariser weight (flow policy): implicit entropy bonus"""
    brownian_extra_std: float = 0.0
    """further Brownian diffusion of the regulariser's targets beyond the acting noise"""
    action_noise_std: float = 0.3
    """std of the Gaussian added to the flow output when acting (flow policy)"""
    final_action_noise_std: float = 0.0
    """anneal that acting noise linearly (per iteration) to this std by the end of training, so
    the last updates optimise the noise-free action that evaluation executes (flow policy;
    0 keeps action_noise_std constant)"""
    episode_noise: bool = False
    """the saved flow policy's select_action draws its start noise z once per episode and keeps
    it (training rollouts always draw fresh z per step)"""
    noise_radius: float = 0.0
    """the saved flow policy's select_action shrinks start noise longer than this onto that
    radius (truncated sampling; training rollouts use untruncated noise; 0 disables)"""
    train_start_std: float = 0.1
    """std of training episodes' start positions (evaluation always starts at 0.1)"""
    init_log_std: float = -0.5
    """initial log-std (gaussian policy)"""
    num_flow_steps: int = 4
    """ODE steps of the flow policy"""
    integrator: str = "euler"
    """ODE integrator of the flow policy: euler or midpoint"""
    hidden_width: int = 64
    """width of the hidden layers of policy and critic"""
    hidden_layers: int = 2
    """number of hidden layers of policy and critic"""
    bc_demos: int = 0
    """expert demonstration episodes for a behaviour-cloning warm start (0: start from scratch)"""
    bc_iterations: int = 2000
    """behaviour-cloning optimiser steps (when bc_demos > 0)"""
    bc_coef: float = 0.0
    """weight of the demonstration loss kept in every PPO minibatch (DAPG-style; needs
    bc_demos > 0): the policy's own imitation loss (flow matching or Gaussian NLL) on a batch of
    the expert data; 0 disables"""
    anneal_bc_coef: bool = False
    """decay bc_coef linearly to 0 over training (the demonstrations seed every mode early,
    the task reward decides the final actions)"""
    bc_batch_size: int = 256
    """expert samples per PPO minibatch for the demonstration loss (when bc_coef > 0)"""
    eval_episodes: int = 1000
    """episodes of the final evaluation"""
    output_dir: str = ""
    """where to save the trained policy (empty: runs/<run name>/policy)"""
    runs_dir: str = "runs"
    """folder of TensorBoard logs"""
    progress: bool = True
    """show a progress bar"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, Args)


def train(args: Args) -> dict[str, Any]:
    """Runs the whole training; returns the final evaluation and where the policy went."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from fleetpilot.envs.multigoal import (
        NO_GOAL,
        MultiGoalConfig,
        MultiGoalVecEnv,
        generate_demonstrations,
    )
    from fleetpilot.flow import policyflow
    from fleetpilot.flow.imitation import behaviour_cloning
    from fleetpilot.flow.multigoal_rollouts import evaluate_multigoal
    from fleetpilot.flow.registry import make_config, make_policy
    from fleetpilot.learn.gae import compute_gae
    from fleetpilot.learn.mlp import build_mlp
    from fleetpilot.learn.ppo_loss import clipped_policy_loss, normalize_advantages, value_loss
    from fleetpilot.learn.rollout_buffer import RolloutBuffer
    from fleetpilot.learn.run_logging import make_writer, run_name, seed_everything

    if args.policy not in ("flow", "gaussian"):
        raise ValueError(f"Args.policy must be 'flow' or 'gaussian', got {args.policy!r}")
    batch_size = args.num_envs * args.num_steps
    if batch_size % args.num_minibatches:
        raise ValueError(
            f"num_envs * num_steps ({batch_size}) must divide by num_minibatches "
            f"({args.num_minibatches})"
        )
    minibatch_size = batch_size // args.num_minibatches
    if args.bc_coef > 0.0 and args.bc_demos <= 0:
        raise ValueError("Args.bc_coef > 0 needs expert data: set Args.bc_demos > 0")
    if not (math.isfinite(args.final_action_noise_std) and args.final_action_noise_std >= 0.0):
        raise ValueError(
            f"Args.final_action_noise_std must be >= 0, got {args.final_action_noise_std}"
        )
    num_iterations = max(1, args.total_timesteps // batch_size)
    start_time = time.time()
    name = run_name(ENV_ID, args.exp_name, args.seed, start_time)
    writer = make_writer(args.runs_dir, name, dataclasses.asdict(args))

    # Seeding: Python, NumPy, torch, the environment and a dedicated sampling generator.
    seed_everything(args.seed, args.torch_deterministic)
    torch.set_num_threads(args.threads)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    shuffle_generator = torch.Generator().manual_seed(args.seed + 1)

    env_config = MultiGoalConfig()
    train_env_config = dataclasses.replace(env_config, init_noise_std=args.train_start_std)
    envs = MultiGoalVecEnv(train_env_config, args.num_envs, seed=args.seed)
    hidden = (args.hidden_width,) * args.hidden_layers
    common = dict(obs_dim=2, action_dim=2, hidden_dims=hidden, device=args.device)
    if args.policy == "flow":
        config = make_config(
            "flow",
            **common,
            num_flow_steps=args.num_flow_steps,
            integrator=args.integrator,
            action_noise_std=args.action_noise_std,
            episode_noise=args.episode_noise,
            noise_radius=args.noise_radius,
        )
    else:
        config = make_config("gaussian", **common, init_log_std=args.init_log_std)
    policy = make_policy(args.policy, config)

    # Optional warm start: imitate a scripted expert that picks a goal at random per episode.
    bc_evaluation = None
    if args.bc_demos > 0:
        demo_obs, demo_action = generate_demonstrations(env_config, args.bc_demos, args.seed)
        demo_obs = torch.as_tensor(demo_obs, device=args.device)
        demo_action = torch.as_tensor(demo_action, device=args.device)
        demo_generator = torch.Generator().manual_seed(args.seed + 3)
        bc_losses = behaviour_cloning(
            policy,
            demo_obs,
            demo_action,
            args.bc_iterations,
            generator=torch.Generator(device=args.device).manual_seed(args.seed + 2),
        )
        writer.add_scalar("bc/final_loss", float(np.mean(bc_losses[-100:])), 0)
        bc_evaluation = evaluate_multigoal(policy, env_config, 500, seed=args.seed + 20_000)
    # A near-zero initial critic: a random one ranks positions arbitrarily, and advantages
    # computed from it steer every start toward one goal before any goal has been reached.
    critic = build_mlp(2, hidden, 1, activation="tanh", output_gain=0.01).to(args.device)
    parameters = list(policy.parameters()) + list(critic.parameters())
    optimizer = torch.optim.Adam(parameters, lr=args.learning_rate, eps=1e-5)

    # What PPO remembers per action depends on the policy type.
    action_dim = config.chunk_dim
    if args.policy == "flow":
        steps = config.num_flow_steps
        fields = {
            "noise": (action_dim,),
            "flow_action": (action_dim,),
            "path_velocities": (steps, action_dim),
            "log_prob": (),
        }
    else:
        fields = {"log_prob": ()}
    fields.update({"obs": (2,), "action": (action_dim,)})
    buffer = RolloutBuffer(args.num_steps, args.num_envs, fields, device=args.device)

    obs = torch.as_tensor(envs.reset(), device=args.device)
    recent_returns: list[float] = []
    recent_goals: list[int] = []
    global_step = 0
    bar = tqdm(range(1, num_iterations + 1), disable=not args.progress, desc=name)
    for iteration in bar:
        if args.anneal_lr:
            fraction = 1.0 - (iteration - 1.0) / num_iterations
            optimizer.param_groups[0]["lr"] = fraction * args.learning_rate
        progress_fraction = (iteration - 1.0) / num_iterations
        sigma = acting_noise_std(args, progress_fraction)
        bc_coef = args.bc_coef * (1.0 - progress_fraction if args.anneal_bc_coef else 1.0)

        # Rollout.
        buffer.reset()
        policy.eval()
        for _ in range(args.num_steps):
            global_step += args.num_envs
            with torch.no_grad():
                value = critic(obs).squeeze(-1)
                if args.policy == "flow":
                    sample = policyflow.sample_for_rollout(policy, obs, generator, sigma)
                    action = sample.action
                    extra = {
                        "noise": sample.noise,
                        "flow_action": sample.flow_action,
                        "path_velocities": sample.path_velocities,
                        "log_prob": torch.zeros(args.num_envs, device=args.device),
                    }
                else:
                    dist = policy.distribution(obs)
                    noise = torch.randn(dist.mean.shape, generator=generator, device=args.device)
                    action = dist.mean + dist.stddev * noise
                    extra = {"log_prob": dist.log_prob(action).sum(-1)}
            next_obs, reward, terminated, truncated, info = envs.step(action.cpu().numpy())
            ended = terminated | truncated
            bootstrap_obs = np.where(ended[:, None], info["final_obs"], next_obs)
            with torch.no_grad():
                next_value = critic(torch.as_tensor(bootstrap_obs, device=args.device))
            buffer.add(
                obs=obs,
                action=action,
                reward=torch.as_tensor(
                    args.reward_scale * reward, dtype=torch.float32, device=args.device
                ),
                value=value,
                next_value=next_value.squeeze(-1),
                terminated=torch.as_tensor(terminated, device=args.device),
                episode_end=torch.as_tensor(ended, device=args.device),
                **extra,
            )
            for index in np.flatnonzero(ended):
                recent_returns.append(float(info["episode_return"][index]))
                recent_goals.append(int(info["goal_index"][index]))
            obs = torch.as_tensor(next_obs, device=args.device)

        # Advantages.
        data = buffer.data
        advantages, returns = compute_gae(
            data["reward"],
            data["value"],
            data["terminated"],
            data["next_value"],
            data["episode_end"],
            args.gamma,
            args.gae_lambda,
        )
        flat = buffer.flat(extra={"advantage": advantages, "return": returns})

        # Optimisation.
        policy.train()
        stats: dict[str, float] = {}
        for _ in range(args.update_epochs):
            for batch in RolloutBuffer.minibatches(flat, minibatch_size, shuffle_generator):
                if args.policy == "flow":
                    log_ratio = policyflow.policyflow_log_ratio(policy, batch["obs"], batch, sigma)
                    regulariser = policyflow.brownian_regularizer(
                        policy, batch["obs"], batch["action"], args.brownian_extra_std
                    )
                    regulariser_loss = args.brownian_coef * regulariser
                    if args.ent_coef > 0.0:
                        gain = policyflow.euler_entropy_gain(policy, batch["obs"]).mean()
                        regulariser_loss = regulariser_loss - args.ent_coef * gain
                else:
                    dist = policy.distribution(batch["obs"])
                    log_ratio = dist.log_prob(batch["action"]).sum(-1) - batch["log_prob"]
                    regulariser = dist.entropy().sum(-1).mean()
                    regulariser_loss = -args.ent_coef * regulariser
                advantage = normalize_advantages(batch["advantage"])
                policy_loss, info = clipped_policy_loss(log_ratio, advantage, args.clip_coef)
                critic_loss = value_loss(critic(batch["obs"]).squeeze(-1), batch["return"])
                loss = policy_loss + args.vf_coef * critic_loss + regulariser_loss
                if bc_coef > 0.0:
                    # Demonstration term: the policy's own imitation loss on expert samples.
                    index = torch.randint(
                        0, demo_obs.shape[0], (args.bc_batch_size,), generator=demo_generator
                    )
                    demo_loss, _ = policy({"obs": demo_obs[index], "action": demo_action[index]})
                    loss = loss + bc_coef * demo_loss
                optimizer.zero_grad()
                loss.backward()
                # Separately: the critic's large early gradients must not shrink the policy's.
                torch.nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                torch.nn.utils.clip_grad_norm_(critic.parameters(), args.max_grad_norm)
                optimizer.step()
                stats = {
                    "policy_loss": policy_loss.item(),
                    "value_loss": critic_loss.item(),
                    "regulariser": regulariser.item(),
                    **({"demo_loss": demo_loss.item()} if bc_coef > 0.0 else {}),
                    **info,
                }
            if args.target_kl > 0.0 and stats["approx_kl"] > args.target_kl:
                break

        # Logging.
        for key, value in stats.items():
            writer.add_scalar(f"losses/{key}", value, global_step)
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        if args.policy == "flow":
            writer.add_scalar("charts/action_noise_std", sigma, global_step)
        writer.add_scalar("charts/SPS", global_step / (time.time() - start_time), global_step)
        if recent_returns:
            mean_return = float(np.mean(recent_returns))
            writer.add_scalar("charts/episodic_return", mean_return, global_step)
            goals = np.asarray(recent_goals)
            for goal in range(env_config.num_goals):
                writer.add_scalar(f"goals/share_{goal}", np.mean(goals == goal), global_step)
            writer.add_scalar("goals/timeout_share", np.mean(goals == NO_GOAL), global_step)
            bar.set_postfix(ret=f"{mean_return:.2f}", kl=f"{stats.get('approx_kl', 0):.3f}")
            recent_returns, recent_goals = [], []

    # Final evaluation with the deployed action rule (select_action) and saving.
    policy.eval()
    evaluation = evaluate_multigoal(
        policy, env_config, args.eval_episodes, seed=args.seed + 10_000
    )
    train_seconds = time.time() - start_time
    for goal, share in enumerate(evaluation["goal_shares"]):
        writer.add_scalar(f"eval/goal_share_{goal}", share, global_step)
    writer.add_scalar("eval/return", evaluation["return"], global_step)
    writer.close()
    output_dir = (
        Path(args.output_dir) if args.output_dir else Path(args.runs_dir) / name / "policy"
    )
    metadata = {
        "env_id": ENV_ID,
        "env_config": dataclasses.asdict(env_config),
        "train_args": dataclasses.asdict(args),
        "train_seconds": round(train_seconds, 1),
        "global_steps": global_step,
        "evaluation": evaluation,
        "bc_evaluation": bc_evaluation,
    }
    policy.save_pretrained(output_dir, model_card=model_card(args, metadata), metadata=metadata)
    return {"run_name": name, "policy_dir": str(output_dir), **metadata}


def acting_noise_std(args: Args, progress_fraction: float) -> float:
    """The flow policy's acting-noise std at ``progress_fraction`` (0 to 1) of training."""
    if args.final_action_noise_std <= 0.0:
        return args.action_noise_std
    start, end = args.action_noise_std, args.final_action_noise_std
    return start + (end - start) * min(max(progress_fraction, 0.0), 1.0)


def reproduce_command(args: Args) -> str:
    """The ``fleetpilot train flow-ppo`` command line that reproduces ``args``."""
    defaults = Args()
    skip = {"output_dir", "runs_dir", "progress", "exp_name", "eval_episodes"}
    flags = [
        f"--{field.name.replace('_', '-')} {getattr(args, field.name)}"
        for field in dataclasses.fields(Args)
        if field.name not in skip and getattr(args, field.name) != getattr(defaults, field.name)
    ]
    if "--seed" not in " ".join(flags):
        flags.insert(0, f"--seed {args.seed}")
    return " ".join(["fleetpilot train flow-ppo", *flags, "--output-dir <dir>"])


def start_noise_description(args: Args) -> str:
    """How the saved flow policy draws its start noise, in words (for the model card)."""
    text = "noise drawn once per episode" if args.episode_noise else "fresh noise per step"
    if args.noise_radius > 0.0:
        text += f", its norm clipped to {args.noise_radius}"
    return text


def model_card(args: Args, metadata: dict[str, Any]) -> str:
    """The README.md of a trained MultiGoal policy."""
    evaluation = metadata["evaluation"]
    shares = ", ".join(f"{share:.3f}" for share in evaluation["goal_shares"])
    num_goals = len(evaluation["goal_shares"])
    if evaluation["modes_covered"] == num_goals:
        coverage = f"Every goal is reached in at least 15% of episodes ({num_goals} modes)."
    else:
        coverage = (
            f"Mode coverage target NOT met: only {evaluation['modes_covered']} of {num_goals} "
            "goals get at least 15% of episodes (the policy collapsed onto fewer modes)."
        )
    method = (
        "PolicyFlow-style PPO (velocity-difference ratio along the straight interpolation "
        "path, Brownian regulariser)"
        if args.policy == "flow"
        else "PPO with a diagonal Gaussian policy (exact ratio)"
    )
    if args.bc_demos > 0:
        bc = metadata["bc_evaluation"]
        bc_shares = ", ".join(f"{share:.2f}" for share in bc["goal_shares"])
        method += (
            f", warm-started by behaviour cloning ({args.bc_iterations} steps) of "
            f"{args.bc_demos} scripted-expert episodes that each head for a goal drawn at random "
            f"(after cloning alone: return {bc['return']:.1f}, goal shares [{bc_shares}])"
        )
    if args.bc_coef > 0.0:
        decay = ", decayed to 0 over training" if args.anneal_bc_coef else ""
        method += (
            f"; the imitation loss on that data stays in every PPO minibatch "
            f"(weight {args.bc_coef}{decay})"
        )
    if args.train_start_std != Args.train_start_std:
        method += f"; training episodes start at N(0, {args.train_start_std}^2)"
    command = reproduce_command(args)
    start_noise = start_noise_description(args)
    return f"""# MultiGoal {args.policy} policy

A {args.policy} policy for the MultiGoal environment (`fleetpilot.envs.multigoal`: 2-D point,
{metadata["env_config"]["num_goals"]} goals at distance {metadata["env_config"]["goal_distance"]}),
trained with {method}.

- Observation: position (x, y), float32, unnormalised. Action: displacement (dx, dy), clipped
  by the environment to [-1, 1] per axis. Chunk: horizon 1.
- Inference: `select_action` integrates {args.num_flow_steps} {args.integrator} ODE steps from
  {start_noise} (flow) or samples the Gaussian (gaussian); the exploration noise of
  training is not added.
- Training: {metadata["global_steps"]} environment steps in {metadata["train_seconds"]} s on one
  CPU thread; seed {args.seed}.

## Reproduce

```bash
{command}
fleetpilot eval multigoal --policy <dir> --episodes 1000 --seed 0 --json
```

## Evaluation at the end of training ({evaluation["episodes"]} episodes, seed {args.seed + 10_000})

| metric | value |
| --- | --- |
| mean return | {evaluation["return"]:.3f} |
| goal shares | [{shares}] |
| goals with >= 15% of episodes | {evaluation["modes_covered"]} of {num_goals} |
| success rate | {evaluation["success_rate"]:.3f} |

## Limits

{coverage}
A toy-task policy for studying multimodality and the training code; not a robot controller.
Results across seeds and against Gaussian PPO: `docs/results/flow_policies.md`.
"""


def main(args: argparse.Namespace) -> int:
    import json

    result = train(dataclass_from_args(Args, args))
    print(json.dumps({"policy_dir": result["policy_dir"], **result["evaluation"]}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
