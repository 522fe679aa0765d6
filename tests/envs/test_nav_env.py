"""The batched environment: hand-computed motion, seeded repeats, safety in every scenario."""

import math

import pytest
import torch

from fleetpilot.envs import NavEnv, NavEnvConfig
from fleetpilot.envs.evaluate import run_episodes
from fleetpilot.envs.graph import NODE_FEATURES
from fleetpilot.safety.status import SafetyMode
from fleetpilot.scenarios import load_scenario, parse_scenario
from tests.envs.shipped import SCENARIO_DIR, SHIPPED


def one_agent(dynamics="single_integrator", heading=0.0):
    return parse_scenario(
        {
            "name": "one",
            "dt": 0.1,
            "horizon": 10.0,
            "sensing_radius": 2.0,
            "arena": {"margin": 1.0},
            "robot": {"dynamics": dynamics, "max_speed": 1.0},
            "agents": [{"start": [0.0, 0.0], "goal": [2.0, 0.0], "heading": heading}],
        },
        "one-agent",
    )


def constant(env, **values):
    return env.action_layout.pack(values, env.num_envs, env.num_agents, env.dtype)


def test_lone_agent_arrives_when_computed_by_hand():
    env = NavEnv(NavEnvConfig(scenario=one_agent(), dtype="float64"))
    obs, _ = env.reset(seed=0)
    assert obs.x.shape == (1, len(NODE_FEATURES)) and obs.num_edges == 0
    action = constant(env, alpha=1.0, gain=1.0)
    # 10 saturated ticks of 0.1 m leave 1 m; then the gap shrinks by (1 - k dt) = 0.9 per
    # tick and first drops to the 0.1 m tolerance after 22 more (0.9^22 = 0.098): 32 ticks.
    total_reward, ticks = 0.0, 0
    while env.running.any():
        obs, reward, terminated, truncated, info = env.step(action)
        total_reward += reward.item()
        ticks += 1
        assert info["safety_status"].item() == SafetyMode.NOMINAL  # nothing to avoid
    assert ticks == 32 and terminated.item() and not truncated.item()
    metrics = info["final_metrics"][0]
    assert metrics.success and metrics.makespan == pytest.approx(3.2)
    assert metrics.path_length_ratio == pytest.approx((2 - 0.9**22) / 2)
    remaining = 0.9**22
    # progress (2 - remaining) + arrival 5 - time 0.1 per second not arrived (3.1 s).
    assert total_reward == pytest.approx((2 - remaining) + 5 - 0.1 * 3.1)


def test_arrived_agents_park():
    env = NavEnv(
        NavEnvConfig(scenario=load_scenario(SCENARIO_DIR / "head_on_pair.yaml"), num_envs=1)
    )
    env.reset(seed=0)
    action = constant(env, alpha=2.0, gain=2.0)
    parked = None
    while env.running.any():
        env.step(action)
        if parked is None and env.arrived[0].any():
            agent = int(env.arrived[0].float().argmax())
            parked = (agent, env.positions[0, agent].clone())
        elif parked is not None:
            assert torch.all(env.velocities[0, parked[0]] == 0)
            assert torch.equal(env.positions[0, parked[0]], parked[1])
    assert parked is not None


def test_unicycle_turns_around_and_arrives():
    env = NavEnv(NavEnvConfig(scenario=one_agent("unicycle", heading=math.pi)))
    metrics = run_episodes(env, lambda obs: constant(env, alpha=1.0, gain=1.0), seed=0)[0]
    assert metrics.success and metrics.makespan < 6.0
    assert env.headings[0, 0].abs().item() < math.pi / 2  # now facing (roughly) +x


def rollout(env, seed, ticks=15):
    generator = torch.Generator().manual_seed(99)
    obs, info = env.reset(seed=seed)
    trace = [(obs.x.clone(), obs.edge_index.clone(), obs.edge_attr.clone())]
    for _ in range(ticks):
        action = torch.rand(
            (env.num_envs, env.num_agents, 2), generator=generator, dtype=env.dtype
        ) * torch.tensor([4.0, 2.0]) + torch.tensor([0.5, 0.5])
        obs, reward, *_ = env.step(action)
        trace.append((obs.x.clone(), obs.edge_index.clone(), obs.edge_attr.clone(), reward))
    return info["layout_seeds"], trace


def same(trace_a, trace_b):
    return all(
        all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        for a, b in zip(trace_a, trace_b, strict=True)
    )


