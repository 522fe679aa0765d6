"""The simulator's collision rule and throughput definition."""

import numpy as np
import pytest

from fleetpilot.mapf.collisions import resolve_moves
from fleetpilot.mapf.generators import random_map
from fleetpilot.mapf.grid_map import MOVES, GridMap
from fleetpilot.mapf.planners import make_planner
from fleetpilot.mapf.search_kernels import connected_components
from fleetpilot.mapf.simulator import LifelongSim, SimConfig, run_episode
from fleetpilot.mapf.string_maps import parse_string_map
from fleetpilot.mapf.tasks import GoalStream, initial_placement


def resolve(grid: GridMap, positions, actions):
    """Apply actions to (row, col) positions with the simulator's kernel."""
    positions = np.asarray(positions, dtype=np.int64)
    moved = positions + MOVES[np.asarray(actions)]
    inside = (moved[:, 0] >= 0) & (moved[:, 0] < grid.height)
    inside &= (moved[:, 1] >= 0) & (moved[:, 1] < grid.width)
    proposed = np.where(inside, moved[:, 0] * grid.width + moved[:, 1], -1)
    current = positions[:, 0] * grid.width + positions[:, 1]
    occupant = np.full(grid.height * grid.width, -1, dtype=np.int64)
    nxt = resolve_moves(current, proposed, grid.free.reshape(-1), occupant)
    assert np.all(occupant == -1)
    return np.stack([nxt // grid.width, nxt % grid.width], axis=-1).tolist()


OPEN = parse_string_map("....\n....\n....\n.#..")


def test_swap_is_forbidden_both_wait():
    # Agent 0 moves right into agent 1, agent 1 moves left into agent 0.
    assert resolve(OPEN, [[0, 0], [0, 1]], [4, 3]) == [[0, 0], [0, 1]]


def test_vertex_conflict_lowest_index_wins():
    assert resolve(OPEN, [[0, 0], [0, 2]], [4, 3]) == [[0, 1], [0, 2]]
    assert resolve(OPEN, [[0, 2], [0, 0]], [3, 4]) == [[0, 1], [0, 0]]


def test_waiting_agent_keeps_its_cell_and_blocks_cascade():
    # 2 waits; 1 moves into 2 (blocked); 0 moves into 1's cell (blocked because 1 stays).
    assert resolve(OPEN, [[0, 0], [0, 1], [0, 2]], [4, 4, 0]) == [[0, 0], [0, 1], [0, 2]]


def test_following_and_rotation_are_allowed():
    assert resolve(OPEN, [[0, 0], [0, 1], [0, 2]], [4, 4, 4]) == [[0, 1], [0, 2], [0, 3]]
    # A 2x2 rotation of four agents (clockwise).
    cycle = resolve(OPEN, [[0, 0], [0, 1], [1, 1], [1, 0]], [4, 2, 3, 1])
    assert cycle == [[0, 1], [1, 1], [1, 0], [0, 0]]


def test_obstacles_and_borders_become_waits():
    assert resolve(OPEN, [[2, 1], [0, 0]], [2, 1]) == [[2, 1], [0, 0]]
    assert resolve(OPEN, [[0, 3]], [4]) == [[0, 3]]


def test_random_actions_never_share_cells_or_pass_through_each_other():
    grid = random_map(10, 10, 0.15, seed=3)
    sim = LifelongSim(grid, SimConfig(num_agents=40, max_steps=300, seed=3))
    rng = np.random.default_rng(0)
    moved_total = 0
    while not sim.done:
        before = sim.positions.copy()
        sim.step(rng.integers(0, 5, size=40))
        after = sim.positions
        assert len({tuple(p) for p in after}) == 40, "vertex conflict"
        assert np.all(grid.is_free(after)), "agent on an obstacle"
        assert np.all(np.abs(after - before).sum(axis=1) <= 1), "teleport"
        where_before = {tuple(p): i for i, p in enumerate(before)}
        for i in range(40):
            j = where_before.get(tuple(after[i]))
            if j is not None and j != i:
                assert tuple(after[j]) != tuple(before[i]), f"agents {i} and {j} swapped"
        moved_total += int(np.any(after != before, axis=1).sum())
    assert moved_total > 1000  # the rule must not simply freeze everyone


def test_throughput_on_hand_checked_corridors():
    # Two disjoint 2-cell components, one agent each: every goal is the other cell, so a
    # shortest-path agent reaches a goal every step; a waiting agent never does.
    grid = parse_string_map("..#..")
    result = run_episode(grid, make_planner("astar"), SimConfig(num_agents=2, max_steps=10))
    assert result.goals_reached == 20 and result.throughput == 2.0

    class Waiting:
        def reset(self, grid, positions, goals, seed):
            pass

        def act(self, positions, goals):
            return np.zeros(len(positions), dtype=np.int64)

    idle = run_episode(grid, Waiting(), SimConfig(num_agents=2, max_steps=10))
    assert idle.goals_reached == 0 and idle.throughput == 0.0


def test_three_cell_corridor_throughput_matches_manual_count():
    # One agent on "...": count arrivals by replaying the goal stream by hand.
    grid = parse_string_map("...")
    config = SimConfig(num_agents=1, max_steps=50, seed=7)
    result = run_episode(grid, make_planner("astar"), config)
    starts, goals = initial_placement(grid, 1, 7)
    stream = GoalStream(grid, 1, 7)
    position, goal, reached = int(starts[0, 1]), int(goals[0, 1]), 0
    for _ in range(50):
        position += int(np.sign(goal - position))
        if position == goal:
            reached += 1
            goal = int(stream.next_goal(0, np.array([0, position]))[1])
    assert result.goals_reached == reached
    assert result.throughput == reached / 50


def test_initial_placement_is_valid_and_seeded():
    grid = random_map(16, 16, 0.3, seed=1)
    starts, goals = initial_placement(grid, 30, seed=5)
    again, _ = initial_placement(grid, 30, seed=5)
    assert np.array_equal(starts, again)
    cells = {tuple(c) for c in starts} | {tuple(c) for c in goals}
    assert len(cells) == 60  # starts and first goals are all distinct
    labels = connected_components(grid.free.reshape(-1), 16).reshape(16, 16)
    assert np.all(labels[starts[:, 0], starts[:, 1]] == labels[goals[:, 0], goals[:, 1]])
    stream = GoalStream(grid, 30, seed=5)
    for agent in range(30):
        new_goal = stream.next_goal(agent, goals[agent])
        assert tuple(new_goal) != tuple(goals[agent])
        assert labels[tuple(new_goal)] == labels[tuple(goals[agent])]
    with pytest.raises(ValueError, match="cannot hold 200 agents"):
        initial_placement(grid, 200, seed=0)


def test_step_validates_actions():
    sim = LifelongSim(OPEN, SimConfig(num_agents=2))
    with pytest.raises(ValueError, match="actions must be in"):
        sim.step(np.array([0, 7]))
    with pytest.raises(ValueError, match="shape"):
        sim.step(np.array([0]))
    with pytest.raises(ValueError, match="SimConfig.num_agents must be >= 1, got 0"):
        SimConfig(num_agents=0)
