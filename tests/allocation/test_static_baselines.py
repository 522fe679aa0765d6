"""Static allocators against brute force and hand-checked cases."""

import itertools

import numpy as np
import pytest

from fleetpilot.allocation import ALLOCATORS, assignment_cost, check_assignment, make_allocator
from fleetpilot.allocation.auction_decoding import auction_decode
from fleetpilot.allocation.static_instances import euclidean_instance

CLASSICAL = ("optimal", "greedy", "auction")


def brute_force(cost: np.ndarray) -> tuple[int, float]:
    """(most allowed pairs, least total cost among those) by enumerating every assignment."""
    n_robots, n_tasks = cost.shape
    best = (0, 0.0)
    options = [*range(n_tasks), -1]
    for choice in itertools.product(options, repeat=n_robots):
        used = [t for t in choice if t >= 0]
        if len(set(used)) != len(used):
            continue
        pairs = [(r, t) for r, t in enumerate(choice) if t >= 0]
        if any(np.isinf(cost[r, t]) for r, t in pairs):
            continue
        total = float(sum(cost[r, t] for r, t in pairs))
        if len(pairs) > best[0] or (len(pairs) == best[0] and total < best[1] - 1e-12):
            best = (len(pairs), total)
    return best


def random_cost(rng: np.random.Generator, shape: tuple[int, int], forbid: float) -> np.ndarray:
    cost = rng.random(shape) * 10
    cost[rng.random(shape) < forbid] = np.inf
    return cost


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5), (5, 5)])
def test_optimal_matches_brute_force_with_forbidden_pairs(shape):
    rng = np.random.default_rng(sum(shape))
    allocator = make_allocator("optimal")
    for _ in range(15):
        cost = random_cost(rng, shape, forbid=0.3)
        assignment = allocator.assign(cost)
        check_assignment(cost, assignment)
        n_pairs, total = brute_force(cost)
        assert (assignment >= 0).sum() == n_pairs
        assert assignment_cost(cost, assignment) == pytest.approx(total)


@pytest.mark.parametrize("name", CLASSICAL)
def test_every_allocator_is_valid_and_never_better_than_brute_force(name):
    rng = np.random.default_rng(7)
    allocator = make_allocator(name)
    for shape in [(3, 4), (4, 3), (5, 5)]:
        for _ in range(10):
            cost = random_cost(rng, shape, forbid=0.2)
            assignment = allocator.assign(cost)
            check_assignment(cost, assignment)  # one task per robot, no forbidden pair
            n_pairs, total = brute_force(cost)
            if (assignment >= 0).sum() == n_pairs:
                assert assignment_cost(cost, assignment) >= total - 1e-9


def test_greedy_takes_cheapest_pair_first_and_can_be_far_from_optimal():
    cost = np.array([[1.0, 2.0], [2.0, 100.0]])
    assert make_allocator("greedy").assign(cost).tolist() == [0, 1]  # 101
    assert make_allocator("optimal").assign(cost).tolist() == [1, 0]  # 4


def test_consensus_auction_reaches_the_greedy_solution_and_half_the_optimal_benefit():
    # With one task per robot and distinct bids, CBBA converges to the sequential-greedy
    # assignment, which earns at least half the optimal benefit.
    rng = np.random.default_rng(3)
    for shape in [(6, 6), (8, 5), (5, 8)]:
        for _ in range(10):
            cost = rng.random(shape)
            auction = make_allocator("auction").assign(cost)
            assert auction.tolist() == make_allocator("greedy").assign(cost).tolist()
            benefit = 1.0 - cost
            best = make_allocator("optimal").assign(cost)
            robots, chosen = np.flatnonzero(auction >= 0), np.flatnonzero(best >= 0)
            assert (
                benefit[robots, auction[robots]].sum() >= 0.5 * benefit[chosen, best[chosen]].sum()
            )


def test_auction_bids_only_from_local_rows():
    # A robot whose row is all forbidden never bids and stays unassigned; others are unaffected.
    cost = np.array([[np.inf, np.inf], [1.0, 2.0], [3.0, 1.0]])
    assert make_allocator("auction").assign(cost).tolist() == [-1, 0, 1]


@pytest.mark.parametrize("name", CLASSICAL)
def test_bad_inputs_are_rejected(name):
    allocator = make_allocator(name)
    with pytest.raises(ValueError, match="NaN"):
        allocator.assign(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        allocator.assign(np.ones(3))
    assert allocator.assign(np.full((2, 2), np.inf)).tolist() == [-1, -1]


def test_unknown_allocator_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="optimal"):
        make_allocator("hungarian")
    assert set(ALLOCATORS) == {"optimal", "greedy", "auction", "two-stage"}


def test_auction_decoding_is_near_optimal_for_its_scores():
    for seed in range(5):
        cost = euclidean_instance(30, 30, seed)
        decoded = auction_decode(-cost, relative_epsilon=1e-3)
        check_assignment(cost, decoded)
        optimal = assignment_cost(cost, make_allocator("optimal").assign(cost))
        spread = cost.max() - cost.min()
        assert assignment_cost(cost, decoded) <= optimal + 30 * 1e-3 * spread + 1e-9


def test_auction_decoding_respects_forbidden_pairs_in_rectangular_problems():
    rng = np.random.default_rng(0)
    for shape in [(6, 3), (3, 6)]:
        score = rng.random(shape)
        score[0, :] = -np.inf
        decoded = auction_decode(score)
        assert decoded[0] == -1
        assert (decoded >= 0).sum() == min(shape[0] - 1, shape[1])
        check_assignment(-score, decoded)
