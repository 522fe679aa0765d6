"""The Follower's export: TorchScript and ONNX logits agree with the eager network and give the
deployed policy's greedy actions, for any number of agents."""

from pathlib import Path

import numpy as np
import pytest
import torch

from fleetpilot.export.formats import export_spec, load_torchscript, onnx_session, run_onnx
from fleetpilot.mapf.follower_export import follower_export_spec, random_observations
from fleetpilot.mapf.follower_policy import FollowerPolicy

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "follower"
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
BATCHES = (1, 3, 64, 129)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnx", reason="onnx is an optional export dependency")
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional export dependency")
    policy = FollowerPolicy.from_pretrained(SHIPPED)
    out = tmp_path_factory.mktemp("follower_export")
    report = export_spec(follower_export_spec(policy.net), out)
    return policy, out, report


def test_report_differences_are_within_tolerance(exported):
    _, _, report = exported
    assert report["inputs"]["obs"] == ["agents", 3, 9, 9]  # two frames of agents
    for entry in report["formats"].values():
        assert entry["max_abs_diff"] < 1e-4  # logits are O(10): ~1e-5 relative


@pytest.mark.parametrize("batch", BATCHES)
def test_exported_logits_agree_with_eager(exported, batch):
    policy, out, _ = exported
    obs = random_observations(policy.net, batch, seed=batch)
    with torch.no_grad():
        expected = policy.net(obs)[0]
        torch.testing.assert_close(
            load_torchscript(out / "follower.torchscript.pt")(obs), expected, **TOLERANCE
        )
    (onnx_logits,) = run_onnx(onnx_session(out / "follower.onnx"), ["obs"], (obs,))
    torch.testing.assert_close(onnx_logits, expected, **TOLERANCE)


def test_onnx_logits_give_the_deployed_greedy_actions(exported):
    policy, out, _ = exported
    obs = random_observations(policy.net, 64, seed=7)
    mask = np.random.default_rng(0).random((64, 5)) < 0.8
    mask[:, 0] = True  # waiting is always valid
    (logits,) = run_onnx(onnx_session(out / "follower.onnx"), ["obs"], (obs,))
    actions = np.where(mask, logits.numpy(), -np.inf).argmax(axis=-1)
    np.testing.assert_array_equal(actions, policy.select_action(obs.numpy(), mask))


def test_a_previous_agents_follower_exports_its_three_channels(tmp_path):
    pytest.importorskip("onnx", reason="onnx is an optional export dependency")
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional export dependency")
    from fleetpilot.mapf.follower_policy import FollowerNet, FollowerNetConfig

    torch.manual_seed(0)
    net = FollowerNet(FollowerNetConfig(obs_radius=2, hidden=16, previous_agents=True)).eval()
    report = export_spec(follower_export_spec(net), tmp_path)
    assert report["inputs"]["obs"] == ["agents", 3, 5, 5]
    obs = random_observations(net, 7, seed=3)
    assert obs.shape == (7, 3, 5, 5) and obs[:, 2].sum() > 0
    (logits,) = run_onnx(onnx_session(tmp_path / "follower.onnx"), ["obs"], (obs,))
    with torch.no_grad():
        torch.testing.assert_close(logits, net(obs)[0], **TOLERANCE)
