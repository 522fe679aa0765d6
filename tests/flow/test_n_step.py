"""Multi-step TD transitions: sums, discounts, flushing at arrival and episode end."""

import pytest
import torch

from fleetpilot.flow.n_step import NStepReturns
from fleetpilot.flow.nav_transitions import Transitions

GAMMA = 0.5


def tick(rewards: list[float], arrived: list[bool] | None = None) -> Transitions:
    """One row per agent; obs = the reward (so rows can be told apart), next_obs = reward + 0.5."""
    values = torch.tensor(rewards)
    return Transitions(
        obs=values[:, None],
        action=-values[:, None],
        reward=values,
        next_obs=values[:, None] + 0.5,
        terminated=torch.tensor(arrived or [False] * len(rewards)),
    )


def add(returns, rewards, slots, arrived=None, ended=False):
    return returns.add(
        tick(rewards, arrived), torch.tensor(slots), torch.full((len(slots),), ended)
    )


def test_a_transition_leaves_with_n_discounted_rewards_and_the_state_n_ticks_on():
    returns = NStepReturns(3, GAMMA)
    assert len(add(returns, [1.0], [0])[0]) == 0
    assert len(add(returns, [2.0], [0])[0]) == 0
    rows, discount = add(returns, [3.0], [0])
    assert rows.obs.tolist() == [[1.0]] and rows.action.tolist() == [[-1.0]]
    assert rows.reward.tolist() == [1.0 + 0.5 * 2.0 + 0.25 * 3.0]
    assert rows.next_obs.tolist() == [[3.5]] and discount.tolist() == [0.125]
    rows, _ = add(returns, [4.0], [0])
    assert rows.obs.tolist() == [[2.0]] and rows.reward.tolist() == [2.0 + 1.5 + 1.0]


def test_an_arrival_flushes_shorter_returns_without_bootstrap():
    returns = NStepReturns(4, GAMMA)
    add(returns, [1.0], [7])
    rows, discount = add(returns, [2.0], [7], arrived=[True])
    assert rows.obs.tolist() == [[1.0], [2.0]]
    assert rows.reward.tolist() == [2.0, 2.0] and discount.tolist() == [0.0, 0.0]
    assert rows.terminated.tolist() == [True, True]
    # The slot starts afresh: its next episode's first row waits again.
    assert len(add(returns, [5.0], [7])[0]) == 0


def test_the_end_of_an_episode_flushes_with_the_bootstrap_of_the_rows_left():
    returns = NStepReturns(4, GAMMA)
    add(returns, [1.0], [0])
    rows, discount = add(returns, [2.0], [0], ended=True)
    assert rows.reward.tolist() == [2.0, 2.0]
    assert discount.tolist() == [0.25, 0.5] and rows.next_obs.tolist() == [[2.5], [2.5]]


def test_agents_are_kept_apart():
    returns = NStepReturns(2, GAMMA)
    add(returns, [1.0, 10.0], [0, 1])
    rows, _ = add(returns, [2.0, 20.0], [0, 1])
    assert rows.reward.tolist() == [2.0, 20.0]
    assert rows.next_obs.tolist() == [[2.5], [20.5]]


def test_one_step_is_the_input_with_its_discount():
    returns = NStepReturns(1, GAMMA)
    rows, discount = add(returns, [1.0, 2.0], [0, 1], arrived=[False, True])
    assert rows.reward.tolist() == [1.0, 2.0] and discount.tolist() == [0.5, 0.0]


@pytest.mark.parametrize(("n", "gamma"), [(0, 0.9), (2.5, 0.9), (2, 1.5), (2, float("nan"))])
def test_bad_settings_are_refused_by_name(n, gamma):
    with pytest.raises(ValueError, match="n_step|gamma"):
        NStepReturns(n, gamma)
