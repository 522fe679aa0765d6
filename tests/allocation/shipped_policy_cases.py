"""Saved inputs/outputs of the shipped policy (``policies/allocator``) for regression tests.

Regenerate after retraining the shipped policy (and only then)::

    python -m tests.allocation.shipped_policy_cases
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fleetpilot.allocation.env import AllocationEnv, make_env_config
from fleetpilot.allocation.features import inputs_from_obs
from fleetpilot.allocation.policy import TwoStagePolicy, to_tensors
from fleetpilot.allocation.static_instances import euclidean_instance

ARTIFACT = Path(__file__).parent / "artifacts" / "shipped_policy_regression.npz"
STATIC_SHAPE, STATIC_SEED = (40, 30), 123
DYNAMIC_ROBOTS, DYNAMIC_SEED, DYNAMIC_STEPS = 30, 7, 25


def dynamic_config():
    return make_env_config("capability", n_robots=DYNAMIC_ROBOTS, episode_steps=DYNAMIC_STEPS)


def compute(policy: TwoStagePolicy) -> dict[str, np.ndarray]:
    """Outputs of ``policy`` on the saved cases (inputs included, they are small)."""
    cost = euclidean_instance(*STATIC_SHAPE, STATIC_SEED)
    env = AllocationEnv(dynamic_config(), batch_size=1)
    obs = env.reset(DYNAMIC_SEED)
    inputs = inputs_from_obs(obs)
    with torch.no_grad():
        out = policy.net(**to_tensors(inputs))
    actions, finished = [], False
    while not finished:
        actions.append(policy.act(obs)[0])
        obs, _, finished = env.step(obs, actions[-1][None])
    return {
        "static_cost": cost,
        "static_score": policy.score_matrix(cost),
        "static_assignment": policy.assign(cost),
        "robot": inputs.robot,
        "task": inputs.task,
        "pair": inputs.pair,
        "member_cost": inputs.member_cost,
        "eligible": inputs.eligible,
        "candidates": out.candidates.numpy(),
        "logits": out.logits.numpy(),
        "stop_logit": out.stop_logit.numpy(),
        "dynamic_actions": np.stack(actions),
        "dynamic_reward": env.totals["reward"],
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ARTIFACT, **compute(TwoStagePolicy.from_pretrained()))
    print(f"wrote {ARTIFACT}")
