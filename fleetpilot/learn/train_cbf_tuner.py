"""Train the online CBF tuner (GNN) with PPO on mixed navigation scenario families.

Readable top to bottom, like CleanRL's ``ppo_continuous_action.py``:

1. arguments (a dataclass, one docstring per field; ``--config file.yaml`` sets any of them);
2. one batched ``NavEnv`` per (scenario family, team size), all stepped every tick;
3. rollout: the tuner samples every agent's parameters (pre-squash Gaussian), the batched CBF
   filter inside the env keeps every agent safe whatever is sampled;
4. per-agent GAE, clipped PPO on per-agent log-probabilities (node outputs + the shares of
   every sensed neighbour); agents that have arrived are masked out;
5. logging (TensorBoard when installed, always a CSV), and ``save_pretrained`` at the end.

Reward per agent and tick: the env's (progress toward the goal, arrival bonus, collision and
time penalties) minus ``stall_penalty`` per second spent stalled away from the goal and,
optionally, ``tangential_cost`` per second and unit of sideways bias (everywhere, or only near
obstacles), then partly shared with the team (``team_reward``); see :func:`shape_reward`.

    fleetpilot train cbf-tuner --config config/train_cbf_tuner.yaml --seed 2
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from fleetpilot.learn.cli_args import add_dataclass_arguments

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "sim" / "scenarios"


@dataclass
class Args:
    config: str | None = None
    """YAML file whose keys are these fields (``tuner:`` holds TunerConfig fields); flags
    that differ from their defaults win over the file"""
    exp_name: str = "ppo_cbf_tuner"
    """name of this experiment (part of the run name)"""
    seed: int = 1
    """seed of Python, NumPy, torch and of the scenario layouts"""
    threads: int = 1
    """torch CPU threads (the shared machine has 2 cores)"""
    families: str = (
        "circle_swap_8:4:4,circle_swap_8:8:4,circle_swap_16:12:2,circle_swap_16:16:2,"
        "doorway:8:2,doorway:12:2,corridor:8:2,corridor:12:2,crossing_groups:16:2,"
        "random_field:16:2"
    )
    """comma-separated scenario:agents:envs (scenario = a file name in sim/scenarios/)"""
    max_episode_seconds: float = 30.0
    """training episodes end after this many simulated seconds (or the scenario horizon)"""
    iterations: int = 150
    """PPO iterations (rollout + update)"""
    time_budget_minutes: float = 45.0
    """stop early (and still save) if the wall clock exceeds this"""
    num_steps: int = 48
    """ticks per environment in one rollout"""
    learning_rate: float = 3e-4
    """Adam learning rate (linearly annealed to 0)"""
    gamma: float = 0.99
    """discount per tick (dt = 0.1 s: a 10 s horizon)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    num_minibatches: int = 4
    """minibatches per epoch (each a set of whole ticks)"""
    update_epochs: int = 4
    """epochs over each rollout"""
    clip_coef: float = 0.2
    """PPO clip range"""
    ent_coef: float = 0.0
    """entropy bonus weight"""
    vf_coef: float = 0.5
    """value-loss weight"""
    max_grad_norm: float = 0.5
    """gradient clipping norm"""
    target_kl: float = 0.05
    """stop the epochs of an update early when the approximate KL exceeds this"""
    stall_penalty: float = 0.5
    """reward per second an agent is stalled (slower than 0.05 m/s) away from its goal"""
    tangential_cost: float = 0.0
    """reward per second and unit of sideways bias a travelling agent uses, so that the bias is
    kept for where it pays (passing oncoming agents) and not pushed into crowds"""
    tangential_cost_near_obstacles_only: bool = False
    """charge ``tangential_cost`` only to agents that sense an obstacle (walls, doors), so that
    in open space (circle swaps) the bias stays free"""
    tangential_cost_obstacle_ahead_only: bool = False
    """with ``tangential_cost_near_obstacles_only``: charge only agents whose nearest sensed
    obstacle point lies within 60 degrees of their goal direction (a wall across their way, as
    beside a door), so that walls alongside (corridor lanes) leave the bias free too"""
    tangential_cost_unless_oncoming: bool = False
    """leave the bias free for agents that sense an oncoming neighbour (ahead, moving against
    their goal direction faster than 0.5 m/s): passing those is what the bias is for (lanes in
    corridors), while one-way queues (doors) are still charged"""
    tangential_cost_unless_between_walls: bool = False
    """leave the bias free for agents whose obstacle scan finds walls on both sides (the rays
    square to the goal direction both blocked within 3 m): a lane in a corridor, not a wall
    across the way (needs ``obstacle_rays``, a multiple of 4)"""
    team_reward: float = 0.0
    """share of each agent's reward replaced by its team's mean reward (0: own reward only), so
    that an agent also pays for the jams it causes others"""
    reward_scale: float = 0.5
    """rewards are multiplied by this before the value/advantage computation"""
    output_dir: str = "policies/cbf_tuner_gnn"
    """where the trained tuner (tuner.yaml + model.safetensors) and logs are written"""
    runs_dir: str = "runs"
    """TensorBoard/CSV logs go to runs_dir/run_name"""
    progress: bool = True
    """show a progress bar"""


