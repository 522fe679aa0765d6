"""Train the learned Follower policy with PPO on randomized maps (seeded, time-bounded).

Every agent of every environment is one sample for a shared policy. Each step the agents replan
their congestion-aware paths (``follower-planner``); the policy sees the local window (obstacles,
agents, own path) and picks one of the 5 moves. Reward: 0.01 when an agent reaches the sub-goal
(the next cell of its previous path), as in Learn to Follow. Training starts with a short
imitation phase on the path-following move (so PPO starts from the planner's behaviour), then
runs PPO until ``total_agent_steps`` or ``time_budget_minutes``. The result is written with
``FollowerPolicy.save_pretrained`` (safetensors + JSON + model card) to ``export_dir``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetpilot.learn.cli_args import add_dataclass_arguments, dataclass_from_args
from fleetpilot.mapf.generators import generate_map
from fleetpilot.mapf.observations import follower_observations, valid_action_mask
from fleetpilot.mapf.planners.base import actions_towards, flat_cells
from fleetpilot.mapf.planners.follower_planner import FollowerPlanner
from fleetpilot.mapf.simulator import LifelongSim, SimConfig


@dataclass(frozen=True)
class TrainFollowerConfig:
    """PPO training of the Follower policy; every field is also a command-line flag."""

    seed: int = 0
    """Seeds numpy, torch and the map/task stream."""
    time_budget_minutes: float = 50.0
    """Wall-clock budget; training stops (and exports) when it is used up. At most 60."""
    total_agent_steps: int = 60_000_000
    """Agent-steps (samples) to train on, if the time budget allows."""
    num_envs: int = 6
    """Parallel lifelong environments."""
    agents_per_env: str = "32,48,64,64,96,128"
    """Agents in environment i: the (i mod len)-th entry of this comma-separated list."""
    map_specs: str = "random:20x20:0.1;random:20x20:0.2;random:20x20:0.3;maze:21x21;warehouse"
    """Semicolon-separated generator specs; each new episode draws one at random."""
    episode_steps: int = 128
    """Steps per training episode before a new map is drawn."""
    rollout_steps: int = 16
    """Steps collected per environment between updates."""
    obs_radius: int = 4
    """Observation window radius (4: a 9x9 window; FollowerLite uses 3, Follower 5)."""
    hidden: int = 128
    """Hidden layer width."""
    previous_agents: bool = False
    """Also observe where agents stood one step earlier (a third observation channel)."""
    learning_rate: float = 1e-3
    """Adam learning rate (linearly annealed to 0)."""
    gamma: float = 0.95
    """Discount factor."""
    gae_lambda: float = 0.9
    """GAE lambda."""
    clip: float = 0.2
    """PPO ratio clip."""
    entropy_coef: float = 0.003
    """Entropy bonus."""
    value_coef: float = 0.5
    """Value loss weight."""
    epochs: int = 3
    """Optimisation epochs per rollout."""
    minibatch_size: int = 4096
    """Samples per gradient step."""
    max_grad_norm: float = 0.5
    """Gradient clipping norm."""
    imitation_updates: int = 30
    """Initial updates that imitate the path-following move instead of PPO."""
    intrinsic_reward: float = 0.01
    """Reward for reaching the sub-goal (next cell of the previous path)."""
    neighbour_reward_share: float = 0.0
    """Share of each agent's reward replaced by the mean reward of the agents inside its
    observation window (itself included): an agent also gains when it lets others pass."""
    torch_threads: int = 1
    """Torch intra-op threads (the machine is shared)."""
    out_dir: str = "runs"
    """TensorBoard runs go to out_dir/<run name>."""
    export_dir: str = "policies/follower"
    """Where the trained policy is saved."""
    checkpoint_minutes: float = 5.0
    """The policy is also saved to export_dir every this many minutes."""

    def __post_init__(self) -> None:
        positive = (
            "num_envs", "episode_steps", "rollout_steps", "obs_radius", "hidden", "epochs",
            "minibatch_size", "torch_threads", "total_agent_steps", "checkpoint_minutes",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(
                    f"TrainFollowerConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 < self.time_budget_minutes <= 60:
            raise ValueError(
                "TrainFollowerConfig.time_budget_minutes must be in (0, 60], got "
                f"{self.time_budget_minutes}"
            )
        if not 0 <= self.neighbour_reward_share <= 1:
            raise ValueError(
                "TrainFollowerConfig.neighbour_reward_share must be in [0, 1], got "
                f"{self.neighbour_reward_share}"
            )
        for name in ("gamma", "gae_lambda", "clip"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(
                    f"TrainFollowerConfig.{name} must be in (0, 1], got {getattr(self, name)}"
                )
        if not self.agent_counts or min(self.agent_counts) < 1:
            raise ValueError(
                f"TrainFollowerConfig.agents_per_env invalid: {self.agents_per_env!r}"
            )
        for spec in self.specs:
            generate_map(spec, 0)

    @property
    def agent_counts(self) -> list[int]:
        return [int(part) for part in self.agents_per_env.split(",") if part.strip()]

    @property
    def specs(self) -> list[str]:
        return [part for part in self.map_specs.split(";") if part.strip()]


class FollowerTrainingEnvs:
    """Several lifelong episodes stepped together; observations of all agents concatenated."""

    def __init__(self, config: TrainFollowerConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        counts = config.agent_counts
        self.agents = [counts[i % len(counts)] for i in range(config.num_envs)]
        self.offsets = np.concatenate([[0], np.cumsum(self.agents)])
        self.sims: list[LifelongSim] = [None] * config.num_envs
        self.planners = [FollowerPlanner() for _ in range(config.num_envs)]
        self.subgoals = [None] * config.num_envs
        self.previous = [None] * config.num_envs
        self.finished_throughputs: list[float] = []
        for env in range(config.num_envs):
            self._reset(env)

    @property
    def num_agents(self) -> int:
        return int(self.offsets[-1])

    def _reset(self, env: int) -> None:
        specs = self.config.specs
        for _ in range(100):
            seed = int(self.rng.integers(2**31 - 1))
            grid = generate_map(specs[int(self.rng.integers(len(specs)))], seed)
            try:
                sim = LifelongSim(
                    grid,
                    SimConfig(self.agents[env], max_steps=self.config.episode_steps, seed=seed),
                )
                break
            except ValueError:
                continue  # this map cannot hold that many agents: draw another
        else:
            raise ValueError(f"no map from {specs} holds {self.agents[env]} agents")
        self.sims[env] = sim
        self.planners[env].reset(grid, sim.positions.copy(), sim.goals.copy(), seed)
        self.previous[env] = flat_cells(sim.positions, grid.width)

    def observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replan; returns (obs (B, C, S, S), masks (B, 5), path-following actions (B,))."""
        obs, masks, expert = [], [], []
        for env, sim in enumerate(self.sims):
            grid = sim.grid
            free = grid.free.reshape(-1)
            current = flat_cells(sim.positions, grid.width)
            nxt = self.planners[env].plan(sim.positions.copy(), sim.goals.copy())
            self.subgoals[env] = nxt
            obs.append(
                follower_observations(
                    free,
                    grid.width,
                    current,
                    self.previous[env],
                    self.planners[env].paths,
                    self.config.obs_radius,
                    self.config.previous_agents,
                )
            )
            self.previous[env] = current
            masks.append(valid_action_mask(free, grid.width, current))
            expert.append(actions_towards(current, nxt, grid.width))
        return np.concatenate(obs), np.concatenate(masks), np.concatenate(expert)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply (B,) actions; returns (rewards (B,), episode-ended flags (B,))."""
        rewards = np.zeros(self.num_agents, dtype=np.float32)
        dones = np.zeros(self.num_agents, dtype=np.float32)
        for env, sim in enumerate(self.sims):
            low, high = self.offsets[env], self.offsets[env + 1]
            sim.step(actions[low:high])
            reached = flat_cells(sim.positions, sim.grid.width) == self.subgoals[env]
            moved_goal = reached & (self.subgoals[env] >= 0)
            own = self.config.intrinsic_reward * moved_goal.astype(np.float32)
            rewards[low:high] = self._share_with_neighbours(sim.positions, own)
            if sim.done:
                self.finished_throughputs.append(sim.throughput)
                dones[low:high] = 1.0
                self._reset(env)
        return rewards, dones

    def _share_with_neighbours(self, positions: np.ndarray, own: np.ndarray) -> np.ndarray:
        share = self.config.neighbour_reward_share
        if share == 0.0:
            return own
        gaps = np.abs(positions[:, None, :] - positions[None, :, :]).max(axis=-1)
        window = (gaps <= self.config.obs_radius).astype(np.float32)
        neighbour_mean = window @ own / window.sum(axis=1)
        return (1.0 - share) * own + share * neighbour_mean


def run_name(config: TrainFollowerConfig) -> str:
    return f"mapf-lifelong__follower_ppo__{config.seed}__{int(time.time())}"


def train(config: TrainFollowerConfig) -> dict:
    """Train, export and return a summary (the same dict the model card is written from)."""
    import torch
    from torch.nn import functional
    from torch.utils.tensorboard import SummaryWriter

    from fleetpilot.learn.run_logging import fresh_run_directory
    from fleetpilot.mapf.follower_policy import (
        FollowerNet,
        FollowerNetConfig,
        FollowerPolicy,
        masked_logits,
    )

    start_time = time.time()
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    name = run_name(config)
    writer = SummaryWriter(str(fresh_run_directory(config.out_dir, name)))
    writer.add_text("config", json.dumps(dataclasses.asdict(config)))

    envs = FollowerTrainingEnvs(config, rng)
    net = FollowerNet(
        FollowerNetConfig(
            obs_radius=config.obs_radius,
            hidden=config.hidden,
            previous_agents=config.previous_agents,
        )
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate, eps=1e-5)
    steps_per_update = config.rollout_steps * envs.num_agents
    num_updates = max(1, config.total_agent_steps // steps_per_update)
    side = 2 * config.obs_radius + 1
    shape = (config.rollout_steps, envs.num_agents)
    buffer_obs = torch.zeros(shape + (net.config.channels, side, side))
    buffer_masks = torch.zeros(shape + (5,), dtype=torch.bool)
    buffer_actions = torch.zeros(shape, dtype=torch.long)
    buffer_expert = torch.zeros(shape, dtype=torch.long)
    buffer_logprobs = torch.zeros(shape)
    buffer_rewards = torch.zeros(shape)
    buffer_dones = torch.zeros(shape)
    buffer_values = torch.zeros(shape)

    obs, masks, expert = envs.observe()
    agent_steps, update = 0, 0
    budget_seconds = 60.0 * config.time_budget_minutes
    last_checkpoint = start_time
    for update in range(1, num_updates + 1):
        if time.time() - start_time > budget_seconds:
            break
        imitating = update <= config.imitation_updates
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * (1.0 - (update - 1) / num_updates)
        # Roll out.
        for t in range(config.rollout_steps):
            obs_t, masks_t = torch.from_numpy(obs), torch.from_numpy(masks)
            with torch.no_grad():
                logits, values = net(obs_t)
                dist = torch.distributions.Categorical(logits=masked_logits(logits, masks_t))
                actions = dist.sample()
            buffer_obs[t], buffer_masks[t] = obs_t, masks_t
            buffer_actions[t], buffer_logprobs[t] = actions, dist.log_prob(actions)
            buffer_values[t], buffer_expert[t] = values, torch.from_numpy(expert)
            # While imitating, the expert acts so that the states match its behaviour.
            executed = expert if imitating else actions.numpy()
            rewards, dones = envs.step(executed)
            buffer_rewards[t], buffer_dones[t] = torch.from_numpy(rewards), torch.from_numpy(dones)
            obs, masks, expert = envs.observe()
        agent_steps += steps_per_update
        # Advantages (GAE); an episode end cuts the bootstrap.
        with torch.no_grad():
            _, next_value = net(torch.from_numpy(obs))
            advantages = torch.zeros(shape)
            last = torch.zeros(envs.num_agents)
            for t in reversed(range(config.rollout_steps)):
                following = next_value if t == config.rollout_steps - 1 else buffer_values[t + 1]
                not_done = 1.0 - buffer_dones[t]
                delta = buffer_rewards[t] + config.gamma * following * not_done - buffer_values[t]
                last = delta + config.gamma * config.gae_lambda * not_done * last
                advantages[t] = last
            returns = advantages + buffer_values
        # Optimise.
        flat = lambda tensor: tensor.reshape((-1,) + tensor.shape[2:])  # noqa: E731
        b_obs, b_masks, b_actions = flat(buffer_obs), flat(buffer_masks), flat(buffer_actions)
        b_logprobs, b_adv, b_returns = flat(buffer_logprobs), flat(advantages), flat(returns)
        b_expert = flat(buffer_expert)
        total = b_obs.shape[0]
        stats = {"policy": 0.0, "value": 0.0, "entropy": 0.0, "imitation": 0.0, "clipfrac": 0.0}
        batches = 0
        for _ in range(config.epochs):
            permutation = torch.randperm(total)
            for begin in range(0, total, config.minibatch_size):
                index = permutation[begin : begin + config.minibatch_size]
                logits, values = net(b_obs[index])
                logits = masked_logits(logits, b_masks[index])
                dist = torch.distributions.Categorical(logits=logits)
                value_loss = 0.5 * (values - b_returns[index]).pow(2).mean()
                entropy = dist.entropy().mean()
                if imitating:
                    imitation = functional.cross_entropy(logits, b_expert[index])
                    loss = imitation + config.value_coef * value_loss
                    policy_loss, clipfrac = torch.zeros(()), torch.zeros(())
                else:
                    ratio = (dist.log_prob(b_actions[index]) - b_logprobs[index]).exp()
                    adv = b_adv[index]
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    policy_loss = torch.max(
                        -adv * ratio, -adv * ratio.clamp(1 - config.clip, 1 + config.clip)
                    ).mean()
                    clipfrac = ((ratio - 1).abs() > config.clip).float().mean()
                    imitation = torch.zeros(())
                    loss = (
                        policy_loss
                        + config.value_coef * value_loss
                        - config.entropy_coef * entropy
                    )
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
                optimizer.step()
                for key, value in (
                    ("policy", policy_loss), ("value", value_loss), ("entropy", entropy),
                    ("imitation", imitation), ("clipfrac", clipfrac),
                ):  # fmt: skip
                    stats[key] += float(value.detach())
                batches += 1
        elapsed = time.time() - start_time
        for key, value in stats.items():
            writer.add_scalar(f"losses/{key}", value / batches, agent_steps)
        writer.add_scalar("charts/agent_steps_per_second", agent_steps / elapsed, agent_steps)
        writer.add_scalar(
            "charts/reward_per_agent_step", float(buffer_rewards.mean()), agent_steps
        )
        if envs.finished_throughputs:
            recent = float(np.mean(envs.finished_throughputs[-8:]))
            writer.add_scalar("charts/episode_throughput", recent, agent_steps)
        if time.time() - last_checkpoint > 60.0 * config.checkpoint_minutes:
            FollowerPolicy(net).save_pretrained(config.export_dir)
            last_checkpoint = time.time()
        if update % 10 == 0 or update == 1:
            print(
                f"update {update}/{num_updates} agent_steps {agent_steps} "
                f"{'imitation' if imitating else 'ppo'} reward {float(buffer_rewards.mean()):.4f} "
                f"throughput {np.mean(envs.finished_throughputs[-8:] or [0]):.2f} "
                f"{elapsed:.0f}s",
                flush=True,
            )
    writer.close()
    summary = {
        "run_name": name,
        "agent_steps": agent_steps,
        "updates": update,
        "wall_seconds": time.time() - start_time,
        "parameters": sum(p.numel() for p in net.parameters()),
        "config": dataclasses.asdict(config),
    }
    FollowerPolicy(net).save_pretrained(config.export_dir)
    (Path(config.export_dir) / "training_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, TrainFollowerConfig)


def main(args: argparse.Namespace) -> int:
    try:
        config = dataclass_from_args(TrainFollowerConfig, args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = train(config)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
