"""Regression: the shipped Follower policy still produces its saved outputs.

The artifact holds observations from a seeded episode and the logits/actions the shipped policy
gave for them. After retraining, regenerate it with
``python tests/mapf/test_follower_regression.py --write`` and commit both together.
"""

import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from fleetpilot.mapf.follower_policy import FollowerPolicy
from fleetpilot.mapf.generators import generate_map
from fleetpilot.mapf.planners.follower import DEFAULT_POLICY_DIR, FollowerPolicyPlanner
from fleetpilot.mapf.simulator import LifelongSim, SimConfig

ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "follower_regression.safetensors"


def collect_observations() -> tuple[np.ndarray, np.ndarray]:
    """Observations and masks of 64 agents at steps 0, 4 and 8 of a seeded episode."""
    grid = generate_map("random:20x20:0.2", 0)
    sim = LifelongSim(grid, SimConfig(num_agents=64, max_steps=9, seed=0))
    planner = FollowerPolicyPlanner()
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 0)
    observations, masks = [], []
    for step in range(9):
        obs, mask = planner.observe(sim.positions.copy(), sim.goals.copy())
        if step % 4 == 0:
            observations.append(obs[::3])
            masks.append(mask[::3])
        sim.step(planner.policy.select_action(obs, mask))
    return np.concatenate(observations), np.concatenate(masks)


def test_shipped_policy_reproduces_saved_outputs():
    saved = load_file(str(ARTIFACT))
    policy = FollowerPolicy.from_pretrained(DEFAULT_POLICY_DIR)
    logits = policy.logits(saved["obs"])
    assert np.allclose(logits, saved["logits"], atol=1e-5)
    actions = policy.select_action(saved["obs"], saved["mask"].astype(bool))
    assert np.array_equal(actions, saved["actions"])
    # The outputs must depend on the observation, or the regression would be vacuous.
    assert len(np.unique(saved["actions"])) > 1


def test_observations_of_the_seeded_episode_are_unchanged():
    obs, mask = collect_observations()
    saved = load_file(str(ARTIFACT))
    assert np.array_equal(obs, saved["obs"]) and np.array_equal(mask, saved["mask"].astype(bool))


if __name__ == "__main__" and "--write" in sys.argv:
    obs, mask = collect_observations()
    policy = FollowerPolicy.from_pretrained(DEFAULT_POLICY_DIR)
    save_file(
        {
            "obs": obs,
            "mask": mask.astype(np.uint8),
            "logits": policy.logits(obs).astype(np.float32),
            "actions": policy.select_action(obs, mask),
        },
        str(ARTIFACT),
    )
    print(f"wrote {ARTIFACT}")