def test_reset_and_step_repeat_exactly_under_a_seed():
    config = NavEnvConfig(scenario=load_scenario(SCENARIO_DIR / "random_field.yaml"), num_envs=3)
    env, twin = NavEnv(config), NavEnv(config)
    seeds, first = rollout(env, seed=7)
    assert seeds == [(7, 0, 0), (7, 1, 0), (7, 2, 0)]
    assert same(first, rollout(twin, seed=7)[1])
    assert same(first, rollout(env, seed=7)[1])  # a seeded reset restarts the sequence
    assert not torch.equal(first[0][0], rollout(env, seed=8)[1][0][0])


def test_layouts_do_not_depend_on_the_batch_size():
    scenario = load_scenario(SCENARIO_DIR / "doorway.yaml")
    small = NavEnv(NavEnvConfig(scenario=scenario, num_envs=2))
    large = NavEnv(NavEnvConfig(scenario=scenario, num_envs=4))
    small.reset(seed=3)
    large.reset(seed=3)
    assert torch.equal(small.positions, large.positions[:2])
    assert not torch.equal(large.positions[0], large.positions[1])
    large.reset(seed=3, options={"layout_ids": [1, 1, 0, 0]})
    assert torch.equal(large.positions[0], small.positions[1])
    assert torch.equal(large.positions[2], small.positions[0])


def test_autoreset_restarts_finished_environments():
    scenario = load_scenario(SCENARIO_DIR / "random_field.yaml")
    env = NavEnv(NavEnvConfig(scenario=scenario, num_envs=2, max_steps=3, autoreset=True))
    env.reset(seed=0)
    action = constant(env, alpha=1.0, gain=1.0)
    for _ in range(2):
        _, _, terminated, truncated, info = env.step(action)
        assert not truncated.any() and not info["final_metrics"]
    _, _, terminated, truncated, info = env.step(action)
    assert truncated.all() and not terminated.any()
    assert sorted(info["final_metrics"]) == [0, 1]
    assert all(m.steps == 3 for m in info["final_metrics"].values())
    assert env.running.all() and env.layout_seeds == [(0, 0, 1), (0, 1, 1)]
    fresh = scenario.sample(seed=(0, 0, 1))
    torch.testing.assert_close(env.positions[0], torch.tensor(fresh.starts, dtype=env.dtype))
    assert env.episode_metrics(0).steps == 0
    assert info["final_observation"].num_graphs == 2


def test_finished_environments_freeze_until_reset():
    env = NavEnv(
        NavEnvConfig(
            scenario=load_scenario(SCENARIO_DIR / "head_on_pair.yaml"), num_envs=2, max_steps=4
        )
    )
    env.reset(seed=0)
    action = constant(env, alpha=1.0, gain=1.0)
    for _ in range(4):
        env.step(action)
    assert not env.running.any()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(action)


def test_configuration_and_actions_are_validated():
    scenario = load_scenario(SCENARIO_DIR / "head_on_pair.yaml")
    with pytest.raises(ValueError, match="num_envs: expected an integer >= 1, got 0"):
        NavEnvConfig(scenario=scenario, num_envs=0)
    with pytest.raises(ValueError, match=r"action_parameters.names\[0\]: expected one of"):
        NavEnvConfig(scenario=scenario, action_parameters=("speed",))
    env = NavEnv(NavEnvConfig(scenario=scenario, num_envs=2))
    assert env.action_space.shape == (2, 2, 2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action: expected shape \(B, N, 2\)"):
        env.step(torch.ones(2, 2, 3))
    mixed = parse_scenario(
        {
            "name": "mixed",
            "dt": 0.1,
            "horizon": 5.0,
            "sensing_radius": 2.0,
            "arena": {"margin": 1.0},
            "agents": [
                {"start": [0, 0], "goal": [1, 0]},
                {"start": [0, 1], "goal": [1, 1], "dynamics": "unicycle"},
            ],
        },
        "mixed",
    )
    with pytest.raises(ValueError, match=r"agents\[1\].dynamics: NavEnv runs one robot model"):
        NavEnv(NavEnvConfig(scenario=mixed))


COLLISION_CHECK_TICKS = 150


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_collisions_with_the_filter_in_any_shipped_scenario(path):
    scenario = load_scenario(path)
    horizon = math.ceil(scenario.horizon / scenario.dt)
    env = NavEnv(
        NavEnvConfig(scenario=scenario, num_envs=2, max_steps=min(horizon, COLLISION_CHECK_TICKS))
    )
    # A cautious setting and the most aggressive one the action bounds allow.
    low, high = env.action_layout.bounds()
    action = torch.tensor([[1.0, 1.0], high], dtype=env.dtype)[:, None, :]
    action = action.expand(-1, env.num_agents, -1)
    results = run_episodes(env, lambda obs: action, seed=0)
    for metrics in results:
        assert metrics.collisions == 0, metrics
        assert metrics.min_distance is None or metrics.min_distance >= env.safety_distance - 1e-4
        assert metrics.steps > 0
