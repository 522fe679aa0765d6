"""The two-stage model and its decoding: feasibility, equivariance, any fleet size, log-probs."""

import numpy as np
import pytest
import torch

from fleetpilot.allocation import assignment_cost, check_assignment, make_allocator
from fleetpilot.allocation.dynamic_baselines import AuctionCoalitionPolicy, GreedyCoalitionPolicy
from fleetpilot.allocation.env import AllocationEnv, make_env_config
from fleetpilot.allocation.learned_decoding import (
    decode_coalitions,
    greedy_coalitions,
    trace_log_prob,
)
from fleetpilot.allocation.model import TwoStageConfig
from fleetpilot.allocation.policy import DecodeConfig, TwoStagePolicy
from fleetpilot.allocation.static_instances import euclidean_instance


@pytest.fixture(scope="module")
def untrained() -> TwoStagePolicy:
    torch.manual_seed(0)
    return TwoStagePolicy()


def play(config, allocator, seed=0, batch=2):
    env = AllocationEnv(config, batch_size=batch)
    obs, finished = env.reset(seed), False
    while not finished:
        action = allocator.act(obs)
        joined = action[:, :, None] == np.arange(config.n_active)
        # Every coalition sent is feasible, within size and covers its task.
        coverage = np.einsum("brk,brc->bkc", joined, obs.capabilities)
        sent = joined.any(1)
        assert np.all(coverage[sent] >= obs.requirement[sent] - 1e-9)
        assert joined.sum(1).max() <= config.max_coalition
        obs, _, finished = env.step(obs, action)  # raises on an ineligible robot
    return env.totals


@pytest.mark.parametrize("family", ["capability", "pickup"])
def test_all_dynamic_allocators_send_only_eligible_complete_coalitions(family, untrained):
    config = make_env_config(family, n_robots=30, episode_steps=60)
    for allocator in (untrained, GreedyCoalitionPolicy(4), AuctionCoalitionPolicy(4)):
        totals = play(config, allocator)
        assert np.all(totals["ignored"] == 0)
        assert np.all(totals["done"] > 0)


def short_episode_config(family: str, n_robots: int, n_active: int):
    """Three steps of ``family`` with ``n_active`` tasks queued from the start."""
    return make_env_config(
        family,
        n_robots=n_robots,
        n_active=n_active,
        queue_size=max(30, n_active),
        initial_tasks=n_active,
        episode_steps=3,
    )


@pytest.mark.parametrize("n_robots,n_active", [(3, 1), (7, 2), (300, 20)])
def test_any_number_of_robots_and_tasks_without_retraining(untrained, n_robots, n_active):
    play(short_episode_config("capability", n_robots, n_active), untrained, batch=1)


def test_decisions_follow_a_permutation_of_the_robots(untrained):
    config = make_env_config("capability", n_robots=40)
    env = AllocationEnv(config, batch_size=1)
    obs = env.reset(3)
    action = untrained.act(obs)
    assert (action >= 0).any()
    perm = np.random.default_rng(0).permutation(config.n_robots)
    for name in (
        "capabilities",
        "cost_rate",
        "robot_position",
        "robot_free",
        "member_cost",
        "busy_steps",
        "eligible",
    ):
        setattr(obs, name, getattr(obs, name)[:, perm])
    assert np.array_equal(untrained.act(obs), action[:, perm])


def test_sampling_frequencies_match_trace_log_probs():
    rng = np.random.default_rng(0)
    capabilities = np.array([[[1.0], [1.0], [1.0]]])
    requirement = np.array([[[1.0]]])
    eligible = np.ones((1, 3, 1), dtype=bool)
    candidates = np.array([[[0, 1, 2]]])
    logits = np.array([[[1.0, 0.0, -1.0]]], dtype=np.float32)
    stop = np.array([[0.5]], dtype=np.float32)
    counts = np.zeros(4)
    for _ in range(4000):
        _, trace = decode_coalitions(
            capabilities, requirement, eligible, candidates, logits, stop, max_coalition=2, rng=rng
        )
        counts[trace.choice[0, 0, 0]] += 1
        assert trace.choice[0, 0, 1] == -1  # one robot covers it: no second decision
    expected = np.exp([1.0, 0.0, -1.0, 0.5]) / np.exp([1.0, 0.0, -1.0, 0.5]).sum()
    assert np.allclose(counts / counts.sum(), expected, atol=0.03)
    log_prob, entropy = trace_log_prob(
        torch.from_numpy(logits),
        torch.from_numpy(stop),
        torch.from_numpy(trace.options),
        torch.from_numpy(trace.choice),
    )
    assert log_prob.item() == pytest.approx(np.log(expected[trace.choice[0, 0, 0]]), rel=1e-5)
    assert entropy.item() == pytest.approx(-(expected * np.log(expected)).sum(), rel=1e-5)


@pytest.mark.parametrize("scores", ["stage1", "stage2"])
def test_static_assignment_is_one_to_one_and_avoids_forbidden_pairs(scores):
    torch.manual_seed(0)
    policy = TwoStagePolicy(decode_config=DecodeConfig(static_scores=scores))
    rng = np.random.default_rng(1)
    for shape in [(20, 20), (30, 12), (12, 30)]:
        cost = rng.random(shape)
        cost[rng.random(shape) < 0.3] = np.inf
        assignment = policy.assign(cost)
        check_assignment(cost, assignment)
        optimal = make_allocator("optimal").assign(cost)
        # Learned scores + auction may lose a pair only when candidates run short.
        assert (assignment >= 0).sum() >= (optimal >= 0).sum() - 1


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="static_scores"):
        DecodeConfig(static_scores="stage3")
    with pytest.raises(ValueError, match="n_heads"):
        TwoStageConfig(embed_dim=30, n_heads=4)
    with pytest.raises(ValueError, match="n_candidates"):
        TwoStageConfig(n_candidates=0)
    with pytest.raises(ValueError, match="coalition_head"):
        TwoStageConfig(coalition_head="yes")


def test_static_cost_scale_does_not_change_the_decision(untrained):
    cost = euclidean_instance(40, 40, 0)
    base = untrained.assign(cost)
    assert np.array_equal(untrained.assign(cost * 250.0 + 3.0), base)
    assert assignment_cost(cost, base) > 0


def test_compiled_greedy_decoding_matches_the_traced_decoding():
    rng = np.random.default_rng(5)
    batch, n_robots, n_slots, k = 6, 25, 4, 6
    for _ in range(20):
        capabilities = rng.random((batch, n_robots, 3)) * (rng.random((batch, n_robots, 3)) < 0.6)
        requirement = (
            rng.random((batch, n_slots, 3)) * 1.5 * (rng.random((batch, n_slots, 3)) < 0.6)
        )
        eligible = rng.random((batch, n_robots, n_slots)) < 0.8
        candidates = np.stack(
            [
                np.stack([rng.choice(n_robots, k, replace=False) for _ in range(n_slots)])
                for _ in range(batch)
            ]
        )
        candidates[rng.random(candidates.shape) < 0.1] = -1
        logits = rng.normal(size=(batch, n_slots, k)).astype(np.float32)
        stop = rng.normal(size=(batch, n_slots)).astype(np.float32) - 1.0
        traced, _ = decode_coalitions(
            capabilities, requirement, eligible, candidates, logits, stop, max_coalition=3
        )
        compiled = greedy_coalitions(
            capabilities, requirement, eligible, candidates, logits, stop, max_coalition=3
        )
        assert (traced >= 0).any()
        assert np.array_equal(traced, compiled)
