"""The coalition head: subset enumeration, coverage, decoding, log-probs and the profit prior."""

from math import comb

import numpy as np
import pytest
import torch

from fleetpilot.allocation.coalition_choice import (
    choice_log_prob,
    covering_subsets,
    decode_subsets,
    subset_table,
)
from fleetpilot.allocation.env import AllocationEnv, make_env_config
from fleetpilot.allocation.model import TwoStageConfig
from fleetpilot.allocation.policy import TwoStagePolicy
from tests.allocation.test_two_stage import play, short_episode_config


@pytest.fixture(scope="module")
def coalition_policy() -> TwoStagePolicy:
    torch.manual_seed(0)
    return TwoStagePolicy(TwoStageConfig(coalition_head=True))


@pytest.mark.parametrize("k,m", [(8, 4), (5, 2), (3, 6)])
def test_subset_table_lists_every_small_subset_once(k, m):
    table = subset_table(k, m)
    assert table.shape == (sum(comb(k, s) for s in range(1, min(k, m) + 1)), k)
    assert len({row.tobytes() for row in table}) == len(table)
    assert 1 <= table.sum(1).min() and table.sum(1).max() == min(k, m)


def test_covering_subsets_need_full_coverage_and_usable_members():
    capabilities = np.array([[[1.0, 0.0], [0.0, 0.6], [0.5, 0.5], [1.0, 1.0]]])
    requirement = np.array([[[1.0, 0.5]]])
    eligible = np.array([[[True], [True], [True], [False]]])  # robot 3 covers alone, not eligible
    candidates = np.array([[[0, 1, 2, 3, -1]]])
    table = subset_table(5, 2)
    covering = covering_subsets(capabilities, requirement, eligible, candidates, table)[0, 0]
    chosen = {tuple(np.flatnonzero(row)) for row in table[covering]}
    assert chosen == {(0, 1), (0, 2)}  # (1, 2) has only 0.5 of the first capability


def test_decoding_takes_the_best_free_subset_per_task_and_never_reuses_a_robot():
    rng = np.random.default_rng(3)
    batch, n_robots, n_slots, k, m = 5, 20, 4, 6, 3
    table = subset_table(k, m)
    for sample in (None, rng):
        candidates = np.stack(
            [np.stack([rng.choice(n_robots, k, replace=False) for _ in range(n_slots)])] * batch
        )
        covering = rng.random((batch, n_slots, len(table))) < 0.3
        scores = rng.normal(size=(batch, n_slots, len(table) + 1))
        action, trace = decode_subsets(candidates, covering, scores, table, n_robots, sample)
        for b in range(batch):
            used = set()
            for slot in range(n_slots):
                members = set(np.flatnonzero(action[b] == slot))
                assert not members & used
                used |= members
                choice = trace.choice[b, slot]
                if choice < 0:
                    assert not members and not trace.options[b, slot].any()
                    continue
                assert trace.options[b, slot, choice]
                if choice == len(table):  # stop
                    assert not members
                else:
                    assert members == set(candidates[b, slot][table[choice]])
                if sample is None:
                    offered = np.where(trace.options[b, slot], scores[b, slot], -np.inf)
                    assert choice == np.argmax(offered)


def test_sampling_frequencies_match_choice_log_probs():
    rng = np.random.default_rng(0)
    table = subset_table(2, 2)  # {0}, {1}, {0, 1}
    candidates = np.array([[[0, 1]]])
    covering = np.array([[[True, False, True]]])
    scores = np.array([[[1.0, 5.0, 0.0, 0.5]]], dtype=np.float32)  # subset {1} cannot cover
    counts = np.zeros(4)
    for _ in range(4000):
        _, trace = decode_subsets(candidates, covering, scores, table, 2, rng)
        counts[trace.choice[0, 0]] += 1
    logits = np.array([1.0, 0.0, 0.5])
    expected = np.exp(logits) / np.exp(logits).sum()
    assert counts[1] == 0
    assert np.allclose(counts[[0, 2, 3]] / counts.sum(), expected, atol=0.03)
    log_prob, entropy = choice_log_prob(
        torch.from_numpy(scores), torch.from_numpy(trace.options), torch.from_numpy(trace.choice)
    )
    picked = {0: 0, 2: 1, 3: 2}[int(trace.choice[0, 0])]
    assert log_prob.item() == pytest.approx(np.log(expected[picked]), rel=1e-5)
    assert entropy.item() == pytest.approx(-(expected * np.log(expected)).sum(), rel=1e-5)


@pytest.mark.parametrize("family", ["capability", "pickup"])
def test_coalition_head_sends_only_eligible_complete_coalitions(family, coalition_policy):
    totals = play(make_env_config(family, n_robots=30, episode_steps=60), coalition_policy)
    assert np.all(totals["ignored"] == 0)
    assert np.all(totals["done"] > 0)


def test_coalition_head_decisions_follow_a_permutation_of_the_robots(coalition_policy):
    env = AllocationEnv(make_env_config("pickup", n_robots=40), batch_size=1)
    obs = env.reset(3)
    action = coalition_policy.act(obs)
    assert (action >= 0).any()
    perm = np.random.default_rng(0).permutation(40)
    for name in ("capabilities", "cost_rate", "robot_position", "robot_free"):
        setattr(obs, name, getattr(obs, name)[:, perm])
    for name in ("member_cost", "busy_steps", "eligible"):
        setattr(obs, name, getattr(obs, name)[:, perm])
    assert np.array_equal(coalition_policy.act(obs), action[:, perm])


def test_untrained_coalition_head_serves_profitable_tasks_cheaply_and_declines_losses(
    coalition_policy,
):
    env = AllocationEnv(make_env_config("capability", n_robots=12, n_active=2), batch_size=1)
    obs = env.reset(0)
    obs.capabilities[:] = 0.0
    obs.capabilities[0, :, 0] = 1.0  # everybody fully covers a one-capability task alone
    obs.requirement[:] = 0.0
    obs.requirement[0, :, 0] = 1.0
    obs.task_valid[:] = True
    obs.eligible[:] = True
    obs.member_cost[:] = np.r_[1.0, np.linspace(3.0, 4.0, 11)][None, :, None]
    obs.value[0] = [6.0, 0.5]  # task 1 pays less than the cheapest robot costs
    action = coalition_policy.act(obs)[0]
    assert np.flatnonzero(action == 0).tolist() == [0]  # the cheapest robot, alone
    assert not (action == 1).any()


@pytest.mark.parametrize("n_robots,n_active", [(3, 1), (5, 3), (300, 20)])
def test_coalition_head_handles_any_fleet_and_task_count(coalition_policy, n_robots, n_active):
    # Fewer robots than candidates (3 < 8) shrinks the subset table; 20 tasks decode in turn.
    play(short_episode_config("pickup", n_robots, n_active), coalition_policy, batch=1)
