"""GAE against hand-computed returns, with terminations and time-limit truncations."""

import torch

from fleetpilot.learn.gae import compute_gae


def test_lambda_one_gives_discounted_returns_minus_values():
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [0.2], [0.1]])
    terminated = torch.tensor([[0.0], [0.0], [1.0]])
    next_values = torch.tensor([[0.2], [0.1], [9.0]])  # 9.0 must be ignored: terminal
    advantages, returns = compute_gae(
        rewards, values, terminated, next_values, terminated, gamma=0.9, gae_lambda=1.0
    )
    expected_returns = torch.tensor([[1 + 0.9 * 2 + 0.81 * 3], [2 + 0.9 * 3], [3.0]])
    torch.testing.assert_close(returns, expected_returns)
    torch.testing.assert_close(advantages, expected_returns - values)


def test_lambda_zero_gives_one_step_td_errors():
    rewards = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    values = torch.tensor([[0.3, 0.1], [0.4, 0.2]])
    next_values = torch.tensor([[0.4, 0.2], [0.7, 0.6]])
    zeros = torch.zeros(2, 2)
    advantages, _ = compute_gae(rewards, values, zeros, next_values, zeros, 0.99, 0.0)
    torch.testing.assert_close(advantages, rewards + 0.99 * next_values - values)


def test_truncation_bootstraps_but_does_not_leak_into_the_next_episode():
    rewards = torch.tensor([[1.0], [5.0]])
    values = torch.tensor([[0.0], [0.0]])
    terminated = torch.zeros(2, 1)
    truncated_first = torch.tensor([[1.0], [0.0]])
    next_values = torch.tensor([[2.0], [0.0]])  # value of the truncated episode's last obs
    advantages, _ = compute_gae(
        rewards, values, terminated, next_values, truncated_first, gamma=1.0, gae_lambda=1.0
    )
    # Step 0 bootstraps from 2.0 and ignores the next episode's reward of 5.
    torch.testing.assert_close(advantages[0], torch.tensor([3.0]))
    torch.testing.assert_close(advantages[1], torch.tensor([5.0]))
