"""Exporting a policy's sampler to TorchScript and ONNX, checked against eager outputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from fleetpilot.flow.export_modules import example_inputs, sampling_module
from fleetpilot.flow.pretrained import PreTrainedPolicy

TORCHSCRIPT_FILE = "policy.torchscript.pt"
ONNX_FILE = "policy.onnx"
REPORT_FILE = "export.json"
INPUT_NAMES = ["obs", "noise"]
OUTPUT_NAMES = ["chunk"]


def export_torchscript(policy: PreTrainedPolicy, path: str | Path) -> torch.jit.ScriptModule:
    """Traces the sampler (step loops unrolled) and saves it; returns the traced module."""
    module = sampling_module(policy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is in maintenance mode; tracing still works
        traced = torch.jit.trace(module, example_inputs(policy, batch=2))
        torch.jit.save(traced, str(path))
    return traced


def export_onnx(policy: PreTrainedPolicy, path: str | Path, opset: int = 17) -> None:
    """Writes the sampler as ONNX with a dynamic batch dimension (for onnxruntime/TensorRT).

    Raises:
        ImportError: if the ``onnx`` package is missing.
    """
    import onnx  # noqa: F401  (the exporter needs it; fail early with a clear message)

    module = sampling_module(policy)
    batch_axis = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example_inputs(policy, batch=2),
            str(path),
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes={name: batch_axis for name in INPUT_NAMES + OUTPUT_NAMES},
            opset_version=opset,
            dynamo=False,  # the tracing exporter: no onnxscript needed, seconds faster
        )


def onnx_outputs(path: str | Path, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Runs an exported ONNX sampler with onnxruntime on CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"obs": obs.cpu().numpy(), "noise": noise.cpu().numpy()}
    return torch.from_numpy(session.run(None, feeds)[0])


def export_policy(
    policy: PreTrainedPolicy,
    out_dir: str | Path,
    formats: tuple[str, ...] = ("torchscript", "onnx"),
    check_batch: int = 7,
    seed: int = 0,
) -> dict[str, Any]:
    """Exports ``policy`` in ``formats`` into ``out_dir`` and compares with eager sampling.

    The comparison uses a batch size different from the one traced, so a baked-in batch size
    would show up as an error.

    Returns:
        The report written to ``export.json``: files and max absolute difference per format.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    policy = policy.eval()
    obs, noise = example_inputs(policy, batch=check_batch, seed=seed)
    with torch.no_grad():
        eager = sampling_module(policy)(obs, noise).cpu()
    report: dict[str, Any] = {
        "type": policy.type_name,
        "inputs": {
            "obs": ["batch", policy.config.obs_dim],
            "noise": ["batch", policy.config.chunk_dim],
        },
        "output": {"chunk": ["batch", policy.config.horizon, policy.config.action_dim]},
        "formats": {},
    }
    if "torchscript" in formats:
        traced = export_torchscript(policy, out_dir / TORCHSCRIPT_FILE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.jit.load(str(out_dir / TORCHSCRIPT_FILE))
        with torch.no_grad():
            difference = (loaded(obs, noise).cpu() - eager).abs().max().item()
        del traced
        report["formats"]["torchscript"] = {"file": TORCHSCRIPT_FILE, "max_abs_diff": difference}
    if "onnx" in formats:
        export_onnx(policy, out_dir / ONNX_FILE)
        difference = (onnx_outputs(out_dir / ONNX_FILE, obs, noise) - eager).abs().max().item()
        report["formats"]["onnx"] = {"file": ONNX_FILE, "max_abs_diff": difference}
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
