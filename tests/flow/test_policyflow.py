"""PolicyFlow's ratio approximation against the exact Gaussian ratio, and its regulariser."""

import copy

import pytest
import torch

from fleetpilot.flow import policyflow
from fleetpilot.flow.registry import make_config, make_policy

OBS_DIM, ACTION_DIM = 3, 2


def flow_policy(integrator: str, seed: int, steps: int = 4):
    torch.manual_seed(seed)
    config = make_config(
        "flow",
        obs_dim=OBS_DIM,
        action_dim=ACTION_DIM,
        hidden_dims=(32, 32),
        num_flow_steps=steps,
        integrator=integrator,
        action_noise_std=0.3,
    )
    return make_policy("flow", config)


def remove_dependence_on_x(policy) -> None:
    """Zeroes the first layer's weights from x: the field becomes v(t | obs) only."""
    with torch.no_grad():
        policy.field.mlp[0].weight[:, OBS_DIM : OBS_DIM + ACTION_DIM] = 0.0


def perturb(policy, scale: float, seed: int, keep_x_independent: bool = False):
    new = copy.deepcopy(policy)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in new.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    if keep_x_independent:
        remove_dependence_on_x(new)
    return new


def rollout(policy, batch: int = 256, seed: int = 0):
    obs = torch.randn(batch, OBS_DIM, generator=torch.Generator().manual_seed(seed + 100))
    sample = policyflow.sample_for_rollout(policy, obs, torch.Generator().manual_seed(seed))
    recorded = {
        "noise": sample.noise,
        "flow_action": sample.flow_action,
        "action": sample.action,
        "path_velocities": sample.path_velocities,
    }
    return obs, recorded


@pytest.mark.parametrize("integrator", ["euler", "midpoint"])
def test_ratio_is_exact_when_the_field_ignores_x(integrator):
    # A field v(t | obs) shifts every noise sample by the same amount: the flow policy is a
    # Gaussian policy with a learned mean, whose ratio the approximation must reproduce.
    old = flow_policy(integrator, seed=0)
    remove_dependence_on_x(old)
    new = perturb(old, scale=0.05, seed=1, keep_x_independent=True)
    obs, recorded = rollout(old)
    approximate = policyflow.policyflow_log_ratio(new, obs, recorded)
    with torch.no_grad():
        exact = policyflow.exact_conditional_log_ratio(
            new, recorded["flow_action"], obs, recorded["noise"], recorded["action"]
        )
    assert exact.abs().mean() > 0.05  # the perturbation really changed the policy
    torch.testing.assert_close(approximate, exact, atol=1e-4, rtol=1e-4)


def test_ratio_is_one_for_unchanged_parameters():
    old = flow_policy("euler", seed=0)
    obs, recorded = rollout(old)
    log_ratio = policyflow.policyflow_log_ratio(old, obs, recorded)
    torch.testing.assert_close(log_ratio, torch.zeros_like(log_ratio), atol=1e-5, rtol=0)


def test_ratio_tracks_the_exact_ratio_for_small_updates_of_a_general_field():
    old = flow_policy("euler", seed=0)
    obs, recorded = rollout(old)
    errors = []
    for scale in (0.003, 0.03):
        new = perturb(old, scale=scale, seed=2)
        approximate = policyflow.policyflow_log_ratio(new, obs, recorded)
        with torch.no_grad():
            exact = policyflow.exact_conditional_log_ratio(
                new, recorded["flow_action"], obs, recorded["noise"], recorded["action"]
            )
        correlation = torch.corrcoef(torch.stack([approximate, exact]))[0, 1]
        assert correlation > 0.9, (scale, correlation)
        errors.append(((approximate - exact).abs().mean() / exact.abs().mean()).item())
    # First-order accurate: the relative error is small and grows with the step size.
    assert errors[0] < 0.1
    assert errors[0] < errors[1]


def test_ratio_gradient_moves_the_flow_output_toward_the_action():
    old = flow_policy("euler", seed=0)
    obs, recorded = rollout(old, batch=64)
    new = copy.deepcopy(old)
    optimizer = torch.optim.Adam(new.parameters(), lr=3e-3)
    # Maximising the ratio of the executed actions must make them more likely: the flow's end
    # point moves toward them.
    for _ in range(100):
        loss = -policyflow.policyflow_log_ratio(new, obs, recorded).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        moved = new.transport(obs, recorded["noise"])
    before = (recorded["action"] - recorded["flow_action"]).norm(dim=-1).mean()
    after = (recorded["action"] - moved).norm(dim=-1).mean()
    assert after < 0.8 * before


def test_brownian_regulariser_widens_a_narrow_policy():
    torch.manual_seed(0)
    config = make_config(
        "flow", obs_dim=1, action_dim=1, hidden_dims=(64, 64), action_noise_std=0.3
    )
    policy = make_policy("flow", config)
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    obs = torch.zeros(256, 1)
    for _ in range(300):  # imitate a narrow distribution first: N(0.5, 0.05^2)
        loss, _ = policy({"obs": obs, "action": 0.5 + 0.05 * torch.randn(256, 1)})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    generator = torch.Generator().manual_seed(3)
    narrow_std = policy.predict_action_chunk(torch.zeros(2000, 1), generator).std().item()
    for _ in range(3):  # rounds of: act with noise, then only the regulariser
        actions = policyflow.sample_for_rollout(policy, obs).action
        for _ in range(150):
            loss = policyflow.brownian_regularizer(policy, obs, actions)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    wide = policy.predict_action_chunk(torch.zeros(2000, 1), generator)
    assert narrow_std < 0.1
    assert wide.std().item() > 2.0 * narrow_std
    assert abs(wide.mean().item() - 0.5) < 0.15  # wider, not moved


def test_sampling_needs_action_noise():
    policy = make_policy("flow", make_config("flow", obs_dim=1, action_dim=1))
    with pytest.raises(ValueError, match="action_noise_std > 0"):
        policyflow.sample_for_rollout(policy, torch.zeros(2, 1))


def test_euler_entropy_gain_equals_the_log_determinant_of_the_whole_map():
    policy = flow_policy("euler", seed=4)
    obs = torch.randn(5, OBS_DIM, generator=torch.Generator().manual_seed(1))
    gain = policyflow.euler_entropy_gain(policy, obs, torch.Generator().manual_seed(2))
    noise = policy.sample_noise(5, torch.Generator().manual_seed(2))
    for index in range(5):

        def transport_one(z, index=index):
            return policy.transport(obs[index : index + 1], z[None])[0]

        jacobian = torch.autograd.functional.jacobian(transport_one, noise[index])
        expected = torch.linalg.slogdet(jacobian)[1]
        torch.testing.assert_close(gain[index], expected, atol=1e-4, rtol=1e-4)
