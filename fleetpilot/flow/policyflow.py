"""PolicyFlow-style PPO pieces for flow policies (after Yang, Liu & Chen, 2026).

The acting policy is ``a = phi(z | s) + sigma * n`` with ``z, n ~ N(0, I)`` and ``phi`` the
flow's ODE map. Given the noise ``z`` used when acting, ``pi(a | z, s) = N(a; phi(z | s),
sigma^2 I)``, so the PPO importance ratio only needs how far the flow's end point moved between
the behaviour parameters and the current ones. Rather than re-integrating the ODE (and
back-propagating through every step), the end-point shift is approximated by the change of the
velocity field along the straight interpolation path from ``z`` to the behaviour end point,
sampled where the integrator samples the field::

    phi_new(z) - phi_old(z)  ~  sum_k dt * (v_new - v_old)(x_k, t_k)
    x_k = (1 - t_k) z + t_k phi_old(z)

The approximation is exact whenever the field does not depend on ``x`` (a state-conditioned
shift, i.e. a Gaussian policy in disguise) and first-order accurate otherwise.

The Brownian regulariser: acting adds Gaussian noise, so the rollout's actions are samples of
the flow's distribution convolved with ``N(0, sigma^2)`` -- the flow diffused by Brownian motion
for time ``sigma^2``. Flow matching the policy onto those actions (with fresh, independent
noise) pulls it toward its own heat-diffused version, whose entropy is higher; it acts as an
entropy bonus without any density evaluation, and costs one field evaluation per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fleetpilot.flow.modeling_flow import FlowPolicy
from fleetpilot.flow.ode import path_times


@dataclass(frozen=True)
class FlowRolloutSample:
    """What PPO keeps about one batch of flow-policy actions.

    Attributes:
        noise: ``[B, D]`` flow start points z.
        flow_action: ``[B, D]`` the flow's end points phi_old(z) (before the Gaussian).
        action: ``[B, D]`` executed actions, ``flow_action + sigma * n``.
        path_velocities: ``[B, K, D]`` the behaviour field along the interpolation path.
    """

    noise: torch.Tensor
    flow_action: torch.Tensor
    action: torch.Tensor
    path_velocities: torch.Tensor


def interpolation_path(policy: FlowPolicy, noise: torch.Tensor, flow_action: torch.Tensor):
    """Points ``[B, K, D]`` and times ``[K]`` on the straight path from noise to end point."""
    times, _ = path_times(policy.config.num_flow_steps, policy.config.integrator)
    times = times.to(noise.device)
    points = (1.0 - times[None, :, None]) * noise[:, None] + times[None, :, None] * flow_action[
        :, None
    ]
    return points, times


def path_velocities(
    policy: FlowPolicy, obs: torch.Tensor, noise: torch.Tensor, flow_action: torch.Tensor
) -> torch.Tensor:
    """``[B, K, D]`` the policy's velocity at the interpolation path's points."""
    points, times = interpolation_path(policy, noise, flow_action)
    batch, steps, dim = points.shape
    repeated_obs = obs[:, None].expand(batch, steps, obs.shape[-1]).reshape(batch * steps, -1)
    flat_times = times[None].expand(batch, steps).reshape(-1)
    velocity = policy.velocity(repeated_obs, points.reshape(batch * steps, dim), flat_times)
    return velocity.view(batch, steps, dim)


@torch.no_grad()
def sample_for_rollout(
    policy: FlowPolicy,
    obs: torch.Tensor,
    generator: torch.Generator | None = None,
    sigma: float | None = None,
) -> FlowRolloutSample:
    """Acts with ``a = phi(z) + sigma n`` and records what the ratio will need.

    Args:
        policy: a flow policy with ``config.action_noise_std > 0``.
        obs: ``[B, obs_dim]``.
        generator: optional generator for z and n.
        sigma: acting-noise std for this rollout (default ``config.action_noise_std``); an
            annealed schedule passes the current value here and to ``policyflow_log_ratio``.
    """
    sigma = policy.config.action_noise_std if sigma is None else sigma
    if sigma <= 0.0:
        raise ValueError("PolicyFlow needs FlowPolicyConfig.action_noise_std > 0")
    obs = policy.check_obs(obs)
    noise = policy.sample_noise(obs.shape[0], generator)
    flow_action = policy.transport(obs, noise)
    jitter = torch.randn(flow_action.shape, generator=generator, device=flow_action.device)
    action = flow_action + sigma * jitter
    velocities = path_velocities(policy, obs, noise, flow_action)
    return FlowRolloutSample(noise, flow_action, action, velocities)


def approximate_end_point(
    policy: FlowPolicy,
    obs: torch.Tensor,
    noise: torch.Tensor,
    old_flow_action: torch.Tensor,
    old_path_velocities: torch.Tensor,
) -> torch.Tensor:
    """``[B, D]`` the current flow's end point for ``noise``, from velocity differences."""
    _, dt = path_times(policy.config.num_flow_steps, policy.config.integrator)
    new_velocities = path_velocities(policy, obs, noise, old_flow_action)
    return old_flow_action + dt * (new_velocities - old_path_velocities).sum(dim=1)


