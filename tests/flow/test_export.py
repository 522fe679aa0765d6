"""Exported samplers (TorchScript, ONNX) agree with eager sampling; ``fleetpilot export``
dispatches on what the folder holds (flow policy, GNN CBF tuner, Follower)."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fleetpilot.export.folders import detect_kind
from fleetpilot.flow import export as export_command
from fleetpilot.flow.export_modules import example_inputs, sampling_module
from fleetpilot.flow.exporting import export_policy
from fleetpilot.flow.registry import make_config, make_policy

EXTRA = {
    "flow": {"integrator": "midpoint"},
    "diffusion": {"num_inference_steps": 4},
    "gaussian": {},
}


def small_policy(type_name):
    torch.manual_seed(0)
    config = make_config(
        type_name, obs_dim=3, action_dim=2, horizon=4, hidden_dims=(16,), **EXTRA[type_name]
    )
    return make_policy(type_name, config)


@pytest.mark.parametrize("type_name", ["gaussian", "flow", "diffusion"])
def test_sampler_module_matches_predict_action_chunk(type_name):
    policy = small_policy(type_name)
    obs, _ = example_inputs(policy, batch=5)
    generator = torch.Generator().manual_seed(3)
    expected = policy.predict_action_chunk(obs, generator=generator)
    # The policies draw their noise first, from the same generator state.
    noise = torch.randn(5, policy.config.chunk_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        actual = sampling_module(policy)(obs, noise)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("type_name", ["gaussian", "flow", "diffusion"])
def test_torchscript_export_agrees_with_eager(tmp_path, type_name):
    report = export_policy(small_policy(type_name), tmp_path, formats=("torchscript",))
    assert report["formats"]["torchscript"]["max_abs_diff"] < 1e-5
    assert (tmp_path / "policy.torchscript.pt").is_file()


@pytest.mark.parametrize("type_name", ["flow", "diffusion"])
def test_onnx_export_agrees_with_eager(tmp_path, type_name):
    pytest.importorskip("onnx", reason="onnx is an optional export dependency")
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional export dependency")
    report = export_policy(small_policy(type_name), tmp_path, formats=("onnx",))
    assert report["formats"]["onnx"]["max_abs_diff"] < 1e-5


def test_export_command_writes_files_and_a_report(tmp_path):
    policy_dir, out_dir = tmp_path / "policy", tmp_path / "out"
    small_policy("flow").save_pretrained(policy_dir)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetpilot.flow.export",
            "--policy",
            str(policy_dir),
            "--out",
            str(out_dir),
            "--formats",
            "torchscript",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (out_dir / "export.json").is_file()
    assert '"max_abs_diff"' in result.stdout


ROOT = Path(__file__).resolve().parents[2]


def run_export_command(policy_dir, out_dir, formats="torchscript,onnx", atol=1e-4):
    args = argparse.Namespace(policy=str(policy_dir), out=str(out_dir), formats=formats, atol=atol)
    return export_command.main(args)


@pytest.mark.parametrize(
    ("folder", "kind", "files"),
    [
        ("cbf_tuner_gnn", "cbf_tuner_gnn", ("tuner.torchscript.pt", "tuner.onnx")),
        ("follower", "follower", ("follower.torchscript.pt", "follower.onnx")),
        ("flow_multigoal", "flow", ("policy.torchscript.pt", "policy.onnx")),
    ],
)
def test_export_command_dispatches_on_what_the_folder_holds(tmp_path, capsys, folder, kind, files):
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional export dependency")
    assert run_export_command(ROOT / "policies" / folder, tmp_path) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["type"] == kind
    assert set(report["formats"]) == {"torchscript", "onnx"}
    assert all(entry["max_abs_diff"] < 1e-4 for entry in report["formats"].values())
    for name in (*files, "export.json"):
        assert (tmp_path / name).is_file()


def test_export_command_exits_1_above_the_tolerance(tmp_path, capsys):
    assert run_export_command(ROOT / "policies" / "follower", tmp_path, "torchscript", -1.0) == 1
    assert '"max_abs_diff"' in capsys.readouterr().out


def test_export_command_names_a_folder_without_a_recognisable_policy(tmp_path, capsys):
    assert run_export_command(tmp_path, tmp_path / "out") == 2
    assert f"--policy {tmp_path}: no recognisable policy" in capsys.readouterr().err
    (tmp_path / "tuner.yaml").write_text("kind: fixed_gains\n")
    with pytest.raises(
        ValueError, match="kind: expected 'cbf_tuner_gnn' to export, got 'fixed_gains'"
    ):
        detect_kind(tmp_path)
    (tmp_path / "tuner.yaml").unlink()
    (tmp_path / "config.json").write_text(json.dumps({"format": "other/1"}))
    with pytest.raises(ValueError, match="neither a flow policy"):
        detect_kind(tmp_path)


def test_a_follower_folder_with_the_previous_agents_field_is_recognised(tmp_path):
    from fleetpilot.mapf.follower_policy import FollowerNet, FollowerNetConfig, FollowerPolicy

    config = FollowerNetConfig(obs_radius=2, hidden=8, previous_agents=True)
    FollowerPolicy(FollowerNet(config)).save_pretrained(tmp_path)
    assert detect_kind(tmp_path) == "follower"
    (tmp_path / "config.json").write_text('{"obs_radius": 2, "hidden": 8, "colour": "red"}')
    with pytest.raises(ValueError, match="neither a flow policy"):
        detect_kind(tmp_path)
