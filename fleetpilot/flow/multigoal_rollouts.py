"""Running a policy on MultiGoal: mean return and the share of episodes ending at each goal."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fleetpilot.envs.multigoal import NO_GOAL, MultiGoalConfig, multigoal_step
from fleetpilot.flow.pretrained import PreTrainedPolicy

MODE_SHARE_THRESHOLD = 0.15


@torch.no_grad()
def evaluate_multigoal(
    policy: PreTrainedPolicy,
    config: MultiGoalConfig,
    episodes: int,
    seed: int,
) -> dict[str, Any]:
    """Runs ``episodes`` episodes side by side with ``policy.select_action``.

    Args:
        policy: any policy with ``obs_dim = action_dim = 2``.
        config: the environment.
        episodes: number of episodes (all run as one batch).
        seed: seeds the start positions and the policy's sampling.

    Returns:
        ``return`` (mean), ``return_std``, ``goal_shares`` (list, one share per goal; episodes
        that time out count for none), ``success_rate``, ``mean_length`` and
        ``modes_covered`` (goals reached in at least 15% of episodes).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=policy.device).manual_seed(seed)
    position = rng.normal(0.0, config.init_noise_std, size=(episodes, 2))
    active = np.ones(episodes, dtype=bool)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    goal_index = np.full(episodes, NO_GOAL)
    policy.reset()
    for _ in range(config.max_steps):
        obs = torch.as_tensor(position, dtype=torch.float32, device=policy.device)
        action = policy.select_action(obs, generator=generator).cpu().numpy().astype(np.float64)
        next_position, reward, reached = multigoal_step(config, position, action)
        returns += np.where(active, reward, 0.0)
        lengths += active
        newly_done = active & (reached != NO_GOAL)
        goal_index[newly_done] = reached[newly_done]
        active &= ~newly_done
        position = np.where(active[:, None], next_position, position)
        if not active.any():
            break
    shares = [float(np.mean(goal_index == goal)) for goal in range(config.num_goals)]
    return {
        "episodes": episodes,
        "return": float(returns.mean()),
        "return_std": float(returns.std()),
        "goal_shares": shares,
        "success_rate": float(np.mean(goal_index != NO_GOAL)),
        "mean_length": float(lengths.mean()),
        "modes_covered": int(sum(share >= MODE_SHARE_THRESHOLD for share in shares)),
    }
