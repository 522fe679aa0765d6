"""The compiled GNN tuner equals the torch one: the same observation graph, the same network
outputs, and (through TunerStage) the same sampled parameters tick after tick."""

from pathlib import Path

import numpy as np
import pytest
import torch

from fleetpilot.envs import make_tuner
from fleetpilot.envs.graph import Geometry, NeighbourGraphBuilder, compute_geometry
from fleetpilot.safety.tuner import CbfTunerNet
from fleetpilot.safety.tuner_config import TunerConfig
from fleetpilot.safety.tuner_kernel import TunerKernel, _observe
from fleetpilot.sim.tuner_stage import TunerStage, obstacle_tensors

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "cbf_tuner_gnn"
SENSING = 2.0


def world(seed: int, robots: int, discs: int) -> dict[str, np.ndarray]:
    """A random fleet among discs, with the cases the graph treats specially: a robot on its
    goal (the frame's fallback axis), one far from everyone (no edge), one inside a disc."""
    rng = np.random.default_rng(seed)
    side = 1.5 * np.sqrt(robots) + 1.0
    positions = rng.uniform(-side, side, (robots, 2))
    goals = positions + rng.uniform(-6.0, 6.0, (robots, 2))
    goals[0] = positions[0]
    if robots > 2:
        positions[-1] = (40.0, 40.0)
    obstacles = np.column_stack(
        [rng.uniform(-side, side, (discs, 2)), rng.uniform(0.1, 0.8, discs)]
    )
    if discs and robots > 1:
        obstacles[0, :2] = positions[1] + 0.05  # robot 1's centre is inside disc 0
    return {
        "positions": positions,
        "velocities": rng.uniform(-1.0, 1.0, (robots, 2)),
        "headings": rng.uniform(-np.pi, np.pi, robots),
        "goals": goals,
        "arrived": rng.random(robots) < 0.2,
        "obstacles": obstacles,
    }


WORLDS = [(1, 1, 0), (2, 2, 3), (3, 9, 0), (4, 16, 56), (5, 31, 12), (6, 64, 20)]
"""(seed, robots, discs): one robot alone, no obstacles, the warehouse's 16 among 56 discs."""


def torch_observation(state: dict[str, np.ndarray], rays: int, ray_range: float):
    """The observation as TunerStage's torch path builds it (float64 geometry, float32 graph)."""
    positions = torch.tensor(state["positions"]).unsqueeze(0)
    obstacles, mask = obstacle_tensors(state["obstacles"])
    exact = compute_geometry(positions, obstacles, mask)
    builder = NeighbourGraphBuilder(
        1, len(positions[0]), SENSING, torch.device("cpu"), rays, ray_range
    )
    geometry = Geometry(
        exact.distances.float(), exact.obstacle_offsets.float(), exact.obstacle_gaps.float()
    )
    return builder(
        geometry,
        positions.float(),
        torch.tensor(state["velocities"], dtype=torch.float32).unsqueeze(0),
        torch.tensor(state["headings"], dtype=torch.float32).unsqueeze(0),
        torch.tensor(state["goals"], dtype=torch.float32).unsqueeze(0),
        torch.tensor(state["arrived"]).unsqueeze(0),
    )


@pytest.mark.parametrize("rays", [0, 16])
@pytest.mark.parametrize(("seed", "robots", "discs"), WORLDS)
def test_observation_equals_the_graph_builder(seed, robots, discs, rays):
    state = world(seed, robots, discs)
    expected = torch_observation(state, rays, 6.0)
    x, source, target, edge_attr = _observe(
        state["positions"],
        state["velocities"],
        state["headings"],
        state["goals"],
        state["arrived"],
        state["obstacles"],
        SENSING,
        6.0,
        rays,
    )
    assert torch.equal(torch.from_numpy(np.stack([source, target])), expected.edge_index)
    torch.testing.assert_close(torch.from_numpy(x), expected.x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.from_numpy(edge_attr), expected.edge_attr)
    if rays and discs and robots > 1:
        assert expected.x[1, 10:].sum() == 0  # the robot inside a disc is blocked on every ray


