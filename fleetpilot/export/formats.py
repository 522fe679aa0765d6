"""Writing a plain-tensor module as TorchScript and ONNX and checking both against eager torch.

The exported files are loaded back and run on inputs the trace never saw (other batch, robot and
edge counts), so a size baked into the graph shows up as a mismatch or an error, not on the
robot.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMATS = ("torchscript", "onnx")
REPORT_FILE = "export.json"

Inputs = tuple[torch.Tensor, ...]


@dataclass
class ExportSpec:
    """What to export and how to check it.

    Attributes:
        module: eval-mode module mapping ``input_names`` tensors to ``output_names`` tensors.
        stem: file name stem (``<stem>.torchscript.pt``, ``<stem>.onnx``).
        input_names: ONNX input names, in ``forward``'s argument order.
        output_names: ONNX output names, in the order ``forward`` returns them.
        dynamic_axes: name -> {axis: symbolic size name} for every input and output.
        trace_inputs: example inputs the graph is traced with.
        check_inputs: input tuples to compare exported and eager outputs on.
        opset: ONNX opset version.
        reference: the eager model the exports must agree with, called like ``module``; None:
            ``module`` itself. Set it when ``module`` re-implements the model for export, so
            the reported difference covers the re-implementation too.
        onnx_symbolics: ``"aten::op"`` -> ONNX symbolic function registered for this export only
            (where the exporter's own translation is missing or needlessly complex).
        description: extra report fields (type, input and output shapes).
    """

    module: nn.Module
    stem: str
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    trace_inputs: Inputs
    check_inputs: list[Inputs]
    opset: int = 17
    reference: Callable[..., Any] | None = None
    onnx_symbolics: dict[str, Callable[..., Any]] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)

    def torchscript_file(self) -> str:
        return f"{self.stem}.torchscript.pt"

    def onnx_file(self) -> str:
        return f"{self.stem}.onnx"


def as_tuple(outputs: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """A module's output(s) as a tuple (single-output modules return a bare tensor)."""
    return (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)


def max_abs_difference(actual: Sequence[torch.Tensor], expected: Sequence[torch.Tensor]) -> float:
    """Largest absolute difference over every output; inf when a shape differs."""
    worst = 0.0
    for got, want in zip(actual, expected, strict=True):
        if got.shape != want.shape:
            return float("inf")
        if want.numel():
            worst = max(worst, (got.detach().cpu() - want.detach().cpu()).abs().max().item())
    return worst


def save_torchscript(module: nn.Module, example: Inputs, path: str | Path) -> None:
    """Traces ``module`` on ``example`` (Python loops unrolled) and saves it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is in maintenance mode; tracing still works
        traced = torch.jit.trace(module, example)
        torch.jit.save(traced, str(path))


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path))


def save_onnx(spec: ExportSpec, path: str | Path) -> None:
    """Writes ``spec.module`` as ONNX with its dynamic axes (for onnxruntime and TensorRT).

    Raises:
        ImportError: if the ``onnx`` package is missing.
    """
    import onnx  # noqa: F401  (the exporter needs it; fail early with a clear message)

    for name, symbolic in spec.onnx_symbolics.items():
        torch.onnx.register_custom_op_symbolic(name, symbolic, spec.opset)
    try:
        _export_onnx(spec, path)
    finally:
        for name in spec.onnx_symbolics:
            torch.onnx.unregister_custom_op_symbolic(name, spec.opset)


def _export_onnx(spec: ExportSpec, path: str | Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            spec.module,
            spec.trace_inputs,
            str(path),
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_axes=spec.dynamic_axes,
            opset_version=spec.opset,
            dynamo=False,  # the tracing exporter: no onnxscript needed, seconds faster
        )


def onnx_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session on ``threads`` threads (one, like a robot's control loop)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def run_onnx(session, names: Sequence[str], inputs: Inputs) -> tuple[torch.Tensor, ...]:
    """Runs an onnxruntime session on torch inputs; returns torch outputs."""
    feeds = {
        name: tensor.detach().cpu().numpy() for name, tensor in zip(names, inputs, strict=True)
    }
    return tuple(torch.from_numpy(array) for array in session.run(None, feeds))


def export_spec(
    spec: ExportSpec, out_dir: str | Path, formats: Sequence[str] = FORMATS
) -> dict[str, Any]:
    """Writes ``spec`` in ``formats`` into ``out_dir`` and compares with eager outputs.

    Returns:
        The report also written to ``export.json``: ``spec.description``, then per format the
        file and the max absolute difference from the eager reference over every check input.

    Raises:
        ValueError: naming an unknown format.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"formats: expected some of {list(FORMATS)}, got {unknown}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = spec.module.eval()
    reference = spec.reference or module
    with torch.no_grad():
        eager = [as_tuple(reference(*inputs)) for inputs in spec.check_inputs]
    report: dict[str, Any] = {**spec.description, "formats": {}}
    if "torchscript" in formats:
        path = out_dir / spec.torchscript_file()
        save_torchscript(module, spec.trace_inputs, path)
        loaded = load_torchscript(path)
        with torch.no_grad():
            difference = max(
                max_abs_difference(as_tuple(loaded(*inputs)), expected)
                for inputs, expected in zip(spec.check_inputs, eager, strict=True)
            )
        report["formats"]["torchscript"] = {"file": path.name, "max_abs_diff": difference}
    if "onnx" in formats:
        path = out_dir / spec.onnx_file()
        save_onnx(spec, path)
        session = onnx_session(path)
        difference = max(
            max_abs_difference(run_onnx(session, spec.input_names, inputs), expected)
            for inputs, expected in zip(spec.check_inputs, eager, strict=True)
        )
        report["formats"]["onnx"] = {"file": path.name, "max_abs_diff": difference}
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