def gaussian_log_ratio(
    action: torch.Tensor, new_mean: torch.Tensor, old_mean: torch.Tensor, sigma: float
) -> torch.Tensor:
    """``[B]`` log N(a; new_mean, sigma^2 I) - log N(a; old_mean, sigma^2 I)."""
    squared_old = (action - old_mean).pow(2).sum(-1)
    squared_new = (action - new_mean).pow(2).sum(-1)
    return (squared_old - squared_new) / (2.0 * sigma**2)


def policyflow_log_ratio(
    policy: FlowPolicy,
    obs: torch.Tensor,
    batch: dict[str, torch.Tensor],
    sigma: float | None = None,
) -> torch.Tensor:
    """``[B]`` approximate log pi_new(a | z, s) / pi_old(a | z, s) for a rollout minibatch.

    Args:
        policy: the flow policy being optimised.
        obs: ``[B, obs_dim]``.
        batch: ``noise``, ``flow_action``, ``action`` ``[B, D]`` and ``path_velocities``
            ``[B, K, D]`` as recorded by ``sample_for_rollout``.
        sigma: the acting-noise std the rollout used (default ``config.action_noise_std``).
    """
    sigma = policy.config.action_noise_std if sigma is None else sigma
    new_mean = approximate_end_point(
        policy, obs, batch["noise"], batch["flow_action"], batch["path_velocities"]
    )
    return gaussian_log_ratio(batch["action"], new_mean, batch["flow_action"], sigma)


def exact_conditional_log_ratio(
    new_policy: FlowPolicy,
    old_flow_action: torch.Tensor,
    obs: torch.Tensor,
    noise: torch.Tensor,
    action: torch.Tensor,
) -> torch.Tensor:
    """``[B]`` the same ratio with the current end point found by integrating the ODE."""
    new_mean = new_policy.transport(obs, noise)
    return gaussian_log_ratio(
        action, new_mean, old_flow_action, new_policy.config.action_noise_std
    )


def brownian_regularizer(
    policy: FlowPolicy,
    obs: torch.Tensor,
    action: torch.Tensor,
    extra_std: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Flow-matching loss onto the executed (noise-diffused) actions with fresh noise.

    Args:
        policy: the flow policy.
        obs: ``[B, obs_dim]``.
        action: ``[B, D]`` executed actions of the rollout.
        extra_std: further Brownian diffusion of the targets (``a + extra_std * xi``) beyond
            the acting noise; a wider diffusion re-seeds modes the policy is abandoning.
        generator: optional generator for the noise, times and diffusion.

    Returns:
        Scalar loss; adding ``coef * loss`` to PPO's loss raises the policy's entropy.
    """
    noise = torch.randn(action.shape, generator=generator, device=action.device)
    t = torch.rand(action.shape[0], generator=generator, device=action.device)
    if extra_std > 0.0:
        diffusion = torch.randn(action.shape, generator=generator, device=action.device)
        action = action + extra_std * diffusion
    return policy.flow_matching_loss(obs, action, noise, t).mean()


def euler_entropy_gain(
    policy: FlowPolicy, obs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``[B]`` how much entropy the flow adds to its N(0, I) input, on fresh Euler paths.

    For the Euler map ``x_{k+1} = x_k + dt v(x_k, t_k)`` the change of variables is exact:
    ``log p(x_K) = log N(z) - sum_k log|det(I + dt dv/dx)|``, so the sum of log-determinants
    estimates ``H(flow output) - H(N(0, I))``. Unlike the Brownian regulariser this is an explicit
    entropy bonus; it needs ``action_dim`` extra backward passes per step and back-propagation
    through the whole path, which is cheap only for small chunks (e.g. 2-D MultiGoal actions).

    Raises:
        ValueError: if the policy integrates with anything but Euler.
    """
    if policy.config.integrator != "euler":
        raise ValueError("euler_entropy_gain needs FlowPolicyConfig.integrator == 'euler'")
    obs = policy.check_obs(obs)
    steps = policy.config.num_flow_steps
    dt = 1.0 / steps
    x = policy.sample_noise(obs.shape[0], generator).requires_grad_(True)
    identity = torch.eye(x.shape[1], device=x.device)
    gain = torch.zeros(x.shape[0], device=x.device)
    for index in range(steps):
        t = torch.full((x.shape[0],), index * dt, device=x.device)
        velocity = policy.velocity(obs, x, t)
        rows = [
            torch.autograd.grad(velocity[:, i].sum(), x, create_graph=True)[0]
            for i in range(x.shape[1])
        ]
        jacobian = torch.stack(rows, dim=1)
        gain = gain + torch.linalg.slogdet(identity + dt * jacobian)[1]
        x = x + dt * velocity
    return gain
