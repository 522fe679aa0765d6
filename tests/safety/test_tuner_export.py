"""The GNN CBF tuner's export: the export-friendly graph equals the eager network, and the
TorchScript and ONNX files agree with it on graphs of several sizes (dynamic robots and edges)."""

from pathlib import Path

import pytest
import torch

from fleetpilot.export.formats import (
    export_spec,
    load_torchscript,
    max_abs_difference,
    onnx_session,
    run_onnx,
)
from fleetpilot.safety.tuner import CbfTunerNet, load_net
from fleetpilot.safety.tuner_config import TunerConfig
from fleetpilot.safety.tuner_export import (
    INPUT_NAMES,
    TunerMeanGraph,
    eager_mean_outputs,
    random_graph,
    tuner_export_spec,
)

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "cbf_tuner_gnn"
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
SIZES = (1, 2, 5, 8, 23, 64)
"""Robot counts; none is the traced count of 5 except one, and 1 has no edge at all."""


@pytest.fixture(scope="module")
def shipped_net() -> CbfTunerNet:
    return load_net(SHIPPED)


def graphs(obstacle_rays: int | None = None):
    """Check graphs for a tuner with ``obstacle_rays`` (None: the shipped tuner's)."""
    rays = load_net(SHIPPED).config.obstacle_rays if obstacle_rays is None else obstacle_rays
    return [random_graph(size, seed=100 + size, obstacle_rays=rays) for size in SIZES]


def assert_agree(actual, expected):
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, **TOLERANCE)


def test_check_graphs_cover_isolated_robots_and_empty_edge_sets():
    for x, edge_index, edge_attr in graphs():
        incoming = torch.bincount(edge_index[1], minlength=x.shape[0])
        assert (incoming == 0).any()  # a robot with no neighbour
        assert edge_attr.shape[0] == edge_index.shape[1]
    assert graphs()[0][1].shape == (2, 0)


def test_export_graph_equals_the_eager_network(shipped_net):
    module = TunerMeanGraph(shipped_net)
    with torch.no_grad():
        for graph in graphs():
            assert_agree(module(*graph), eager_mean_outputs(shipped_net, *graph))


def test_isolated_robot_outputs_do_not_depend_on_the_others(shipped_net):
    """Its pooled messages are zero (not -inf from the max's start value)."""
    module = TunerMeanGraph(shipped_net)
    x, edge_index, edge_attr = random_graph(
        8, seed=3, obstacle_rays=shipped_net.config.obstacle_rays
    )
    alone = x[-1:].clone()
    with torch.no_grad():
        in_crowd = module(x, edge_index, edge_attr)[0][-1]
        by_itself = module(alone, edge_index[:, :0], edge_attr[:0])[0][0]
    assert torch.isfinite(in_crowd).all()
    torch.testing.assert_close(in_crowd, by_itself, **TOLERANCE)


def test_torchscript_and_onnx_agree_with_eager_on_unseen_sizes(tmp_path, shipped_net):
    pytest.importorskip("onnx", reason="onnx is an optional export dependency")
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional export dependency")
    report = export_spec(tuner_export_spec(shipped_net), tmp_path)
    assert report["formats"]["torchscript"]["max_abs_diff"] < 1e-5
    assert report["formats"]["onnx"]["max_abs_diff"] < 1e-5
    scripted = load_torchscript(tmp_path / "tuner.torchscript.pt")
    session = onnx_session(tmp_path / "tuner.onnx")
    for graph in graphs():
        expected = eager_mean_outputs(shipped_net, *graph)
        with torch.no_grad():
            assert_agree(scripted(*graph), expected)
        assert_agree(run_onnx(session, INPUT_NAMES, graph), expected)


def test_tuner_without_responsibility_exports_node_outputs_only(tmp_path):
    torch.manual_seed(0)
    net = CbfTunerNet(TunerConfig(node_outputs=("alpha",), per_neighbour_responsibility=False))
    report = export_spec(tuner_export_spec(net), tmp_path, formats=("torchscript",))
    assert report["outputs"]["params"] == ["robots", 1]
    assert report["formats"]["torchscript"]["max_abs_diff"] < 1e-5
    params, shares = load_torchscript(tmp_path / "tuner.torchscript.pt")(*random_graph(6, 1))
    assert params.shape == (6, 1)
    assert max_abs_difference([shares], [torch.zeros_like(shares)]) == 0.0


def test_constant_outputs_follow_the_robot_count_in_traced_exports(tmp_path):
    torch.manual_seed(0)
    net = CbfTunerNet(TunerConfig(constant_outputs={"make_way": 2.0}))
    report = export_spec(tuner_export_spec(net), tmp_path, formats=("torchscript",))
    assert report["outputs"]["params"] == ["robots", 4]
    scripted = load_torchscript(tmp_path / "tuner.torchscript.pt")
    for graph in graphs(obstacle_rays=0):
        with torch.no_grad():
            params, _ = scripted(*graph)
        assert params.shape == (graph[0].shape[0], 4) and torch.all(params[:, 3] == 2.0)
        assert_agree(scripted(*graph), eager_mean_outputs(net, *graph))


def test_a_tuner_with_obstacle_rays_exports_its_scan_inputs(tmp_path):
    torch.manual_seed(0)
    net = CbfTunerNet(TunerConfig(obstacle_rays=8)).eval()
    report = export_spec(tuner_export_spec(net), tmp_path, formats=("torchscript",))
    assert report["inputs"]["x"] == ["robots", 18]
    assert report["formats"]["torchscript"]["max_abs_diff"] < 1e-5
    scripted = load_torchscript(tmp_path / "tuner.torchscript.pt")
    graph = random_graph(7, seed=2, obstacle_rays=8)
    assert graph[0].shape == (7, 18)
    assert_agree(scripted(*graph), eager_mean_outputs(net, *graph))
