"""Train the two-stage allocator with RL (group-relative PPO) on the dynamic task environment.

Reads top to bottom like CleanRL's single-file PPO. Each iteration plays ``n_instances``
environment instances ``group_size`` times each with sampled coalition decisions; the
advantage of a decision is its reward-to-go minus the mean reward-to-go of the same instance
and step over the group (tasks arrive independently of the actions, so the group shares the
task stream and the comparison is fair). Clipped-ratio updates follow. The best policy on
held-out validation instances is saved as safetensors + config + model card.

A mix of families (``--env_family capability,pickup``) trains on them in turn, one family per
iteration, and validates on each; the policy kept is then the one with the best mean ratio of
its validation reward to greedy's over the families (their rewards have different scales).

Run: ``fleetpilot train allocator`` or ``python -m fleetpilot.allocation.train_allocator``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Args:
    """Training arguments (each becomes a ``--flag``)."""

    exp_name: str = "two_stage_grpo"
    """name of the experiment, part of the run name"""
    seed: int = 1
    """seed of numpy, torch and the training instances"""
    env_family: str = "capability"
    """task family trained on (see fleetpilot.allocation.env.ENV_FAMILIES); comma-separated
    names train on a mix, one family per iteration in turn"""
    n_robots: int = 50
    """robots per training instance"""
    episode_steps: int = 100
    """steps per training episode (evaluation uses the family default)"""
    n_instances: int = 8
    """distinct instances per iteration"""
    group_size: int = 8
    """rollouts per instance; their mean reward-to-go is the baseline"""
    iterations: int = 400
    """most training iterations"""
    time_budget_minutes: float = 30.0
    """stop after this much wall time (the rest of the current iteration finishes)"""
    learning_rate: float = 3e-4
    """Adam learning rate (annealed linearly to 10% over the iterations)"""
    gamma: float = 0.98
    """discount of the reward-to-go"""
    update_epochs: int = 3
    """passes over each rollout"""
    minibatch_size: int = 512
    """decision samples per gradient step"""
    clip_coef: float = 0.2
    """PPO ratio clipping"""
    entropy_coef: float = 0.003
    """entropy bonus weight"""
    max_grad_norm: float = 1.0
    """gradient clipping norm"""
    eval_every: int = 10
    """iterations between validation runs"""
    eval_instances: int = 16
    """validation instances (full-length episodes, held-out seeds)"""
    embed_dim: int = 32
    """width of the network's embeddings"""
    n_candidates: int = 8
    """robots pre-assigned per task by stage 1"""
    coalition_head: bool = False
    """stage 2 chooses whole coalitions (every subset of a task's candidates) instead of
    picking robots one by one (see fleetpilot.allocation.coalition_choice)"""
    output_dir: str = "policies/allocator"
    """where the best policy, its config and model card are written"""
    runs_dir: str = "runs"
    """TensorBoard log root (git-ignored)"""
    torch_threads: int = 1
    """torch CPU threads (the machine is shared)"""
    progress: bool = True
    """show a progress bar"""

    def __post_init__(self) -> None:
        for name in (
            "n_robots",
            "episode_steps",
            "n_instances",
            "iterations",
            "update_epochs",
            "minibatch_size",
            "eval_every",
            "eval_instances",
            "torch_threads",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Args.{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError(f"Args.group_size must be >= 2 (baseline), got {self.group_size}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"Args.gamma must be in (0, 1], got {self.gamma}")
        if self.learning_rate <= 0 or self.time_budget_minutes <= 0:
            raise ValueError("Args.learning_rate and time_budget_minutes must be > 0")
        if not all(self.families):
            raise ValueError(f"Args.env_family has an empty name: {self.env_family!r}")

    @property
    def families(self) -> list[str]:
        """Task families trained on (one, or a mix)."""
        return [name.strip() for name in self.env_family.split(",")]


VALIDATION_SEED = 10_000  # validation instances; benchmarks use small seeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds one ``--flag`` per :class:`Args` field."""
    for field in fields(Args):
        default = field.default
        if isinstance(default, bool):
            parser.add_argument(
                f"--{field.name}",
                type=lambda s: s.lower() in ("1", "true", "yes"),
                default=default,
                help=f"(default {default})",
            )
        else:
            parser.add_argument(
                f"--{field.name}", type=type(default), default=default, help=f"(default {default})"
            )


def main(args: argparse.Namespace) -> int:
    import torch

    # Process-wide torch settings are restored afterwards (tests call main in-process).
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return _train(args)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from fleetpilot.allocation.coalition_choice import choice_log_prob
    from fleetpilot.allocation.dynamic_baselines import (
        AuctionCoalitionPolicy,
        GreedyCoalitionPolicy,
    )
    from fleetpilot.allocation.env import AllocationEnv, make_env_config
    from fleetpilot.allocation.features import inputs_from_obs
    from fleetpilot.allocation.learned_decoding import decode_coalitions, trace_log_prob
    from fleetpilot.allocation.model import TwoStageConfig
    from fleetpilot.allocation.policy import (
        DecodeConfig,
        TwoStagePolicy,
        sequential_inputs,
        to_tensors,
    )
    from fleetpilot.learn.run_logging import fresh_run_directory, source_commit

    cfg = Args(**{f.name: getattr(args, f.name) for f in fields(Args)})
    families = cfg.families
    run_name = f"{'+'.join(families)}__{cfg.exp_name}__{cfg.seed}__{int(time.time())}"
    writer = SummaryWriter(str(fresh_run_directory(cfg.runs_dir, run_name)))
    writer.add_text("args", "\n".join(f"{k}: {v}" for k, v in dataclasses.asdict(cfg).items()))

    # Seeding: numpy for instances and sampling, torch for weights.
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.use_deterministic_algorithms(True)

    train_env_configs = [
        make_env_config(family, n_robots=cfg.n_robots, episode_steps=cfg.episode_steps)
        for family in families
    ]
    eval_env_configs = [make_env_config(family, n_robots=cfg.n_robots) for family in families]
    train_env_config = train_env_configs[0]
    for other in train_env_configs[1:]:
        for name in ("n_capabilities", "max_coalition", "n_active"):
            if getattr(other, name) != getattr(train_env_config, name):
                raise ValueError(
                    f"env families {families} differ in {name}; one network cannot mix them"
                )
    policy = TwoStagePolicy(
        TwoStageConfig(
            n_capabilities=train_env_config.n_capabilities,
            embed_dim=cfg.embed_dim,
            n_candidates=cfg.n_candidates,
            coalition_head=cfg.coalition_head,
        ),
        DecodeConfig(max_coalition=train_env_config.max_coalition),
    )
    net = policy.net
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    batch = cfg.n_instances * cfg.group_size

    def validate_family(allocator, eval_env_config) -> float:
        """Mean total reward over the validation instances (greedy decisions)."""
        env = AllocationEnv(eval_env_config, batch_size=cfg.eval_instances)
        obs, finished = env.reset(VALIDATION_SEED), False
        while not finished:
            obs, _, finished = env.step(obs, allocator.act(obs))
        return float(env.totals["reward"].mean())

    def validate_all(allocator) -> list[float]:
        return [validate_family(allocator, config) for config in eval_env_configs]

    max_coalition = train_env_config.max_coalition
    greedy_rewards = validate_all(GreedyCoalitionPolicy(max_coalition))
    auction_rewards = validate_all(AuctionCoalitionPolicy(max_coalition))

    def validate(allocator) -> tuple[float, list[float]]:
        """Selection score and per-family validation rewards: the reward for one family,
        the mean ratio to greedy's reward for a mix."""
        rewards = validate_all(allocator)
        if len(families) == 1:
            return rewards[0], rewards
        ratios = [r / max(abs(g), 1e-9) for r, g in zip(rewards, greedy_rewards, strict=True)]
        return float(np.mean(ratios)), rewards

    net.eval()
    best_reward, best_family_rewards = validate(policy)
    best_state = {k: v.clone() for k, v in net.state_dict().items()}
    best_iteration = 0
    for family, greedy, auction, untrained in zip(
        families, greedy_rewards, auction_rewards, best_family_rewards, strict=True
    ):
        print(
            f"validation reward ({family}): greedy {greedy:.2f}, auction {auction:.2f}, "
            f"untrained {untrained:.2f}"
        )

    start = time.time()
    progress = tqdm(range(1, cfg.iterations + 1), disable=not cfg.progress, desc=run_name)
    for iteration in progress:
        lr = cfg.learning_rate * (1.0 - 0.9 * (iteration - 1) / cfg.iterations)
        optimizer.param_groups[0]["lr"] = lr

        # ---- rollout: sampled decisions, grouped instances (mixes: one family in turn)
        env = AllocationEnv(train_env_configs[(iteration - 1) % len(families)], batch_size=batch)
        obs = env.reset(int(rng.integers(2**31)), group_size=cfg.group_size)
        storage: dict[str, list] = {
            k: []
            for k in (
                "robot",
                "task",
                "pair",
                "member_cost",
                "eligible",
                "candidates",
                "options",
                "choice",
                "log_prob",
            )
        }
        rewards = []
        net.eval()
        finished = False
        while not finished:
            inputs = inputs_from_obs(obs)
            tensors = to_tensors(inputs)
            with torch.no_grad():
                out = net(**tensors)
            if cfg.coalition_head:
                action, trace, scores = policy.choose_subsets(obs, tensors, out, rng=rng)
                log_prob, _ = choice_log_prob(
                    scores, torch.from_numpy(trace.options), torch.from_numpy(trace.choice)
                )
            else:
                action, trace = decode_coalitions(
                    *sequential_inputs(obs, out), max_coalition, rng=rng
                )
                with torch.no_grad():
                    log_prob, _ = trace_log_prob(
                        out.logits,
                        out.stop_logit,
                        torch.from_numpy(trace.options),
                        torch.from_numpy(trace.choice),
                    )
            for name, value in tensors.items():
                storage[name].append(value)
            storage["candidates"].append(out.candidates)
            storage["options"].append(torch.from_numpy(trace.options))
            storage["choice"].append(torch.from_numpy(trace.choice))
            storage["log_prob"].append(log_prob)
            obs, reward, finished = env.step(obs, action)
            rewards.append(reward)

        # ---- group-relative advantages of the reward-to-go
        rewards = np.stack(rewards)  # (T, B)
        to_go = np.zeros_like(rewards)
        running = np.zeros(batch)
        for t in range(len(rewards) - 1, -1, -1):
            running = rewards[t] + cfg.gamma * running
            to_go[t] = running
        grouped = to_go.reshape(len(rewards), cfg.n_instances, cfg.group_size)
        advantage = (grouped - grouped.mean(-1, keepdims=True)).reshape(len(rewards), batch)
        advantage = advantage / (advantage.std() + 1e-8)

        flat = {name: torch.cat(values) for name, values in storage.items()}  # (T * B, ...)
        flat_adv = torch.from_numpy(advantage.reshape(-1)).float()
        decided = (flat["choice"] >= 0).flatten(1).any(1)
        samples = torch.nonzero(decided)[:, 0]

        # ---- clipped policy-gradient updates
        net.train()
        clip_fractions, losses, entropies = [], [], []
        for _ in range(cfg.update_epochs):
            order = samples[torch.randperm(len(samples))]
            for begin in range(0, len(order), cfg.minibatch_size):
                idx = order[begin : begin + cfg.minibatch_size]
                inputs = {
                    name: flat[name][idx]
                    for name in ("robot", "task", "pair", "member_cost", "eligible")
                }
                out = net(**inputs, candidates=flat["candidates"][idx])
                if cfg.coalition_head:
                    new_log_prob, entropy = choice_log_prob(
                        policy.subset_scores(inputs, out),
                        flat["options"][idx],
                        flat["choice"][idx],
                    )
                else:
                    new_log_prob, entropy = trace_log_prob(
                        out.logits, out.stop_logit, flat["options"][idx], flat["choice"][idx]
                    )
                ratio = torch.exp(new_log_prob - flat["log_prob"][idx])
                adv = flat_adv[idx]
                loss_pg = torch.max(
                    -adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)
                ).mean()
                loss = loss_pg - cfg.entropy_coef * entropy.mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
                optimizer.step()
                losses.append(loss_pg.item())
                entropies.append(entropy.mean().item())
                clip_fractions.append(((ratio - 1).abs() > cfg.clip_coef).float().mean().item())

        episode_reward = float(rewards.sum(0).mean())
        writer.add_scalar("train/episode_reward", episode_reward, iteration)
        writer.add_scalar("train/policy_loss", float(np.mean(losses)), iteration)
        writer.add_scalar("train/entropy", float(np.mean(entropies)), iteration)
        writer.add_scalar("train/clip_fraction", float(np.mean(clip_fractions)), iteration)
        writer.add_scalar("train/learning_rate", lr, iteration)
        elapsed_minutes = (time.time() - start) / 60
        out_of_time = elapsed_minutes >= cfg.time_budget_minutes
        if iteration % cfg.eval_every == 0 or iteration == cfg.iterations or out_of_time:
            net.eval()
            val_reward, family_rewards = validate(policy)
            writer.add_scalar("val/reward", val_reward, iteration)
            for family, reward, greedy in zip(
                families, family_rewards, greedy_rewards, strict=True
            ):
                tag = "" if len(families) == 1 else f"_{family}"
                writer.add_scalar(f"val/reward_over_greedy{tag}", reward - greedy, iteration)
                if len(families) > 1:
                    writer.add_scalar(f"val/reward_{family}", reward, iteration)
            if val_reward > best_reward:
                best_reward, best_iteration = val_reward, iteration
                best_family_rewards = family_rewards
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            progress.set_postfix(
                train=f"{episode_reward:.2f}", val=f"{val_reward:.2f}", best=f"{best_reward:.2f}"
            )
        if out_of_time:
            break

    # ---- save the best validated policy with its model card
    net.load_state_dict(best_state)
    minutes = (time.time() - start) / 60
    command = "fleetpilot train allocator " + " ".join(
        f"--{k} {shlex.quote(str(v))}"
        for k, v in dataclasses.asdict(cfg).items()
        if v != getattr(Args, k)
    )
    policy.metadata = {
        "run_name": run_name,
        "command": command.strip(),
        "args": dataclasses.asdict(cfg),
        "train_env": dataclasses.asdict(train_env_config),
        "best_iteration": best_iteration,
        "iterations_run": iteration,
        "train_minutes": round(minutes, 1),
        "validation": {
            "instances": cfg.eval_instances,
            "seed": VALIDATION_SEED,
            "two_stage_reward": round(best_family_rewards[0], 3),
            "greedy_reward": round(greedy_rewards[0], 3),
            "auction_reward": round(auction_rewards[0], 3),
            "per_family": {
                family: {
                    "two_stage_reward": round(reward, 3),
                    "greedy_reward": round(greedy, 3),
                    "auction_reward": round(auction, 3),
                }
                for family, reward, greedy, auction in zip(
                    families, best_family_rewards, greedy_rewards, auction_rewards, strict=True
                )
            },
        },
        "commit": source_commit(),
        "torch": torch.__version__,
    }
    out_dir = policy.save_pretrained(cfg.output_dir)
    (out_dir / "README.md").write_text(model_card(policy.metadata))
    writer.close()
    for family, reward, greedy, auction in zip(
        families, best_family_rewards, greedy_rewards, auction_rewards, strict=True
    ):
        print(
            f"saved {out_dir} ({family}: validation reward {reward:.2f} at iteration "
            f"{best_iteration}; greedy {greedy:.2f}, auction {auction:.2f})"
        )
    return 0


def model_card(meta: dict) -> str:
    """Markdown model card from the training metadata."""
    val = meta["validation"]
    env = meta["train_env"]
    per_family = val.get("per_family", {})
    mix = ""
    if len(per_family) > 1:
        rows = "\n".join(
            f"| {family} | {v['two_stage_reward']} | {v['greedy_reward']} | "
            f"{v['auction_reward']} |"
            for family, v in per_family.items()
        )
        mix = f"""
Trained on a mix of families, one per iteration in turn; kept by the best mean ratio of its
validation reward to greedy's over the families. Per family (table above: the first):

| family | two-stage | greedy | auction |
|---|---|---|---|
{rows}
"""
    names = [name.strip() for name in meta["args"]["env_family"].split(",")]
    families = ("families " if len(names) > 1 else "family ") + ", ".join(
        f"`{name}`" for name in names
    )
    coalition_head = ""
    if meta["args"].get("coalition_head"):
        coalition_head = """
Coalition head: stage 2 chooses, per task, one whole coalition among every subset (of at most
`max_coalition` robots) of the task's candidates that covers its requirement, or "stop"; a
subset's score is the sum of its members' stage-2 scores plus a learned weight times its profit
(`coalition_choice.py`).
"""
    return f"""# Two-stage task allocator (fleetpilot)

Learned multi-robot task allocator after Gong et al. 2024, "A Two-stage Reinforcement
Learning-based Approach for Multi-entity Task Allocation": stage 1 pre-assigns robots to tasks by
learned robot/task embedding similarity, stage 2 scores each task's candidates with attention whose
scoring weights a hypernetwork (magnitude-invariant parametrization) produces from the task.
Code: `fleetpilot/allocation/` (`model.py`, `policy.py`, `train_allocator.py`).
{coalition_head}
## Training

- Command: `{meta["command"]}`
- Seed: {meta["args"]["seed"]}; run name `{meta["run_name"]}`; commit `{meta["commit"]}`
  (the checkout's HEAD when training ended).
- Data: generated online by `fleetpilot.allocation.env`, {families}
  ({env["n_robots"]} robots, {env["n_capabilities"]} capabilities, {env["n_active"]} active tasks
  of a queue of {env["queue_size"]}, {env["task_rate"]} new tasks per step, episodes of
  {env["episode_steps"]} steps); no external data.
- Algorithm: group-relative PPO (groups of {meta["args"]["group_size"]} rollouts per instance),
  {meta["iterations_run"]} iterations in {meta["train_minutes"]} min on a shared 2-core CPU;
  weights kept from iteration {meta["best_iteration"]} (best validation reward).
- torch {meta["torch"]}

## Validation (held-out seed {val["seed"]}, {val["instances"]} instances, 200-step episodes)

| allocator | mean total reward |
|---|---|
| two-stage (this policy) | {val["two_stage_reward"]} |
| greedy | {val["greedy_reward"]} |
| auction (CBBA-style) | {val["auction_reward"]} |
{mix}
Benchmark numbers (static, zero-shot, timing): `docs/results/allocation.md`.

## Use

```python
from fleetpilot.allocation import make_allocator
allocator = make_allocator("two-stage")   # loads this folder
assignment = allocator.assign(cost)       # (R, T) costs, inf = forbidden -> (R,) task or -1
```

Files: `config.json` (architecture, decoding, this metadata), `model.safetensors` (weights).
Loading checks tensor names and shapes against the config; nothing loaded runs code.

## Limits

Trained on one synthetic family; the static one-to-one quality comes largely from the auction
decoding of the learned scores (see the results page for the ablation).
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
