"""Forward auction (Bertsekas) that turns a score matrix into a one-to-one assignment.

Used as the decoding step of the learned allocator: it maximises the sum of *learned* scores to
within ``n * epsilon`` with a bounded number of bids. It never sees the true costs.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _forward_auction(benefit: np.ndarray, epsilon: float, max_bids: int) -> np.ndarray:
    # benefit: (P, O) with P <= O; -inf entries are never bid on.
    n_persons, n_objects = benefit.shape
    price = np.zeros(n_objects)
    owner = np.full(n_objects, -1, dtype=np.int64)
    person_object = np.full(n_persons, -1, dtype=np.int64)
    queue = list(range(n_persons))
    bids = 0
    while len(queue) > 0 and bids < max_bids:
        person = queue.pop()
        best, second, best_object = -np.inf, -np.inf, -1
        for obj in range(n_objects):
            value = benefit[person, obj] - price[obj]
            if value > best:
                second, best, best_object = best, value, obj
            elif value > second:
                second = value
        if best_object < 0 or best == -np.inf:
            continue  # nothing allowed for this person
        if second == -np.inf:
            second = best - 1.0  # only one allowed object: bid a fixed unit increment
        price[best_object] += best - second + epsilon
        previous = owner[best_object]
        if previous >= 0:
            person_object[previous] = -1
            queue.append(previous)
        owner[best_object] = person
        person_object[person] = best_object
        bids += 1
    return person_object


def auction_decode(score: np.ndarray, relative_epsilon: float = 2e-3) -> np.ndarray:
    """Maximum-score one-to-one assignment, approximately, by a forward auction.

    Args:
        score: (R, T) scores to maximise; -inf = forbidden pair.
        relative_epsilon: bid increment as a fraction of the spread of finite scores; the
            result is within ``min(R, T) * epsilon`` of the best total score when every
            robot (or task, whichever is fewer) can be assigned.

    Returns:
        (R,) int64 task index per robot, -1 = none; forbidden pairs are never returned.
    """
    score = np.asarray(score, dtype=np.float64)
    finite = np.isfinite(score)
    assignment = np.full(score.shape[0], -1, dtype=np.int64)
    if not finite.any():
        return assignment
    spread = float(score[finite].max() - score[finite].min()) or 1.0
    # A forbidden pair gets a penalty instead of -inf so that persons without an allowed
    # object still settle (on a pair dropped below) instead of bidding forever.
    penalised = np.where(finite, score, score[finite].min() - 2.0 * spread)
    epsilon = relative_epsilon * spread
    n_robots, n_tasks = score.shape
    max_bids = 200 * n_robots * n_tasks + 1000
    if n_robots <= n_tasks:
        assignment = _forward_auction(penalised, epsilon, max_bids)
    else:
        task_robot = _forward_auction(np.ascontiguousarray(penalised.T), epsilon, max_bids)
        tasks = np.flatnonzero(task_robot >= 0)
        assignment[task_robot[tasks]] = tasks
    robots = np.flatnonzero(assignment >= 0)
    drop = ~finite[robots, assignment[robots]]
    assignment[robots[drop]] = -1
    return assignment
