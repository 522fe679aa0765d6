"""A tiny-budget PPO run of the online CBF tuner: it completes, learns and saves a tuner."""

import argparse

import numpy as np
import pytest

from fleetpilot.envs import make_tuner
from fleetpilot.learn.train_cbf_tuner import Args, add_arguments, load_yaml_config, train

# Every rollout is one whole 1.6 s episode from reset, so iterations are comparable; the prior
# (a sideways bias) costs progress toward the goal, which PPO should learn to reduce.
TINY = dict(
    families="head_on_pair:2:8",
    iterations=10,
    num_steps=16,
    max_episode_seconds=1.6,
    learning_rate=1e-2,
    progress=False,
)
TINY_TUNER = {"init": {"alpha": 1.0, "gain": 1.0, "tangential": 0.5, "responsibility": 0.6}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cbf_tuner")
    args = Args(seed=3, output_dir=str(out / "policy"), runs_dir=str(out / "runs"), **TINY)
    return out, train(args, TINY_TUNER)


def test_tiny_training_improves_its_reward(tiny_run):
    _, summary = tiny_run
    rewards = [row["mean_reward"] for row in summary["history"]]
    assert len(rewards) == TINY["iterations"]
    assert np.mean(rewards[-3:]) > np.mean(rewards[:3])
    tangential = [row["mean_tangential"] for row in summary["history"]]
    assert tangential[-1] < tangential[0]


def test_tiny_training_writes_a_loadable_tuner_and_a_log(tiny_run):
    out, summary = tiny_run
    tuner = make_tuner(str(out / "policy"))
    assert tuner.action_parameters == ("alpha", "gain", "tangential")
    log = (out / "runs" / summary["run_name"] / "progress.csv").read_text().splitlines()
    assert log[0].startswith("iteration,") and len(log) == 1 + TINY["iterations"]


def test_yaml_config_sets_fields_and_rejects_unknown_ones(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    path = tmp_path / "train.yaml"
    path.write_text("iterations: 7\nnum_steps: 9\ntuner: {hidden: 16}\n")
    namespace = parser.parse_args(["--config", str(path), "--num-steps", "5"])
    args = Args(**vars(namespace))
    args, tuner = load_yaml_config(args)
    assert (args.iterations, args.num_steps, tuner) == (7, 5, {"hidden": 16})
    path.write_text("iterashuns: 7\n")
    with pytest.raises(ValueError, match="iterashuns: unknown field"):
        load_yaml_config(Args(config=str(path)))


def test_bad_families_are_rejected_by_name():
    with pytest.raises(ValueError, match="families: 'nowhere' is not a file in sim/scenarios/"):
        train(Args(families="nowhere:4:2", progress=False))


def test_reward_shaping_charges_stalls_and_sideways_bias_and_shares_with_the_team():
    import torch

    from fleetpilot.learn.train_cbf_tuner import shape_reward

    reward = torch.tensor([[1.0, 0.0, -1.0]])
    stalled = torch.tensor([[False, True, False]])
    sideways = torch.tensor([[0.5, 0.0, 0.0]])
    plain = Args(stall_penalty=0.0, tangential_cost=0.0, team_reward=0.0)
    assert torch.equal(shape_reward(reward, 0.1, stalled, sideways, plain), reward)
    costs = Args(stall_penalty=2.0, tangential_cost=4.0, team_reward=0.0)
    # 1 - 4 * 0.1 * 0.5 for the sideways agent, 0 - 2 * 0.1 for the stalled one.
    expected = torch.tensor([[0.8, -0.2, -1.0]])
    assert torch.allclose(shape_reward(reward, 0.1, stalled, sideways, costs), expected)
    assert torch.allclose(shape_reward(reward, 0.1, stalled, None, costs)[0, 0], reward[0, 0])
    team = Args(stall_penalty=2.0, tangential_cost=4.0, team_reward=0.5)
    shared = shape_reward(reward, 0.1, stalled, sideways, team)
    assert torch.allclose(shared, 0.5 * expected + 0.5 * expected.mean())
    assert torch.allclose(shared.sum(), expected.sum()), "sharing moves reward, adds none"


def test_sideways_bias_is_charged_to_travelling_agents_and_optionally_near_obstacles_only():
    import torch

    from fleetpilot.learn.train_cbf_tuner import charged_sideways

    tangential = torch.tensor([[-0.5, 0.25, 1.0]])
    arrived = torch.tensor([[False, False, True]])
    sees_obstacle = torch.tensor([[True, False, True]])
    everywhere = charged_sideways(tangential, arrived, sees_obstacle, near_obstacles_only=False)
    assert torch.equal(everywhere, torch.tensor([[0.5, 0.25, 0.0]]))
    near_walls = charged_sideways(tangential, arrived, sees_obstacle, near_obstacles_only=True)
    assert torch.equal(near_walls, torch.tensor([[0.5, 0.0, 0.0]]))
