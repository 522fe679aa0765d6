"""Episode metrics on scripted trajectories whose outcomes are computed by hand."""

import math

import pytest
import torch

from fleetpilot.envs.metrics import MetricsConfig, MetricsTracker, summarize

# (tick, env, agent, xy): three environments of three agents, dt = 0.1 s, radius 0.2 m.
TRAJECTORY = [
    [  # env 0: agents 0 and 1 arrive at tick 2 (0.3 s), agent 2 never moves (deadlock)
        [(0, 0), (5, 0), (0, 5)],
        [(0.1, 0), (6, 0), (0, 5)],
        [(0.2, 0), (6, 3), (0, 5)],
        [(0.3, 0), (5, 3), (0, 5)],
        [(1.0, 0), (5, 3), (0, 5)],  # agent 0 leaves its goal: arrival stays latched
    ],
    [  # env 1: agents 0 and 1 touch twice, agent 2 touches the obstacle once
        [(0, 0), (1, 0), (5, 6)],
        [(0, 0), (0.3, 0), (5, 6)],
        [(0, 0), (0.35, 0), (5, 5.6)],
        [(0, 0), (1, 0), (5, 5.6)],
        [(0, 0), (0.39, 0), (5, 6)],
    ],
    [  # env 2: arrivals at ticks 0, 1 and 3
        [(0, 0), (0, 1), (0, 2)],
        [(0.5, 0), (0.5, 1), (0.5, 2)],
        [(0.5, 0), (1, 1), (1, 2)],
        [(0.5, 0), (1, 1), (1.5, 2)],
        [(0.5, 0), (1, 1), (2, 2)],
    ],
]
GOALS = [
    [(0.35, 0), (5, 3), (0, 8)],
    [(10, 10), (10, 11), (10, 12)],
    [(0.5, 0), (1, 1), (2, 2)],
]
INF = math.inf
OBSTACLES = torch.tensor(
    [[[1e4, 1e4, 1e-3]], [[5.0, 5.0, 0.5]], [[1e4, 1e4, 1e-3]]], dtype=torch.float64
)
OBSTACLE_MASK = torch.tensor([[False], [True], [False]])


def run(config: MetricsConfig, running=None) -> MetricsTracker:
    positions = torch.tensor(TRAJECTORY, dtype=torch.float64).transpose(0, 1)  # (T, B, N, 2)
    goals = torch.tensor(GOALS, dtype=torch.float64)
    radii = torch.full((3, 3), 0.2, dtype=torch.float64)
    tracker = MetricsTracker(config, num_envs=3, num_agents=3, device=torch.device("cpu"))
    tracker.resize_obstacles(1)
    tracker.reset(torch.arange(3), positions[0], goals)
    for tick in range(1, len(positions)):
        now = positions[tick]
        distances = torch.cdist(now, now).masked_fill(torch.eye(3, dtype=torch.bool), INF)
        gaps = torch.cdist(now, OBSTACLES[:, :, :2]) - OBSTACLES[:, None, :, 2]
        gaps = gaps.masked_fill(~OBSTACLE_MASK[:, None, :], INF)
        tracker.update(
            positions[tick - 1],
            now,
            goals,
            radii,
            distances,
            gaps,
            status=torch.zeros((3, 3), dtype=torch.int8),
            running=torch.ones(3, dtype=torch.bool) if running is None else running,
        )
    return tracker


CONFIG = MetricsConfig(dt=0.1, goal_tolerance=0.1, deadlock_speed=0.05, deadlock_time=0.3)


def test_arrival_makespan_path_ratio_and_deadlock_by_hand():
    tracker = run(CONFIG)
    stuck, touching, succeeded = (tracker.episode(env) for env in range(3))

    assert not stuck.success and stuck.makespan is None
    assert stuck.agents["arrived"] == [True, True, False]
    assert stuck.agents["time_to_goal"] == [pytest.approx(0.3), pytest.approx(0.3), None]
    assert stuck.agents["path_length_ratio"] == pytest.approx([0.3 / 0.35, 5 / 3, 0.0])
    assert stuck.path_length_ratio == pytest.approx((0.3 / 0.35 + 5 / 3) / 2)
    assert stuck.agents["deadlocked"] == [False, False, True] and stuck.deadlock
    assert stuck.min_distance == pytest.approx(5.0)  # agent 0 at (1, 0), agent 1 at (5, 3)
    assert stuck.collisions == 0 and stuck.min_obstacle_gap is None

    assert succeeded.success and succeeded.makespan == pytest.approx(0.4)
    assert succeeded.mean_time_to_goal == pytest.approx((0.1 + 0.2 + 0.4) / 3)
    assert succeeded.path_length_ratio == pytest.approx(1.0)
    assert not succeeded.deadlock  # parked agents at their goal are not deadlocked
    assert succeeded.min_distance == pytest.approx(1.0)
    assert succeeded.safety_modes["NOMINAL"] == 4 * 3 and succeeded.steps == 4


def test_collisions_count_contact_starts_per_pair_and_obstacle():
    touching = run(CONFIG).episode(1)
    assert touching.agent_collisions == 2  # touch, stay touching, part, touch again
    assert touching.obstacle_collisions == 1
    assert touching.collisions == 3
    assert touching.agents["collisions"] == [2, 2, 1]
    assert touching.min_distance == pytest.approx(0.3)
    assert touching.min_obstacle_gap == pytest.approx(0.1)
    assert touching.agents["deadlocked"] == [True, False, False]


def test_deadlock_needs_the_full_stall_time():
    # Agent 2 of env 0 stalls for 4 ticks = 0.4 s: a deadlock at 0.4 s, not at 0.5 s.
    assert run(CONFIG).episode(0).agents["deadlocked"][2]
    longer = MetricsConfig(dt=0.1, goal_tolerance=0.1, deadlock_speed=0.05, deadlock_time=0.5)
    assert not run(longer).episode(0).agents["deadlocked"][2]


def test_frozen_environments_are_not_updated():
    tracker = run(CONFIG, running=torch.tensor([True, False, True]))
    frozen = tracker.episode(1)
    assert frozen.steps == 0 and frozen.collisions == 0 and frozen.min_distance is None


def test_summary_aggregates_episodes():
    tracker = run(CONFIG)
    summary = summarize([tracker.episode(env) for env in range(3)], per_agent=True)
    assert summary["episodes"] == 3
    assert summary["success_rate"] == pytest.approx(1 / 3)
    assert summary["collisions"] == 3
    assert summary["deadlock_rate"] == pytest.approx(2 / 3)
    assert summary["makespan"] == pytest.approx(0.4)  # mean over successful episodes only
    assert summary["min_distance"] == pytest.approx(0.3)
    assert summary["arrived_fraction"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert summary["per_episode"]["success"] == [False, False, True]
    assert summary["per_episode"]["collisions"] == [0, 3, 0]
    assert len(summary["agents"]) == 3
    with pytest.raises(ValueError, match="at least one finished episode"):
        summarize([])


def test_config_is_validated():
    with pytest.raises(ValueError, match="deadlock_time: expected a positive number"):
        MetricsConfig(dt=0.1, goal_tolerance=0.1, deadlock_time=0)
    assert MetricsConfig(dt=0.1, goal_tolerance=0.1, deadlock_time=5.0).deadlock_steps == 50
