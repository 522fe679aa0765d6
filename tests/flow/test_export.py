"""Exported samplers (TorchScript, ONNX) agree with eager sampling."""

import subprocess
import sys

import pytest
import torch

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