def load_yaml_config(args: Args) -> tuple[Args, dict]:
    """Applies ``args.config`` to ``args``; returns the args and the ``tuner:`` block."""
    import yaml

    if args.config is None:
        return args, {}
    data = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{args.config}: expected a mapping, got {type(data).__name__}")
    tuner = data.pop("tuner", {}) or {}
    defaults = Args()
    known = {f.name for f in fields(Args)}
    for key, value in data.items():
        if key not in known or key == "config":
            raise ValueError(
                f"{args.config}: {key}: unknown field; expected one of {sorted(known)}"
            )
        if getattr(args, key) == getattr(defaults, key):  # flags that were changed win
            setattr(args, key, value)
    return args, tuner


def parse_families(text: str) -> list[tuple[str, int, int]]:
    """``scenario:agents:envs,...`` -> [(scenario, agents, envs)]."""
    families = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise ValueError(f"families: expected scenario:agents:envs, got {item!r}")
        if not (SCENARIO_DIR / f"{parts[0]}.yaml").is_file():
            raise ValueError(f"families: {parts[0]!r} is not a file in sim/scenarios/")
        if int(parts[1]) < 1 or int(parts[2]) < 1:
            raise ValueError(f"families: expected agents and envs >= 1, got {item!r}")
        families.append((parts[0], int(parts[1]), int(parts[2])))
    return families


def charged_sideways(tangential, arrived, charged):
    """(B, N) sideways bias to charge: its magnitude for travelling agents (arrived ones are
    masked out of training anyway) where the (B, N) bool ``charged`` says so."""
    return tangential.abs() * ~arrived * charged


def shape_reward(reward, dt: float, stalled, sideways, args: Args):
    """The training reward of one tick from the environment's (B, N) reward.

    Subtracts ``stall_penalty`` per second for ``stalled`` (B, N) agents and
    ``tangential_cost`` per second and unit of ``sideways`` (B, N), the magnitude of the
    sideways bias of travelling agents (0 for the others; None: nothing to charge), then gives
    each agent ``team_reward`` of its environment's mean.
    """
    reward = reward - args.stall_penalty * dt * stalled.to(reward.dtype)
    if sideways is not None and args.tangential_cost > 0:
        reward = reward - args.tangential_cost * dt * sideways
    if args.team_reward > 0:
        team = reward.mean(dim=1, keepdim=True)
        reward = (1.0 - args.team_reward) * reward + args.team_reward * team
    return reward


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, Args)


