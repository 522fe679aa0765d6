"""The shipped learned tuner inside one robot's safety node: every robot draws its own noise.

In a symmetric encounter each robot sees the same thing; if their tuners also drew the same
noise, the noise could not break the symmetry (a six-robot circle swap over ROS stood still).
"""

import numpy as np
import torch

from fleetpilot.agent_states import AgentStates
from fleetpilot.ros.learned_tuning import LearnedTunerAdapter
from fleetpilot.ros.robot_safety import RobotSafetyConfig, RobotSafetyLoop
from fleetpilot.ros.tuning import make_tuner_adapter, robot_noise_seed
from fleetpilot.safety import SafetyMode
from fleetpilot.safety.scan_obstacles import ScanReduction
from tests.ros.fleet_watch import ROOT
from tests.safety.test_scan_obstacles import GEOMETRY as SCAN_GEOMETRY
from tests.safety.test_scan_obstacles import wall_scan

SHIPPED = str(ROOT / "policies" / "cbf_tuner_gnn")


def one_neighbour_ahead() -> AgentStates:
    """A robot 1 m ahead, heading back at us: what each robot of a head-on pair sees."""
    return AgentStates(
        ("other",),
        np.array([[1.0, 0.0]]),
        np.array([np.pi]),
        np.array([[-0.5, 0.0]]),
        np.array([0.2]),
        np.zeros(1),
    )


def ticks(seed, count=5) -> list[tuple[float, float, float]]:
    adapter = make_tuner_adapter(SHIPPED, noise_seed=seed)
    config = RobotSafetyConfig(robot_id="any")
    pose, velocity, goal = np.zeros(3), np.array([0.5, 0.0]), np.array([4.0, 0.0])
    out = []
    for _ in range(count):
        p = adapter.parameters(pose, velocity, goal, one_neighbour_ahead(), config)
        out.append((p.alpha, p.gain, p.tangential))
    return out


def test_robots_in_the_same_situation_draw_different_noise():
    first, second = ticks(robot_noise_seed("robot_0")), ticks(robot_noise_seed("robot_1"))
    assert not np.allclose(first, second)
    assert np.all(np.isfinite(first)) and np.all(np.isfinite(second))


def test_a_robot_repeats_its_own_noise_and_none_keeps_the_policy_seed():
    assert ticks(robot_noise_seed("robot_0")) == ticks(robot_noise_seed("robot_0"))
    assert ticks(None) == ticks(0)  # the shipped tuner.yaml says noise_seed: 0


def test_robot_seeds_are_stable_and_distinct():
    seeds = [robot_noise_seed(f"robot_{i}") for i in range(64)]
    assert len(set(seeds)) == 64
    assert robot_noise_seed("robot_0") == robot_noise_seed("robot_0")


def test_the_adapter_moves_the_learned_tuner_to_its_device():
    adapter = make_tuner_adapter(SHIPPED, device="cpu")
    assert next(adapter.tuner.net.parameters()).device.type == "cpu"
    # Only a CPU is here: "meta" (shapes, no data) shows that .to really moves the network.
    assert adapter.tuner.to("meta") is adapter.tuner
    assert {p.device.type for p in adapter.tuner.net.parameters()} == {"meta"}


def test_graph_builders_are_kept_per_team_size_and_build_what_a_fresh_one_builds():
    adapter = make_tuner_adapter(SHIPPED)
    config = RobotSafetyConfig(robot_id="any")
    pose, velocity, goal = np.zeros(3), np.array([0.5, 0.0]), np.array([4.0, 0.0])
    two = AgentStates(
        ("ahead", "left"),
        np.array([[1.0, 0.0], [0.0, 1.2]]),
        np.array([np.pi, 0.0]),
        np.array([[-0.5, 0.0], [0.3, 0.0]]),
        np.array([0.2, 0.2]),
        np.zeros(2),
    )
    first = adapter.observation(
        pose, velocity, goal, one_neighbour_ahead(), config, config.obstacles
    )
    adapter.observation(pose, velocity, goal, two, config, config.obstacles)
    again = adapter.observation(
        pose, velocity, goal, one_neighbour_ahead(), config, config.obstacles
    )
    assert set(adapter._builders) == {(2, config.sensing_radius), (3, config.sensing_radius)}
    fresh = make_tuner_adapter(SHIPPED).observation(
        pose, velocity, goal, one_neighbour_ahead(), config, config.obstacles
    )
    for batch in (first, again):
        assert torch.equal(batch.x, fresh.x) and torch.equal(batch.edge_index, fresh.edge_index)
        assert torch.equal(batch.edge_attr, fresh.edge_attr)


class RecordingAdapter(LearnedTunerAdapter):
    """The shipped tuner, keeping the last observation it read."""

    def observation(self, *args):
        self.last = super().observation(*args)
        return self.last


def goal_ray_range(scan_reduction, ranges=None) -> float:
    """Free range toward the goal (ray 0) in metres in the tuner's observation of a robot with
    no map, facing a wall 1 m ahead that its lidar (if any) sees (``ranges``: the scan's
    ranges, default the clean wall)."""
    config = RobotSafetyConfig(robot_id="me", scan=scan_reduction)
    adapter = RecordingAdapter(SHIPPED, torch.device("cpu"))
    loop = RobotSafetyLoop(config, adapter)
    loop.set_odometry(0.0, np.zeros(3), np.zeros(2))
    loop.set_neighbours(0.0, AgentStates.empty())
    loop.set_nominal(0.0, np.array([0.5, 0.0]))
    loop.set_goal(np.array([4.0, 0.0]))
    if scan_reduction is not None:
        loop.set_scan(0.0, wall_scan(1.0) if ranges is None else ranges, SCAN_GEOMETRY)
    decision = loop.tick(0.0)
    assert decision.mode != SafetyMode.STOPPED
    tuned = decision.parameters
    assert all(np.isfinite([tuned.alpha, tuned.gain, tuned.tangential]))
    reach = adapter.tuner.config.obstacle_ray_range or config.sensing_radius
    column = adapter.tuner.config.node_features.index("free_range_0")
    return float(adapter.last.x[0, column]) * reach


def test_the_tuner_scans_the_walls_its_lidar_sees_without_a_map():
    # No map, no lidar: nothing within the scan's reach.
    reach = goal_ray_range(None)
    assert reach == make_tuner_adapter(SHIPPED).tuner.config.obstacle_ray_range
    # The wall's surface is 1 m ahead, the scan's discs a little nearer (range noise margin).
    assert 0.7 <= goal_ray_range(ScanReduction(max_range=2.0)) <= 1.0


def test_invalid_lidar_beams_do_not_reach_the_tuner_scan():
    """NaN, negative and out-of-range beams are dropped with the scan's discs: the wall the
    valid beams see is still in the tuner's scan, and its parameters stay finite."""
    ranges = wall_scan(1.0)
    ranges[::3] = np.nan
    ranges[1::7] = -1.0
    ranges[2::11] = 1e6
    assert 0.7 <= goal_ray_range(ScanReduction(max_range=2.0), ranges) <= 1.0
