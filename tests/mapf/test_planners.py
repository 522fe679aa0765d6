"""Planners: the registry, valid moves, optimality of A*, PIBT's conflict-freeness and speed."""

import time

import numpy as np
import pytest

from fleetpilot.mapf.collisions import resolve_moves
from fleetpilot.mapf.costs import traffic_penalty
from fleetpilot.mapf.generators import generate_map, random_map
from fleetpilot.mapf.grid_map import MOVES
from fleetpilot.mapf.planners import make_planner, planner_names
from fleetpilot.mapf.search_kernels import astar_paths, bfs_distances_many, weighted_costs_to
from fleetpilot.mapf.simulator import LifelongSim, SimConfig

CLASSICAL = ["astar", "follower-planner", "pibt", "pibt-traffic"]


def test_registry_names_and_errors():
    assert set(CLASSICAL) <= set(planner_names())
    with pytest.raises(ValueError, match="unknown planner 'dijkstra'"):
        make_planner("dijkstra")
    with pytest.raises(ValueError, match="unexpected keyword argument 'radius'"):
        make_planner("follower-planner", radius=3)
    with pytest.raises(ValueError, match="FollowerPlannerConfig.obs_radius must be >= 1, got 0"):
        make_planner("follower-planner", obs_radius=0)
    with pytest.raises(ValueError, match="PIBTConfig.traffic_weight must be >= 0, got -1"):
        make_planner("pibt", traffic_weight=-1)


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("spec", ["random:16x16:0.25", "maze:15x15", "warehouse"])
def test_every_planner_proposes_only_free_cells(name, spec):
    grid = generate_map(spec, seed=2)
    agents = 60 if spec == "warehouse" else 30
    sim = LifelongSim(grid, SimConfig(num_agents=agents, max_steps=40, seed=2))
    planner = make_planner(name)
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 2)
    while not sim.done:
        actions = planner.act(sim.positions.copy(), sim.goals.copy())
        assert actions.shape == (agents,) and actions.min() >= 0 and actions.max() < 5
        assert np.all(grid.is_free(sim.positions + MOVES[actions])), f"{name} left free space"
        sim.step(actions)
    assert sim.goals_reached > 0


def test_astar_paths_are_shortest_and_contiguous():
    grid = random_map(24, 24, 0.25, seed=9)
    free = grid.free.reshape(-1)
    cells = np.flatnonzero(free)
    rng = np.random.default_rng(1)
    starts, goals = rng.choice(cells, 40), rng.choice(cells, 40)
    paths, lengths = astar_paths(
        free, 24, starts, goals, np.ones(free.size), np.zeros((1, 1), np.float32), False, 600,
        np.zeros((1, 1)), False,
    )  # fmt: skip
    dist = bfs_distances_many(free, 24, starts)
    for i in range(40):
        if dist[i, goals[i]] >= 2**30:
            assert lengths[i] == 0
            continue
        assert lengths[i] == dist[i, goals[i]] + 1
        path = paths[i, : lengths[i]]
        assert path[0] == starts[i] and path[-1] == goals[i] and np.all(free[path])
        steps = np.abs(np.diff(path))
        assert np.all((steps == 1) | (steps == 24))


def test_static_cost_heuristic_keeps_paths_cheapest():
    grid = random_map(30, 30, 0.25, seed=6)
    free = grid.free.reshape(-1)
    cells = np.flatnonzero(free)
    rng = np.random.default_rng(2)
    starts, goals = rng.choice(cells, 30), rng.choice(cells, 30)
    static = traffic_penalty(grid)
    agent_cost = rng.integers(0, 4, (30, free.size)).astype(np.float32)
    tables = np.stack([weighted_costs_to(free, 30, int(goal), static) for goal in goals])

    def costs(use_table):
        paths, lengths = astar_paths(
            free, 30, starts, goals, static, agent_cost, True, 2000, tables, use_table
        )
        return [
            sum(static[c] + agent_cost[i, c] for c in paths[i, 1 : lengths[i]])
            if lengths[i]
            else None
            for i in range(30)
        ]

    manhattan, table = costs(False), costs(True)
    assert [c is None for c in manhattan] == [c is None for c in table]
    assert np.allclose(
        [c for c in manhattan if c is not None], [c for c in table if c is not None]
    )
    assert any(c is not None for c in table)