def main(args: argparse.Namespace) -> int:
    config = Args(**{f.name: getattr(args, f.name) for f in fields(Args)})
    try:
        config, tuner_block = load_yaml_config(config)
        summary = train(config, tuner_block)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def train(args: Args, tuner_block: dict | None = None) -> dict:
    """Runs PPO; writes the tuner to ``args.output_dir``; returns a summary dictionary."""
    import numpy as np
    import torch
    from torch.distributions import Normal
    from torch_geometric.utils import scatter

    from fleetpilot.envs import NavEnv, NavEnvConfig
    from fleetpilot.learn.gae import compute_gae
    from fleetpilot.learn.ppo_loss import clipped_policy_loss, value_loss
    from fleetpilot.learn.run_logging import run_name, seed_everything
    from fleetpilot.learn.sideways_scopes import (
        between_walls,
        obstacle_ahead,
        obstacle_seen,
        oncoming_neighbour,
    )
    from fleetpilot.safety.tuner import (
        LOG_STD_FLOOR,
        CbfTunerNet,
        dense_responsibility,
        save_pretrained,
    )
    from fleetpilot.safety.tuner_config import TunerConfig
    from fleetpilot.scenarios import load_scenario

    # --- Setup ----------------------------------------------------------------------------
    start_time = time.time()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    families = parse_families(args.families)
    tuner_config = TunerConfig.from_dict(dict(tuner_block or {}), source="tuner")
    net = CbfTunerNet(tuner_config)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.learning_rate, eps=1e-5)
    name = run_name("nav_mixed", args.exp_name, args.seed, start_time)
    log_dir = Path(args.runs_dir) / name
    log_dir.mkdir(parents=True, exist_ok=True)
    writer = _tensorboard_writer(log_dir, asdict(args))

    envs = []
    for index, (scenario_name, agents, count) in enumerate(families):
        scenario = load_scenario(SCENARIO_DIR / f"{scenario_name}.yaml")
        probe = scenario.sample(num_agents=agents)
        max_steps = min(probe.max_steps, round(args.max_episode_seconds / probe.dt))
        env = NavEnv(
            NavEnvConfig(
                scenario=scenario,
                num_envs=count,
                num_agents=agents,
                action_parameters=tuner_config.action_parameters,
                max_steps=max_steps,
                seed=args.seed * 1000 + index,
                autoreset=True,
                obstacle_rays=tuner_config.obstacle_rays,
                obstacle_ray_range=tuner_config.obstacle_ray_range,
            )
        )
        envs.append(env)
    sizes = [env.num_envs * env.num_agents for env in envs]
    names = tuner_config.action_parameters
    tangential_column = names.index("tangential") if "tangential" in names else None
    if args.tangential_cost > 0 and tangential_column is None:
        raise ValueError("tangential_cost: the tuner has no tangential output")
    rays = tuner_config.obstacle_rays
    if args.tangential_cost_unless_between_walls and (rays == 0 or rays % 4):
        raise ValueError(
            "tangential_cost_unless_between_walls: needs obstacle_rays a multiple of 4, "
            f"got {rays}"
        )
    if args.tangential_cost_obstacle_ahead_only and not args.tangential_cost_near_obstacles_only:
        raise ValueError(
            "tangential_cost_obstacle_ahead_only: needs tangential_cost_near_obstacles_only"
        )

    def charged_where(graph, env):
        """(B * N,) bool: the agents whose sideways bias ``tangential_cost`` charges."""
        if args.tangential_cost_obstacle_ahead_only:
            charged = obstacle_ahead(graph.x)
        elif args.tangential_cost_near_obstacles_only:
            charged = obstacle_seen(graph.x)
        else:
            charged = torch.ones(len(graph.x), dtype=torch.bool, device=graph.x.device)
        if args.tangential_cost_unless_oncoming:
            charged &= ~oncoming_neighbour(graph.x, graph.edge_index, graph.edge_attr)
        if args.tangential_cost_unless_between_walls:
            ray_range = tuner_config.obstacle_ray_range or env.sensing_radius
            charged &= ~between_walls(graph.x, rays, ray_range)
        return charged

    total_agents = sum(sizes)
    observations = [env.reset(seed=args.seed * 1000 + i)[0] for i, env in enumerate(envs)]
    arrived = [env.arrived.clone() for env in envs]

    def join(graphs):
        """One graph of all environments' agents (node offsets added to edge indices)."""
        xs, edges, attrs, offset = [], [], [], 0
        for graph in graphs:
            xs.append(graph.x)
            edges.append(graph.edge_index + offset)
            attrs.append(graph.edge_attr)
            offset += graph.x.shape[0]
        return torch.cat(xs), torch.cat(edges, dim=1), torch.cat(attrs)

    def distributions(out):
        node_std = net.node_log_std.clamp_min(LOG_STD_FLOOR).exp()
        edge_std = net.edge_log_std.clamp_min(LOG_STD_FLOOR).exp()
        return Normal(out.node_mean, node_std), Normal(out.edge_mean, edge_std)

    def agent_log_prob(out, z_node, z_edge, target, count):
        node_dist, edge_dist = distributions(out)
        log_prob = node_dist.log_prob(z_node).sum(-1)
        entropy = node_dist.entropy().sum(-1)
        if tuner_config.per_neighbour_responsibility:
            log_prob = log_prob + scatter(
                edge_dist.log_prob(z_edge), target, dim=0, dim_size=count, reduce="sum"
            )
        return log_prob, entropy

    # --- Training loop ------------------------------------------------------------------------
    history: list[dict] = []
    episode_stats: list[dict] = []
    progress_bar = _progress(args.iterations, args.progress)
    iteration = 0
    for iteration in range(1, args.iterations + 1):
        if time.time() - start_time > args.time_budget_minutes * 60:
            print(f"time budget reached after {iteration - 1} iterations", file=sys.stderr)
            break
        for group in optimizer.param_groups:
            group["lr"] = args.learning_rate * (1.0 - (iteration - 1) / args.iterations)

        steps: list[dict] = []
        rewards = torch.zeros(args.num_steps, total_agents)
        terminated = torch.zeros(args.num_steps, total_agents)
        episode_end = torch.zeros(args.num_steps, total_agents)
        values = torch.zeros(args.num_steps, total_agents)
        next_values = torch.zeros(args.num_steps, total_agents)
        rollout_start = time.time()
        for step in range(args.num_steps):
            x, edge_index, edge_attr = join(observations)
            alive = ~torch.cat([a.reshape(-1) for a in arrived])
            with torch.no_grad():
                out = net(x, edge_index, edge_attr)
                node_dist, edge_dist = distributions(out)
                z_node, z_edge = node_dist.sample(), edge_dist.sample()
                log_prob, _ = agent_log_prob(out, z_node, z_edge, edge_index[1], len(x))
                params = net.squash_node(z_node)
                shares = net.squash_edge(z_edge) if z_edge.numel() else z_edge
            values[step] = out.value
            steps.append(
                dict(
                    x=x,
                    edge_index=edge_index,
                    edge_attr=edge_attr,
                    z_node=z_node,
                    z_edge=z_edge,
                    log_prob=log_prob,
                    alive=alive,
                )
            )
            # Step every environment with its slice of the joint output.
            node_offset, edge_offset, column = 0, 0, 0
            for k, env in enumerate(envs):
                count, edges = sizes[k], observations[k].edge_index.shape[1]
                B, N = env.num_envs, env.num_agents
                action = params[node_offset : node_offset + count].view(B, N, -1)
                responsibility = None
                if tuner_config.per_neighbour_responsibility:
                    responsibility = dense_responsibility(
                        shares[edge_offset : edge_offset + edges],
                        observations[k].edge_index,
                        B,
                        N,
                    )
                before = env.arrived.clone()
                obs, reward, term, trunc, info = env.step(action, responsibility)
                after = info["arrived"]
                stalled = (env.velocities.norm(dim=-1) < 0.05) & ~after
                sideways = None
                if args.tangential_cost > 0:
                    sideways = charged_sideways(
                        action[..., tangential_column],
                        before,
                        charged_where(observations[k], env).view(B, N),
                    )
                reward = shape_reward(reward, env.dt, stalled, sideways, args)
                ended = (term | trunc).unsqueeze(-1).expand(B, N)
                newly = after & ~before
                sl = slice(column, column + count)
                rewards[step, sl] = args.reward_scale * reward.reshape(-1)
                terminated[step, sl] = (
                    (term.unsqueeze(-1).expand(B, N) | newly).reshape(-1).float()
                )
                episode_end[step, sl] = (ended | newly).reshape(-1).float()
                if bool(trunc.any()):
                    # Time limits bootstrap from the value of the observation before reset.
                    final = info["final_observation"]
                    with torch.no_grad():
                        final_value = net(final.x, final.edge_index, final.edge_attr).value
                    truncated_agents = trunc.unsqueeze(-1).expand(B, N).reshape(-1)
                    next_values[step, sl] = torch.where(truncated_agents, final_value, 0.0)
                for metrics in info["final_metrics"].values():
                    episode_stats.append(
                        dict(
                            iteration=iteration,
                            family=f"{families[k][0]}:{N}",
                            success=float(metrics.success),
                            arrived=float(metrics.arrived_fraction),
                            collisions=int(metrics.collisions),
                        )
                    )
                observations[k] = obs
                arrived[k] = env.arrived.clone()
                node_offset += count
                edge_offset += edges
                column += count
        with torch.no_grad():
            x, edge_index, edge_attr = join(observations)
            last_value = net(x, edge_index, edge_attr).value
        # next_values: the value of the following tick, except where the episode ended.
        following = torch.cat([values[1:], last_value.unsqueeze(0)])
        truncation_bootstrap = next_values.clone()
        next_values = torch.where(episode_end.bool(), truncation_bootstrap, following)
        advantages, returns = compute_gae(
            rewards, values, terminated, next_values, episode_end, args.gamma, args.gae_lambda
        )
        rollout_seconds = time.time() - rollout_start

        # --- PPO update over minibatches of whole ticks --------------------------------------
        update_start = time.time()
        alive_all = torch.stack([s["alive"] for s in steps]).float()
        adv_mean = (advantages * alive_all).sum() / alive_all.sum().clamp_min(1.0)
        adv_std = (((advantages - adv_mean) ** 2 * alive_all).sum() / alive_all.sum()).sqrt()
        advantages = (advantages - adv_mean) / (adv_std + 1e-8)
        generator = torch.Generator().manual_seed(args.seed * 100_003 + iteration)
        per_batch = max(1, args.num_steps // args.num_minibatches)
        stats = {"policy_loss": 0.0, "value_loss": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0}
        updates = 0
        stop = False
        for _epoch in range(args.update_epochs):
            order = torch.randperm(args.num_steps, generator=generator).tolist()
            for begin in range(0, args.num_steps, per_batch):
                chosen = order[begin : begin + per_batch]
                graphs = [steps[t] for t in chosen]
                x = torch.cat([g["x"] for g in graphs])
                edge_index = torch.cat(
                    [g["edge_index"] + n * total_agents for n, g in enumerate(graphs)], dim=1
                )
                edge_attr = torch.cat([g["edge_attr"] for g in graphs])
                z_node = torch.cat([g["z_node"] for g in graphs])
                z_edge = torch.cat([g["z_edge"] for g in graphs])
                old_log_prob = torch.cat([g["log_prob"] for g in graphs])
                mask = torch.cat([g["alive"] for g in graphs])
                out = net(x, edge_index, edge_attr)
                log_prob, entropy = agent_log_prob(out, z_node, z_edge, edge_index[1], len(x))
                adv = advantages[chosen].reshape(-1)[mask]
                ret = returns[chosen].reshape(-1)[mask]
                log_ratio = (log_prob - old_log_prob)[mask]
                policy_loss, info = clipped_policy_loss(log_ratio, adv, args.clip_coef)
                v_loss = value_loss(out.value[mask], ret)
                loss = policy_loss + args.vf_coef * v_loss - args.ent_coef * entropy[mask].mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), args.max_grad_norm)
                optimizer.step()
                stats["policy_loss"] += policy_loss.item()
                stats["value_loss"] += v_loss.item()
                stats["approx_kl"] += info["approx_kl"]
                stats["clip_fraction"] += info["clip_fraction"]
                updates += 1
                if info["approx_kl"] > args.target_kl:
                    stop = True
                    break
            if stop:
                break
        stats = {key: value / max(updates, 1) for key, value in stats.items()}

        # --- Logging --------------------------------------------------------------------------
        recent = [e for e in episode_stats if e["iteration"] == iteration]
        with torch.no_grad():
            mean_params = net.squash_node(torch.cat([s["z_node"] for s in steps])).mean(0)
        row = {
            "iteration": iteration,
            "wall_seconds": round(time.time() - start_time, 1),
            "agent_steps": iteration * args.num_steps * total_agents,
            "mean_reward": float((rewards * alive_all).sum() / alive_all.sum().clamp_min(1)),
            "episodes": len(recent),
            "success_rate": float(np.mean([e["success"] for e in recent])) if recent else None,
            "arrived_fraction": float(np.mean([e["arrived"] for e in recent])) if recent else None,
            "collisions": sum(e["collisions"] for e in recent),
            "rollout_seconds": round(rollout_seconds, 2),
            "update_seconds": round(time.time() - update_start, 2),
            "updates": updates,
            **{key: round(value, 5) for key, value in stats.items()},
            **{
                f"mean_{name}": round(float(mean_params[i]), 4)
                for i, name in enumerate(tuner_config.node_outputs)
            },
        }
        history.append(row)
        _log(writer, log_dir, row)
        progress_bar.set_postfix(
            reward=f"{row['mean_reward']:.4f}",
            success="-" if row["success_rate"] is None else f"{row['success_rate']:.2f}",
        )
        progress_bar.update(1)
    progress_bar.close()

    save_pretrained(net, args.output_dir)
    summary = {
        "run_name": name,
        "iterations": len(history),
        "wall_seconds": round(time.time() - start_time, 1),
        "agent_steps": len(history) * args.num_steps * total_agents,
        "args": asdict(args),
        "tuner": tuner_config.to_dict(),
        "final": history[-1] if history else None,
        "episodes_by_family": _per_family(episode_stats),
    }
    (log_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    if writer is not None:
        writer.close()
    summary["log_dir"] = str(log_dir)
    summary["history"] = history
    return summary


def _per_family(episode_stats: list[dict]) -> dict:
    """Success of each family's episodes in the last quarter of training."""
    if not episode_stats:
        return {}
    last = max(e["iteration"] for e in episode_stats)
    late = [e for e in episode_stats if e["iteration"] > 0.75 * last]
    result = {}
    for family in sorted({e["family"] for e in late}):
        chosen = [e for e in late if e["family"] == family]
        result[family] = {
            "episodes": len(chosen),
            "success_rate": round(sum(e["success"] for e in chosen) / len(chosen), 3),
        }
    return result


def _tensorboard_writer(log_dir: Path, hyperparameters: dict):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return None
    from fleetpilot.learn.run_logging import make_writer

    return make_writer(log_dir.parent, log_dir.name, hyperparameters)


def _log(writer, log_dir: Path, row: dict) -> None:
    path = log_dir / "progress.csv"
    new = not path.exists()
    with path.open("a", newline="") as handle:
        out = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            out.writeheader()
        out.writerow(row)
    if writer is not None:
        for key, value in row.items():
            if key != "iteration" and isinstance(value, int | float):
                writer.add_scalar(f"train/{key}", value, row["iteration"])


class _NoProgress:
    def set_postfix(self, **_):
        pass

    def update(self, _):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, desc="ppo cbf-tuner", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m fleetpilot.learn.train_cbf_tuner", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
