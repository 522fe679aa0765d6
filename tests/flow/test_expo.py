"""EXPO's selection picks the highest-Q action among base and edited proposals."""

import pytest
import torch
from torch import nn

from fleetpilot.flow.expo import (
    ExpoConfig,
    GaussianEditPolicy,
    QEnsemble,
    propose_and_select,
    select_max_q,
)
from fleetpilot.flow.registry import make_config, make_policy


class DistanceToTarget(nn.Module):
    """A known Q-function: minus the squared distance of the action to a fixed target."""

    def __init__(self, target):
        super().__init__()
        self.target = torch.tensor(target)

    def forward(self, obs, action):
        return -(action - self.target).pow(2).sum(-1)


def test_select_max_q_returns_the_argmax_candidate():
    candidates = torch.tensor(
        [[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], [[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]]]
    )
    q_values = torch.tensor([[0.1, 0.9, 0.3], [2.0, -1.0, 1.0]])
    actions, index = select_max_q(candidates, q_values)
    assert index.tolist() == [1, 0]
    assert actions.tolist() == [[1.0, 1.0], [5.0, 5.0]]


@pytest.mark.parametrize("num_edited", [0, 8])
def test_acting_picks_the_best_of_base_and_edited_proposals(num_edited):
    torch.manual_seed(0)
    config = ExpoConfig(num_edited_samples=num_edited, hidden_dims=(16,))
    base = make_policy("flow", make_config("flow", obs_dim=3, action_dim=2, hidden_dims=(16,)))
    edit = GaussianEditPolicy(3, 2, config)
    q_function = DistanceToTarget([0.5, -0.5])
    obs = torch.randn(6, 3)
    action, candidates, q_values = propose_and_select(base, edit, q_function, obs, config)
    assert candidates.shape == (6, 8 + num_edited, 2)
    # Recompute every candidate's value independently: the chosen action has the maximum.
    recomputed = -(candidates - torch.tensor([0.5, -0.5])).pow(2).sum(-1)
    torch.testing.assert_close(q_values, recomputed)
    chosen_value = -(action - torch.tensor([0.5, -0.5])).pow(2).sum(-1)
    torch.testing.assert_close(chosen_value, recomputed.max(dim=1).values)
    if num_edited:
        edits = candidates[:, 8:] - candidates[:, :8]
        assert edits.abs().max() <= config.edit_scale + 1e-6


def test_q_ensemble_min_is_pessimistic():
    torch.manual_seed(0)
    ensemble = QEnsemble(3, 2, ExpoConfig(num_q=4, hidden_dims=(8,)))
    obs, action = torch.randn(5, 3), torch.randn(5, 2)
    torch.testing.assert_close(
        ensemble(obs, action), ensemble.all_values(obs, action).min(0).values
    )


def test_expo_config_errors_name_the_field():
    with pytest.raises(ValueError, match="ExpoConfig.edit_scale must be > 0, got 0.0"):
        ExpoConfig(edit_scale=0.0)
