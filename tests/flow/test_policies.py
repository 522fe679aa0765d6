"""The three policies on a bimodal toy task, the action queue, and the ODE integrators."""

import math

import pytest
import torch

from fleetpilot.flow.ode import integrate
from fleetpilot.flow.registry import make_config, make_policy
from tests.flow.toy_data import fit


def mode_shares(samples: torch.Tensor) -> tuple[float, float, float]:
    """Shares of samples within 0.3 of -1, within 0.3 of +1, and within 0.3 of 0."""
    flat = samples.flatten()
    near = lambda center: ((flat - center).abs() < 0.3).float().mean().item()  # noqa: E731
    return near(-1.0), near(1.0), near(0.0)


def toy_policy(type_name: str, **extra):
    config = make_config(type_name, obs_dim=1, action_dim=1, hidden_dims=(64, 64), **extra)
    return make_policy(type_name, config)


def test_flow_matching_loss_decreases_and_samples_both_modes():
    policy = toy_policy("flow", num_flow_steps=8)
    losses = fit(policy, iterations=600, seed=0)
    first, last = sum(losses[:50]) / 50, sum(losses[-50:]) / 50
    assert last < 0.75 * first
    samples = policy.predict_action_chunk(
        torch.zeros(2000, 1), generator=torch.Generator().manual_seed(1)
    )
    left, right, middle = mode_shares(samples)
    assert left > 0.3 and right > 0.3, (left, right)
    assert left + right > 0.8
    assert middle < 0.1


def test_diffusion_loss_decreases_and_ddim_samples_both_modes():
    policy = toy_policy("diffusion", num_inference_steps=10)
    losses = fit(policy, iterations=1500, seed=0)
    assert sum(losses[-100:]) / 100 < 0.6 * sum(losses[:100]) / 100
    samples = policy.predict_action_chunk(
        torch.zeros(2000, 1), generator=torch.Generator().manual_seed(1)
    )
    left, right, middle = mode_shares(samples)
    assert left > 0.3 and right > 0.3, (left, right)
    assert middle < 0.1


def test_gaussian_baseline_averages_the_modes_away():
    policy = toy_policy("gaussian")
    fit(policy, iterations=600, seed=0)
    samples = policy.predict_action_chunk(
        torch.zeros(2000, 1), generator=torch.Generator().manual_seed(1)
    )
    left, right, _ = mode_shares(samples)
    # One wide Gaussian: its mean sits between the modes and little mass lands on either.
    assert abs(policy.mean_net(torch.zeros(1, 1)).item()) < 0.3
    assert left + right < 0.5


@pytest.mark.parametrize("type_name", ["gaussian", "flow", "diffusion"])
def test_select_action_executes_n_action_steps_of_each_chunk(type_name):
    policy = toy_policy(type_name, horizon=4, n_action_steps=2)
    obs = torch.randn(3, 1)
    chunk = policy.predict_action_chunk(obs, generator=torch.Generator().manual_seed(5))
    assert chunk.shape == (3, 4, 1)
    generator = torch.Generator().manual_seed(5)
    policy.reset()
    first = policy.select_action(obs, generator=generator)
    second = policy.select_action(obs, generator=generator)
    assert torch.equal(first, chunk[:, 0]) and torch.equal(second, chunk[:, 1])
    # The queue is empty now, so the third call predicts a new chunk from the generator's state.
    third = policy.select_action(obs, generator=generator)
    assert len(policy.action_queue) == 1
    assert not torch.equal(third, chunk[:, 2])


def test_select_action_accepts_one_unbatched_observation():
    policy = toy_policy("flow")
    action = policy.select_action(torch.zeros(1))
    assert action.shape == (1,)


def test_observation_of_the_wrong_size_is_refused():
    policy = toy_policy("flow")
    with pytest.raises(ValueError, match=r"obs must be \[B, 1\]"):
        policy.predict_action_chunk(torch.zeros(4, 3))


def test_midpoint_is_more_accurate_than_euler_on_exponential_decay():
    start = torch.ones(1, 1)
    exact = math.exp(-1.0)
    decay = lambda x, t: -x  # noqa: E731
    euler = integrate(decay, start, 4, "euler").item()
    midpoint = integrate(decay, start, 4, "midpoint").item()
    assert abs(midpoint - exact) < 0.2 * abs(euler - exact)
    assert abs(integrate(decay, start, 64, "euler").item() - exact) < 0.01
