"""Regression and target checks of the shipped policy in ``policies/allocator``."""

import numpy as np
import pytest
import torch

from fleetpilot.allocation import assignment_cost, check_assignment, make_allocator
from fleetpilot.allocation.env import make_env_config
from fleetpilot.allocation.evaluation import run_episode
from fleetpilot.allocation.features import ModelInputs
from fleetpilot.allocation.policy import TwoStagePolicy, default_policy_dir, to_tensors
from fleetpilot.allocation.registry import make_dynamic_allocator
from fleetpilot.allocation.static_instances import euclidean_instance

from .shipped_policy_cases import ARTIFACT, compute


@pytest.fixture(scope="module")
def shipped() -> TwoStagePolicy:
    torch.set_num_threads(1)
    return TwoStagePolicy.from_pretrained()


@pytest.fixture(scope="module")
def saved() -> dict[str, np.ndarray]:
    with np.load(ARTIFACT) as data:
        return dict(data)


def test_default_policy_dir_is_the_repository_folder_with_a_model_card():
    directory = default_policy_dir()
    assert directory.parts[-2:] == ("policies", "allocator")
    card = (directory / "README.md").read_text()
    assert "fleetpilot train allocator" in card and "Seed:" in card


def test_network_outputs_on_saved_inputs_are_unchanged(shipped, saved):
    inputs = ModelInputs(
        saved["robot"], saved["task"], saved["pair"], saved["member_cost"], saved["eligible"]
    )
    with torch.no_grad():
        out = shipped.net(**to_tensors(inputs))
    assert np.array_equal(out.candidates.numpy(), saved["candidates"])
    assert np.allclose(out.logits.numpy(), saved["logits"], atol=1e-4)
    assert np.allclose(out.stop_logit.numpy(), saved["stop_logit"], atol=1e-4)


def test_decisions_on_saved_cases_are_unchanged(shipped, saved):
    now = compute(shipped)
    assert np.array_equal(now["static_assignment"], saved["static_assignment"])
    finite = np.isfinite(saved["static_score"])
    assert np.array_equal(np.isfinite(now["static_score"]), finite)
    assert np.allclose(now["static_score"][finite], saved["static_score"][finite], atol=1e-4)
    assert np.array_equal(now["dynamic_actions"], saved["dynamic_actions"])
    assert np.allclose(now["dynamic_reward"], saved["dynamic_reward"])


def test_shipped_policy_is_within_five_percent_of_optimal_on_100x100():
    allocator = make_allocator("two-stage")  # the public API loads the shipped folder
    for seed in (0, 1):
        cost = euclidean_instance(100, 100, seed)
        assignment = allocator.assign(cost)
        check_assignment(cost, assignment)
        assert (assignment >= 0).all()
        optimal = assignment_cost(cost, make_allocator("optimal").assign(cost))
        assert assignment_cost(cost, assignment) <= 1.05 * optimal


@pytest.mark.parametrize("family", ["capability", "pickup"])
def test_shipped_policy_beats_greedy_on_the_training_families(shipped, family):
    config = make_env_config(family, n_robots=50)
    greedy = make_dynamic_allocator("greedy", config.max_coalition)
    learned = [run_episode(config, shipped, seed).reward for seed in (0, 1)]
    baseline = [run_episode(config, greedy, seed).reward for seed in (0, 1)]
    assert np.mean(learned) > np.mean(baseline)