def test_weighted_costs_match_unit_bfs_and_penalty_prefers_the_rim():
    grid = random_map(15, 15, 0.2, seed=4)
    free = grid.free.reshape(-1)
    goal = int(np.flatnonzero(free)[7])
    unit = weighted_costs_to(free, 15, goal, np.ones(free.size))
    bfs = bfs_distances_many(free, 15, np.array([goal]))[0]
    reachable = bfs < 2**30
    assert np.array_equal(unit[reachable], bfs[reachable].astype(float))
    assert np.all(np.isinf(unit[~reachable]))
    open_grid = generate_map("random:11x11:0.0", 0)
    penalty = traffic_penalty(open_grid).reshape(11, 11)
    assert penalty.min() == pytest.approx(1.0)
    assert penalty[5, 5] == penalty.max() and penalty[0, 0] == penalty.min()


@pytest.mark.parametrize("name", ["pibt", "pibt-traffic"])
def test_pibt_never_proposes_conflicts(name):
    grid = random_map(20, 20, 0.2, seed=0)
    sim = LifelongSim(grid, SimConfig(num_agents=120, max_steps=60, seed=0))
    planner = make_planner(name)
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 0)
    occupant = np.full(400, -1, dtype=np.int64)
    while not sim.done:
        nxt = planner.plan(sim.positions.copy(), sim.goals.copy())
        current = sim.positions[:, 0] * 20 + sim.positions[:, 1]
        resolved = resolve_moves(current, nxt, grid.free.reshape(-1), occupant)
        assert np.array_equal(resolved, nxt), "the simulator had to cancel a PIBT move"
        sim.step(planner.act(sim.positions.copy(), sim.goals.copy()))


def test_lifelong_priorities_put_the_longest_waiting_agent_first():
    from fleetpilot.mapf.planners.pibt import LifelongPriorities

    priorities = LifelongPriorities(3, np.random.default_rng(0))
    goals = np.array([10, 20, 30])
    order, new_goal = priorities.update(goals)
    assert new_goal.all() and sorted(order) == [0, 1, 2]  # all equal: random tie-break
    priorities.update(goals)
    order, new_goal = priorities.update(np.array([10, 21, 30]))  # agent 1 reached its goal
    assert new_goal.tolist() == [False, True, False]
    assert order[-1] == 1  # it waited least, so it now yields to both others


def test_follower_planner_beats_naive_astar_in_congestion():
    grid = generate_map("warehouse", 0)
    result = {}
    for name in ("astar", "follower-planner"):
        sim = LifelongSim(grid, SimConfig(num_agents=96, max_steps=96, seed=1))
        planner = make_planner(name)
        planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 1)
        while not sim.done:
            sim.step(planner.act(sim.positions.copy(), sim.goals.copy()))
        result[name] = sim.goals_reached
    assert result["follower-planner"] > 1.3 * result["astar"]


def test_pibt_thousand_agents_on_64x64_is_fast():
    grid = random_map(64, 64, 0.2, seed=0)
    sim = LifelongSim(grid, SimConfig(num_agents=1000, max_steps=30, seed=0))
    planner = make_planner("pibt")
    planner.reset(grid, sim.positions.copy(), sim.goals.copy(), 0)
    planner.act(sim.positions.copy(), sim.goals.copy())  # compile and fill distance tables
    times = []
    while not sim.done:
        start = time.perf_counter()
        actions = planner.act(sim.positions.copy(), sim.goals.copy())
        times.append(time.perf_counter() - start)
        sim.step(actions)
    # The target is 50 ms; the test allows for two other engineers sharing the two cores.
    assert np.median(times) < 0.1, f"median {1e3 * np.median(times):.1f} ms per step"
    assert sim.goals_reached > 0
