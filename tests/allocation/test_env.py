"""Dynamic environment accounting on hand-checked cases."""

import numpy as np
import pytest

from fleetpilot.allocation.env import AllocationEnv, EnvConfig, make_env_config


def handmade_env(spatial: bool = False, **overrides) -> AllocationEnv:
    """Three robots and one queued task (plus later arrivals) with hand-set numbers."""
    settings = dict(
        n_robots=3,
        n_active=2,
        queue_size=2,
        initial_tasks=1,
        task_rate=0.1,
        episode_steps=30,
        service_steps=10,
        deadline_steps=5,
    )
    settings.update(overrides)
    config = make_env_config("pickup" if spatial else "capability", **settings)
    env = AllocationEnv(config, batch_size=1)
    env.reset(0)
    env.capabilities = np.array([[[1.0, 0, 0], [0.5, 0, 0], [0, 1.0, 0]]])
    env.cost_rate = np.array([[0.1, 0.2, 0.3]])
    env.robot_position = np.array([[[0.0, 0.0], [0.5, 0.0], [1.0, 1.0]]])
    n_tasks = config.n_tasks_total
    env.task_requirement = np.tile([1.5, 0.0, 0.0], (1, n_tasks, 1))
    env.task_value = np.full((1, n_tasks), 3.0)
    env.task_pickup = np.tile([0.0, 0.3], (1, n_tasks, 1))
    env.task_dropoff = np.tile([0.4, 0.3], (1, n_tasks, 1))
    return env


def test_coalition_reward_is_value_minus_member_costs_and_members_get_busy():
    env = handmade_env()
    obs = env.observe()
    assert obs.task_valid.tolist() == [[True, False]]
    # Robot 2 lacks the required capability; robots 0 and 1 together cover 1.5.
    assert obs.eligible[0, :, 0].tolist() == [True, True, False]
    obs, reward, _ = env.step(obs, np.array([[0, 0, -1]]))
    assert reward[0] == pytest.approx(3.0 - (0.1 + 0.2) * 10)
    assert env.totals["done"][0] == 1 and env.totals["cost"][0] == pytest.approx(3.0)
    assert obs.robot_free.tolist() == [[False, False, True]]
    for _ in range(9):
        obs, _, _ = env.step(obs, np.full((1, 3), -1))
    assert obs.robot_free.tolist() == [[True, True, True]]  # busy exactly 10 steps


def test_incomplete_coalition_is_ignored_and_robot_stays_free():
    env = handmade_env()
    obs = env.observe()
    obs, reward, _ = env.step(obs, np.array([[0, -1, -1]]))  # 1.0 < 1.5
    assert reward[0] == 0.0 and env.totals["ignored"][0] == 1
    assert obs.robot_free[0, 0] and obs.task_valid[0, 0]


def test_robot_lacking_capability_is_refused():
    env = handmade_env()
    with pytest.raises(ValueError, match="robot 2"):
        env.step(env.observe(), np.array([[0, 0, 0]]))


def test_deadline_expires_unserved_tasks_and_full_queue_drops_arrivals():
    env = handmade_env()
    obs, idle = env.observe(), np.full((1, 3), -1)
    for _ in range(6):  # deadline is arrival (0) + 5: gone after step 5
        obs, _, _ = env.step(obs, idle)
    assert env.totals["expired"][0] == 1
    # Arrivals every 10 steps with a 5-step deadline never fill a queue of 2.
    assert env.totals["dropped"][0] == 0
    crowded = handmade_env(task_rate=2.0, deadline_steps=50)
    obs = crowded.observe()
    obs, _, _ = crowded.step(obs, idle)
    assert (crowded.task_status == 1).sum() == 2  # queue_size
    assert crowded.totals["dropped"][0] == 1  # 1 initial + 2 arrivals, room for 2


def test_spatial_cost_counts_travel_and_robot_ends_at_dropoff():
    env = handmade_env(spatial=True, speed=0.1, deadline_steps=10)
    obs = env.observe()
    # Robot 2 lacks the capability; robots 0 and 1 reach the pickup in 3 and ~5.8 steps.
    to_pickup = np.array([0.3, np.hypot(0.5, 0.3)]) / 0.1
    carry = 0.4 / 0.1
    expected_cost = 0.1 * (to_pickup[0] + carry + 10) + 0.2 * (to_pickup[1] + carry + 10)
    assert obs.member_cost[0, :2, 0].sum() == pytest.approx(expected_cost)
    obs, reward, _ = env.step(obs, np.array([[0, 0, -1]]))
    assert reward[0] == pytest.approx(3.0 - expected_cost)
    assert env.robot_position[0, :2].tolist() == [[0.4, 0.3], [0.4, 0.3]]
    assert env.busy_until[0, 0] == np.ceil(to_pickup[0] + carry + 10)


def test_spatial_robot_that_cannot_reach_pickup_by_deadline_is_not_eligible():
    env = handmade_env(spatial=True, speed=0.07)  # robot 0: 4.3 steps, robot 1: 8.3 > 5
    obs = env.observe()
    assert obs.eligible[0, :, 0].tolist() == [True, False, False]


def test_same_seed_same_instances_and_groups_share_one_instance():
    config = make_env_config("capability", n_robots=10)
    first, second = AllocationEnv(config, 4), AllocationEnv(config, 4)
    a, b = first.reset(5), second.reset(5)
    assert np.array_equal(a.capabilities, b.capabilities)
    assert np.array_equal(first.task_value, second.task_value)
    assert not np.array_equal(a.capabilities[0], a.capabilities[1])
    grouped = AllocationEnv(config, 4).reset(5, group_size=2)
    assert np.array_equal(grouped.capabilities[0], grouped.capabilities[1])
    assert not np.array_equal(grouped.capabilities[1], grouped.capabilities[2])


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="n_robots"):
        EnvConfig(n_robots=0)
    with pytest.raises(ValueError, match="n_active"):
        EnvConfig(n_active=40, queue_size=30)
    with pytest.raises(ValueError, match="unknown env family"):
        make_env_config("warehouse")


def test_more_slots_than_tasks_in_the_episode_leaves_empty_slots():
    config = make_env_config(
        "capability", n_robots=4, n_active=20, initial_tasks=2, episode_steps=5
    )  # 2 + 1 tasks in total
    env = AllocationEnv(config, batch_size=2)
    obs = env.reset(0)
    assert obs.task_valid.shape == (2, 20)
    assert obs.task_valid.sum(1).tolist() == [2, 2]
    obs, _, _ = env.step(obs, np.full((2, 4), -1))
    assert obs.member_cost.shape == (2, 4, 20)
