"""MultiGoal environment dynamics, the gymnasium wrapper and the evaluation's goal shares."""

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from fleetpilot.envs.multigoal import (
    NO_GOAL,
    MultiGoalConfig,
    MultiGoalEnv,
    MultiGoalVecEnv,
    multigoal_step,
)
from fleetpilot.flow.multigoal_rollouts import evaluate_multigoal
from fleetpilot.flow.registry import make_config, make_policy


def test_goals_lie_evenly_on_the_circle():
    goals = MultiGoalConfig(num_goals=4, goal_distance=5.0).goals()
    np.testing.assert_allclose(goals, [[5, 0], [0, 5], [-5, 0], [0, -5]], atol=1e-12)


def test_step_clips_the_motion_charges_the_commanded_action_and_pays_the_goal():
    config = MultiGoalConfig()
    position = np.array([[3.5, 0.0], [0.0, 0.0]])
    action = np.array([[7.0, 0.0], [0.0, 0.0]])  # moves 1, costs 7^2
    next_position, reward, reached = multigoal_step(config, position, action)
    np.testing.assert_allclose(next_position[0], [4.5, 0.0])
    assert reached.tolist() == [0, NO_GOAL]
    assert reward[0] == pytest.approx(-1.0 * 0.5 - 0.1 * 49.0 + 10.0)
    assert reward[1] == pytest.approx(-1.0 * 5.0)


def test_vector_env_terminates_at_a_goal_and_truncates_at_the_time_limit():
    config = MultiGoalConfig(max_steps=6, init_noise_std=0.0)
    envs = MultiGoalVecEnv(config, num_envs=2, seed=0)
    envs.reset()
    actions = np.array([[0.0, -1.0], [0.0, 0.0]])  # the first walks to goal 3, the second idles
    for step in range(1, 7):
        obs, _, terminated, truncated, info = envs.step(actions)
        if step == 4:
            assert terminated.tolist() == [True, False]
            assert info["goal_index"][0] == 3
            np.testing.assert_allclose(info["final_obs"][0], [0.0, -4.0])
            np.testing.assert_allclose(obs[0], [0.0, 0.0])  # already reset
    assert truncated.tolist() == [False, True]
    assert info["episode_length"][1] == 6


def test_gymnasium_wrapper_passes_the_env_checker():
    check_env(MultiGoalEnv(), skip_render_check=True)


def test_config_errors_name_field_and_value():
    with pytest.raises(ValueError, match=r"goal_radius \(6.0\) must be < goal_distance \(5.0\)"):
        MultiGoalConfig(goal_radius=6.0)
    with pytest.raises(ValueError, match="MultiGoalConfig.num_goals must be >= 1, got 0"):
        MultiGoalConfig(num_goals=0)


def constant_policy(direction):
    """A Gaussian policy whose mean is ``direction`` everywhere and whose std is tiny."""
    config = make_config("gaussian", obs_dim=2, action_dim=2, hidden_dims=(4,), init_log_std=-9)
    policy = make_policy("gaussian", config)
    with torch.no_grad():
        last = policy.mean_net[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor(direction))
    return policy


def test_evaluation_counts_where_episodes_end():
    config = MultiGoalConfig()
    result = evaluate_multigoal(constant_policy([0.0, 1.0]), config, episodes=50, seed=0)
    assert result["goal_shares"] == [0.0, 1.0, 0.0, 0.0]
    assert result["modes_covered"] == 1 and result["success_rate"] == 1.0
    # Four unit steps up, then the goal: distances 4, 3, 2, 1 (about; starts are jittered).
    expected = -(4 + 3 + 2 + 1) - 4 * 0.1 + 10.0
    assert result["return"] == pytest.approx(expected, abs=0.3)
    stuck = evaluate_multigoal(constant_policy([0.0, 0.0]), config, episodes=10, seed=0)
    assert stuck["goal_shares"] == [0.0] * 4 and stuck["mean_length"] == config.max_steps


def test_expert_demonstrations_reach_every_goal_equally_often():
    from fleetpilot.envs.multigoal import generate_demonstrations

    config = MultiGoalConfig()
    obs, action = generate_demonstrations(config, episodes=400, seed=0)
    assert obs.shape == action.shape and obs.shape[1] == 2
    assert np.linalg.norm(action, axis=1).max() <= config.max_action + 1e-6
    first_steps = action[np.linalg.norm(obs, axis=1) < 0.5]
    nearest = np.argmax(first_steps @ config.goals().T, axis=1)
    shares = np.bincount(nearest, minlength=4) / len(nearest)
    assert shares.min() > 0.18, shares


def test_cloned_flow_policy_keeps_the_demonstrations_modes():
    from fleetpilot.envs.multigoal import generate_demonstrations
    from fleetpilot.flow.imitation import behaviour_cloning

    torch.manual_seed(0)
    config = MultiGoalConfig()
    obs, action = generate_demonstrations(config, episodes=256, seed=0)
    policy = make_policy(
        "flow", make_config("flow", obs_dim=2, action_dim=2, hidden_dims=(64, 64))
    )
    losses = behaviour_cloning(
        policy,
        torch.as_tensor(obs),
        torch.as_tensor(action),
        iterations=800,
        generator=torch.Generator().manual_seed(0),
    )
    assert np.mean(losses[-50:]) < 0.7 * np.mean(losses[:50])
    first = policy.predict_action_chunk(torch.zeros(1000, 2), torch.Generator().manual_seed(1))
    nearest = (first[:, 0].numpy() @ config.goals().T).argmax(axis=1)
    shares = np.bincount(nearest, minlength=4) / 1000
    assert shares.min() > 0.12, shares