def sensitive_net(config: TunerConfig, seed: int) -> CbfTunerNet:
    """A network whose heads are not near-constant (a fresh one's last layers are scaled by
    0.01), so that a wrong input or weight shows in the outputs."""
    torch.manual_seed(seed)
    net = CbfTunerNet(config)
    with torch.no_grad():
        for head in (net.node_head, net.edge_head[-1]):
            head.weight.normal_(0.0, 0.5)
    return net.eval()


NETS = [
    TunerConfig(obstacle_rays=8, obstacle_ray_range=6.0),
    TunerConfig(node_outputs=("alpha",), per_neighbour_responsibility=False),
    TunerConfig(constant_outputs={"make_way": 2.0}, hidden=16, edge_hidden=8),
]


@pytest.mark.parametrize("config", NETS, ids=["rays", "no-shares", "small"])
def test_network_means_equal_the_torch_network(config):
    net = sensitive_net(config, seed=7)
    ray_range = config.obstacle_ray_range or SENSING
    kernel = TunerKernel(net, SENSING)
    means = []
    for seed, robots, discs in WORLDS:
        state = world(seed, robots, discs)
        node_mean, edge_mean, edge_index = kernel(**state)
        observation = torch_observation(state, config.obstacle_rays, ray_range)
        with torch.no_grad():
            expected = net(observation.x, observation.edge_index, observation.edge_attr)
        assert torch.equal(edge_index, observation.edge_index)
        torch.testing.assert_close(node_mean, expected.node_mean, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(edge_mean, expected.edge_mean, atol=1e-4, rtol=1e-4)
        means.append(node_mean)
    assert torch.cat(means).std() > 0.05  # the comparison is not between constants


def stage_run(compiled: bool, state: dict[str, np.ndarray], ticks: int) -> list[dict]:
    """``ticks`` calls of a TunerStage with the shipped (sampling) tuner on one state."""
    stage = TunerStage(
        make_tuner(str(SHIPPED)),
        len(state["positions"]),
        SENSING,
        state["obstacles"],
        noise_seed=3,
        compiled=compiled,
    )
    arguments = (
        torch.tensor(state["positions"]).unsqueeze(0),
        state["velocities"],
        state["headings"],
        torch.tensor(state["goals"]).unsqueeze(0),
        torch.tensor(state["arrived"]).unsqueeze(0),
    )
    return [stage(*arguments) for _ in range(ticks)]


@pytest.mark.parametrize(("seed", "robots", "discs"), WORLDS)
def test_stage_parameters_equal_the_torch_stage(seed, robots, discs):
    state = world(seed, robots, discs)
    compiled, eager = stage_run(True, state, 3), stage_run(False, state, 3)
    for got, want in zip(compiled, eager, strict=True):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], atol=2e-5, rtol=1e-5)
    # The noise stream advances: consecutive ticks of one state differ.
    assert not np.array_equal(compiled[0]["alpha"], compiled[1]["alpha"])


def with_value(array: np.ndarray, index: tuple, value: float) -> np.ndarray:
    changed = array.copy()
    changed[index] = value
    return changed


BAD_STATES = [
    ("positions", lambda a: with_value(a, (2, 1), np.nan), r"positions\[2, 1\]"),
    ("velocities", lambda a: with_value(a, (0, 0), np.inf), r"velocities\[0, 0\]"),
    ("headings", lambda a: a[:-1], "headings: expected shape"),
    ("goals", lambda a: a[:, :1], "goals: expected shape"),
    ("arrived", lambda a: a.astype(float), r"arrived: expected \(16,\) bool"),
    ("obstacles", lambda a: with_value(a, (1, 2), np.nan), r"obstacles\[1, 2\]"),
]


@pytest.mark.parametrize(
    ("field", "corrupt", "message"), BAD_STATES, ids=[b[0] for b in BAD_STATES]
)
def test_bad_state_is_refused_naming_the_field(field, corrupt, message):
    kernel = TunerKernel(
        CbfTunerNet(TunerConfig(obstacle_rays=8, obstacle_ray_range=6.0)), SENSING
    )
    state = world(4, 16, 5)
    state[field] = corrupt(state[field])
    with pytest.raises(ValueError, match=message):
        kernel(**state)
