"""Exporting a policy's sampler to TorchScript and ONNX, checked against eager outputs.

The writing and checking are shared with the other networks (:mod:`fleetpilot.export.formats`);
this module only describes the sampler graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fleetpilot.export.formats import (
    FORMATS,
    REPORT_FILE,
    ExportSpec,
    export_spec,
    load_torchscript,
    onnx_session,
    run_onnx,
    save_onnx,
    save_torchscript,
)
from fleetpilot.flow.export_modules import example_inputs, sampling_module
from fleetpilot.flow.pretrained import PreTrainedPolicy

TORCHSCRIPT_FILE = "policy.torchscript.pt"
ONNX_FILE = "policy.onnx"
INPUT_NAMES = ["obs", "noise"]
OUTPUT_NAMES = ["chunk"]
__all__ = [
    "ONNX_FILE",
    "REPORT_FILE",
    "TORCHSCRIPT_FILE",
    "export_onnx",
    "export_policy",
    "export_torchscript",
    "onnx_outputs",
    "policy_export_spec",
]


def policy_export_spec(
    policy: PreTrainedPolicy, check_batch: int = 7, seed: int = 0, opset: int = 17
) -> ExportSpec:
    """The sampler graph, traced at batch 2 and checked at ``check_batch``.

    The check uses a batch size different from the one traced, so a baked-in batch size would
    show up as an error.
    """
    policy = policy.eval()
    batch_axis = {0: "batch"}
    return ExportSpec(
        module=sampling_module(policy),
        stem="policy",
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        dynamic_axes={name: batch_axis for name in INPUT_NAMES + OUTPUT_NAMES},
        trace_inputs=example_inputs(policy, batch=2),
        check_inputs=[example_inputs(policy, batch=check_batch, seed=seed)],
        opset=opset,
        description={
            "type": policy.type_name,
            "inputs": {
                "obs": ["batch", policy.config.obs_dim],
                "noise": ["batch", policy.config.chunk_dim],
            },
            "output": {"chunk": ["batch", policy.config.horizon, policy.config.action_dim]},
        },
    )


def export_torchscript(policy: PreTrainedPolicy, path: str | Path) -> torch.jit.ScriptModule:
    """Traces the sampler (step loops unrolled) and saves it; returns the saved module."""
    spec = policy_export_spec(policy)
    save_torchscript(spec.module, spec.trace_inputs, path)
    return load_torchscript(path)


def export_onnx(policy: PreTrainedPolicy, path: str | Path, opset: int = 17) -> None:
    """Writes the sampler as ONNX with a dynamic batch dimension (for onnxruntime/TensorRT).

    Raises:
        ImportError: if the ``onnx`` package is missing.
    """
    save_onnx(policy_export_spec(policy, opset=opset), path)


def onnx_outputs(path: str | Path, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Runs an exported ONNX sampler with onnxruntime on CPU."""
    return run_onnx(onnx_session(path), INPUT_NAMES, (obs, noise))[0]


def export_policy(
    policy: PreTrainedPolicy,
    out_dir: str | Path,
    formats: tuple[str, ...] = FORMATS,
    check_batch: int = 7,
    seed: int = 0,
) -> dict[str, Any]:
    """Exports ``policy`` in ``formats`` into ``out_dir`` and compares with eager sampling.

    Returns:
        The report written to ``export.json``: files and max absolute difference per format.
    """
    return export_spec(policy_export_spec(policy, check_batch, seed), out_dir, formats)
