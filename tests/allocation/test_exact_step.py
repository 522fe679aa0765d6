"""Exact per-step coalition planner: brute force on small steps, hand-checked cases, episodes."""

import itertools

import numpy as np
import pytest

from fleetpilot.allocation.env import AllocationEnv, coalition_covers, make_env_config
from fleetpilot.allocation.exact_step import ExactStepPolicy, solve_step
from fleetpilot.allocation.registry import make_dynamic_allocator


def step_profit(action, capabilities, requirement, value, member_cost, max_coalition):
    """Reward the environment pays for one step's action (incomplete coalitions pay 0)."""
    total = 0.0
    for k in range(requirement.shape[0]):
        members = action == k
        if not members.any():
            continue
        assert members.sum() <= max_coalition
        if coalition_covers(capabilities[members].sum(0), requirement[k]):
            total += value[k] - member_cost[members, k].sum()
    return total


def brute_force(capabilities, requirement, value, member_cost, eligible, max_coalition):
    n_robots, n_slots = eligible.shape
    options = [[-1, *np.flatnonzero(eligible[r]).tolist()] for r in range(n_robots)]
    best = 0.0
    for action in itertools.product(*options):
        action = np.array(action)
        if any((action == k).sum() > max_coalition for k in range(n_slots)):
            continue
        best = max(
            best,
            step_profit(action, capabilities, requirement, value, member_cost, max_coalition),
        )
    return best


def random_step(seed, n_robots=6, n_slots=3, n_caps=2):
    rng = np.random.default_rng(seed)
    capabilities = (rng.random((n_robots, n_caps)) < 0.6) * rng.uniform(
        0.3, 1.0, (n_robots, n_caps)
    )
    requirement = (rng.random((n_slots, n_caps)) < 0.7) * rng.uniform(0.2, 1.6, (n_slots, n_caps))
    value = rng.uniform(0.2, 3.0, n_slots)
    member_cost = rng.uniform(0.05, 1.2, (n_robots, n_slots))
    useful = ((capabilities[:, None] > 0) & (requirement[None] > 0)).any(-1)
    eligible = useful & (rng.random((n_robots, n_slots)) < 0.85)
    return capabilities, requirement, value, member_cost, eligible


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("max_coalition", [2, 3])
def test_matches_brute_force_on_small_steps(seed, max_coalition):
    problem = random_step(seed)
    capabilities, requirement, value, member_cost, eligible = problem
    action = solve_step(*problem, max_coalition)
    assert np.all((action < 0) | eligible[np.arange(len(action)), np.maximum(action, 0)])
    for k in np.unique(action[action >= 0]):
        members = action == k
        assert members.sum() <= max_coalition
        assert coalition_covers(capabilities[members].sum(0), requirement[k])
    got = step_profit(action, capabilities, requirement, value, member_cost, max_coalition)
    assert got == pytest.approx(brute_force(*problem, max_coalition), abs=1e-6)


def test_gives_a_shared_robot_to_the_task_only_it_can_serve():
    # Robot 0 has both capabilities and is cheapest; robot 1 has only the first. Serving the
    # oldest task with the cheapest robot (as greedy does) leaves task 1 unserved.
    capabilities = np.array([[1.0, 1.0], [1.0, 0.0]])
    requirement = np.array([[1.0, 0.0], [0.0, 1.0]])
    value = np.array([1.0, 1.0])
    member_cost = np.array([[0.1, 0.1], [0.2, 0.2]])
    eligible = np.array([[True, True], [True, False]])
    action = solve_step(capabilities, requirement, value, member_cost, eligible, 4)
    assert action.tolist() == [1, 0]  # profit 2 - 0.3 = 1.7 instead of 0.9


def test_leaves_an_unprofitable_task_and_picks_the_cheapest_cover():
    capabilities = np.array([[1.0], [0.6], [0.9], [0.5]])
    requirement = np.array([[1.5], [1.0]])
    value = np.array([2.0, 0.5])
    # Covers of task 0: {0,1} 1.0, {0,2} 1.1, {0,3} 1.05, {1,2} 0.9, {2,3} 0.95; task 1's
    # cheapest cover is robot 0 alone (0.6) and it pays only 0.5.
    member_cost = np.array([[0.6, 0.6], [0.4, 0.4], [0.5, 0.5], [0.45, 0.45]])
    eligible = np.ones((4, 2), dtype=bool)
    action = solve_step(capabilities, requirement, value, member_cost, eligible, 4)
    assert action.tolist() == [-1, 0, 0, -1]


def test_a_coalition_limit_below_one_is_refused_by_name():
    with pytest.raises(ValueError, match="max_coalition must be >= 1, got 0"):
        ExactStepPolicy(0)


def test_no_eligible_pair_means_everyone_idle():
    action = solve_step(
        np.ones((3, 2)), np.ones((2, 2)), np.ones(2), np.ones((3, 2)), np.zeros((3, 2), bool), 4
    )
    assert action.tolist() == [-1, -1, -1]


@pytest.mark.parametrize("family", ["capability", "pickup"])
def test_episodes_send_only_complete_profitable_coalitions(family):
    config = make_env_config(family, n_robots=30, episode_steps=60)
    allocator = make_dynamic_allocator("exact-step", config.max_coalition)
    assert isinstance(allocator, ExactStepPolicy)
    env = AllocationEnv(config, batch_size=2)
    obs, finished = env.reset(0), False
    while not finished:
        obs, reward, finished = env.step(obs, allocator.act(obs))  # raises if ineligible
        assert np.all(reward >= 0)
    assert np.all(env.totals["ignored"] == 0) and np.all(env.totals["done"] > 0)
