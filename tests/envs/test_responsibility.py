"""Per-neighbour responsibility shares passed through NavEnv.step to the safety filter."""

from pathlib import Path

import pytest
import torch

from fleetpilot.envs import NavEnv, NavEnvConfig
from fleetpilot.scenarios import load_scenario

HEAD_ON = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "head_on_pair.yaml"


def head_on_env() -> NavEnv:
    return NavEnv(NavEnvConfig(scenario=load_scenario(HEAD_ON), num_envs=1, max_steps=200))


def closing_speeds(responsibility_of_agent_0: float | None) -> torch.Tensor:
    """Each agent's speed toward the other on the tick the pair first comes within 1 m."""
    env = head_on_env()
    env.reset(seed=0)
    action = env.action_layout.pack({"alpha": 1.0, "gain": 1.0}, 1, env.num_agents)
    shares = None
    if responsibility_of_agent_0 is not None:
        shares = torch.full((1, 2, 2), 0.5)
        shares[0, 0, 1] = responsibility_of_agent_0
    for _ in range(200):
        env.step(action, shares)
        offset = env.positions[0, 1] - env.positions[0, 0]
        gap = torch.linalg.vector_norm(offset)
        if gap < 1.0:
            direction = offset / gap
            velocities = env.velocities[0]
            return torch.stack([velocities[0] @ direction, -(velocities[1] @ direction)])
    raise AssertionError("the pair never came within 1 m")


def test_none_and_half_shares_are_the_default_filter():
    assert torch.equal(closing_speeds(None), closing_speeds(0.5))


def test_an_agent_taking_the_whole_share_yields_to_its_neighbour():
    speeds = closing_speeds(1.0)  # agent 0 takes all of the pair's responsibility
    assert speeds[0] <= 1e-3 < speeds[1] - 0.05  # agent 0 no longer closes in, agent 1 does
    even = closing_speeds(0.5)
    assert torch.allclose(even[0], even[1], atol=1e-3)


def test_shares_below_one_half_are_rejected_by_the_filter():
    env = head_on_env()
    env.reset(seed=0)
    action = env.action_layout.pack({"alpha": 1.0}, 1, env.num_agents)
    with pytest.raises(ValueError, match="responsibility: expected values in"):
        env.step(action, torch.full((1, 2, 2), 0.3))
