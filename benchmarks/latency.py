"""Per-action inference latency of the policies vs the number of ODE / DDIM steps, and per-call
latency of the shipped GNN CBF tuner and Follower networks, eager vs their exports.

One command; CPU always (one thread, batch 1, as on a robot's control loop), CUDA fp32/fp16
when a GPU is present. Every policy figure is also given as a ratio to the Gaussian MLP measured
in the same run, every network figure as a ratio to its eager torch call, so results from a busy
or different machine stay comparable::

    python benchmarks/latency.py                      # full: 3 seeds x 300 timed calls
    python benchmarks/latency.py --quick              # smoke: 1 seed x 20 calls
    python benchmarks/latency.py --sections networks  # only the tuner and Follower

Networks (``policies/cbf_tuner_gnn`` at 8/16/64 robots, ``policies/follower`` at 64 agents):
eager torch, the traced TorchScript file and onnxruntime (one intra-op thread) on the same
inputs; the Follower also with the numba kernel it is deployed with. Tuner graphs come from the
environment's neighbour-graph builder (sensing radius 2 m, 4-6 neighbours per robot); each
seed draws a new graph.

Writes ``latency.json`` and ``latency.md`` into ``--out`` (default ``out/bench``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.export.formats import (  # noqa: E402
    load_torchscript,
    onnx_session,
    run_onnx,
    save_onnx,
    save_torchscript,
)
from fleetpilot.flow.export_modules import example_inputs, sampling_module  # noqa: E402
from fleetpilot.flow.registry import make_config, make_policy  # noqa: E402
from fleetpilot.mapf.follower_export import (  # noqa: E402
    follower_export_spec,
    random_observations,
)
from fleetpilot.mapf.follower_policy import FollowerPolicy  # noqa: E402
from fleetpilot.safety.tuner import load_net  # noqa: E402
from fleetpilot.safety.tuner_export import (  # noqa: E402
    eager_mean_outputs,
    random_graph,
    tuner_export_spec,
)

# A navigation-sized policy: ego state + 8 neighbours x 4 features, 2-D velocity command.
SHAPE = {"obs_dim": 40, "action_dim": 2, "hidden_dims": (256, 256)}
STEPS = (1, 2, 4, 8, 16)
SECTIONS = ("policies", "networks")
TUNER_DIR = ROOT / "policies" / "cbf_tuner_gnn"
FOLLOWER_DIR = ROOT / "policies" / "follower"
TUNER_ROBOTS = (8, 16, 64)
FOLLOWER_AGENTS = 64


def settings(quick: bool) -> list[tuple[str, str, dict]]:
    """``(label, policy type, extra config)`` of every measured setting; the first is the base."""
    steps = (1, 4, 16) if quick else STEPS
    rows = [("gaussian MLP", "gaussian", {"sample_at_inference": False})]
    rows += [(f"flow euler {k}", "flow", {"num_flow_steps": k}) for k in steps]
    rows += [
        ("flow midpoint 2 (4 evals)", "flow", {"num_flow_steps": 2, "integrator": "midpoint"})
    ]
    rows += [(f"diffusion DDIM {k}", "diffusion", {"num_inference_steps": k}) for k in steps]
    rows += [
        (
            "flow euler 16, chunk 16/8 (per action)",
            "flow",
            {"num_flow_steps": 16, "horizon": 16, "n_action_steps": 8},
        ),
    ]
    return rows


def time_calls(function, calls: int, warmup: int, synchronize) -> list[float]:
    for _ in range(warmup):
        function()
    synchronize()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        synchronize()
        samples.append(time.perf_counter() - start)
    return samples


def time_interleaved(functions: dict, calls: int, warmup: int) -> dict[str, list[float]]:
    """Times every function once per round, round after round, so that all of them see the
    same background load (on a shared machine the load drifts within seconds)."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(calls):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return samples


def measure(type_name, extra, seed, device, dtype, calls, warmup, compiled):
    torch.manual_seed(seed)
    policy = make_policy(type_name, make_config(type_name, device=device, **SHAPE, **extra))
    module = sampling_module(policy).to(dtype)
    obs, noise = example_inputs(policy, batch=1, seed=seed)
    obs, noise = obs.to(dtype), noise.to(dtype)
    if compiled:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.trace(module, (obs, noise))
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.inference_mode():
        samples = time_calls(lambda: module(obs, noise), calls, warmup, synchronize)
    per_action = extra.get("n_action_steps", 1)
    return [sample / per_action for sample in samples]


def onnxruntime_version() -> str | None:
    """onnxruntime's version, None when it or the ``onnx`` exporter dependency is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def run_policies(seeds: list[int], calls: int, warmup: int, quick: bool) -> dict:
    """Per-action latency of the flow / diffusion / Gaussian samplers (CPU, and CUDA if any)."""
    targets = [
        ("cpu", torch.float32, False, "cpu fp32 eager"),
        ("cpu", torch.float32, True, "cpu fp32 TorchScript"),
    ]
    if torch.cuda.is_available():
        targets += [
            ("cuda", torch.float32, False, "cuda fp32 eager"),
            ("cuda", torch.float16, False, "cuda fp16 eager"),
        ]
    results = []
    for device, dtype, compiled, target in targets:
        base = None
        for label, type_name, extra in settings(quick):
            medians = []
            for seed in seeds:
                samples = measure(type_name, extra, seed, device, dtype, calls, warmup, compiled)
                medians.append(statistics.median(samples) * 1e3)
            median = statistics.median(medians)
            base = median if base is None else base
            results.append(
                {
                    "target": target,
                    "setting": label,
                    "median_ms": median,
                    "seed_medians_ms": medians,
                    "ratio_to_gaussian": median / base,
                }
            )
    return {"results": results}


def exported_callables(spec, folder: Path) -> dict[str, object]:
    """``{"TorchScript": f, "ONNX Runtime": f}``, each called like ``spec.module``.

    ONNX Runtime is left out when onnx or onnxruntime is not installed (optional dependencies).
    """
    save_torchscript(spec.module, spec.trace_inputs, folder / spec.torchscript_file())
    runtimes = {"TorchScript": load_torchscript(folder / spec.torchscript_file())}
    if onnxruntime_version() is None:
        return runtimes
    save_onnx(spec, folder / spec.onnx_file())
    session = onnx_session(folder / spec.onnx_file(), threads=1)
    runtimes["ONNX Runtime"] = lambda *inputs: run_onnx(session, spec.input_names, inputs)
    return runtimes


def network_cases(seed: int, folder: Path) -> list[tuple[str, str, dict[str, object], tuple]]:
    """``(network, size, {runtime: callable}, inputs)`` for every network setting of a seed."""
    cases = []
    net = load_net(TUNER_DIR)
    spec = tuner_export_spec(net)
    runtimes = {"eager": lambda *graph: eager_mean_outputs(net, *graph)}
    runtimes.update(exported_callables(spec, folder))
    for robots in TUNER_ROBOTS:
        graph = random_graph(
            robots, seed=seed * 1000 + robots, isolated=0, obstacle_rays=net.config.obstacle_rays
        )
        cases.append(("GNN CBF tuner (mean)", f"{robots} robots", runtimes, graph))
    policy = FollowerPolicy.from_pretrained(FOLLOWER_DIR)
    spec = follower_export_spec(policy.net)
    runtimes = {
        "eager": lambda obs: policy.net(obs)[0],
        "numba (deployed)": lambda obs: policy.logits(obs.numpy()),
    }
    runtimes.update(exported_callables(spec, folder))
    obs = random_observations(policy.net, FOLLOWER_AGENTS, seed=seed)
    cases.append(("Follower", f"{FOLLOWER_AGENTS} agents", runtimes, (obs,)))
    return cases


def run_networks(seeds: list[int], calls: int, warmup: int) -> list[dict]:
    """Per-call CPU latency of the tuner and Follower: eager, TorchScript, ONNX Runtime."""
    medians: dict[tuple[str, str, str], list[float]] = {}
    edges: dict[tuple[str, str], list[int]] = {}
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for seed in seeds:
            for network, size, runtimes, inputs in network_cases(seed, Path(folder)):
                if len(inputs) == 3:  # a tuner graph: its edge count changes with the seed
                    edges.setdefault((network, size), []).append(int(inputs[1].shape[1]))
                calls_by_runtime = {
                    runtime: functools.partial(function, *inputs)
                    for runtime, function in runtimes.items()
                }
                timed = time_interleaved(calls_by_runtime, calls, warmup)
                for runtime, samples in timed.items():
                    key = (network, size, runtime)
                    medians.setdefault(key, []).append(statistics.median(samples) * 1e3)
    rows = []
    for (network, size, runtime), values in medians.items():
        eager = statistics.median(medians[(network, size, "eager")])
        median = statistics.median(values)
        rows.append(
            {
                "network": network,
                "size": size,
                "runtime": runtime,
                "median_ms": median,
                "seed_medians_ms": values,
                "ratio_to_eager": median / eager,
                "edges_per_seed": edges.get((network, size)),
            }
        )
    return rows


def run(quick: bool, sections: tuple[str, ...] = SECTIONS) -> dict:
    torch.set_num_threads(1)
    seeds = [0] if quick else [0, 1, 2]
    calls, warmup = (20, 5) if quick else (300, 30)
    report = (
        run_policies(seeds, calls, warmup, quick) if "policies" in sections else {"results": []}
    )
    report["networks"] = run_networks(seeds, calls, warmup) if "networks" in sections else []
    report.update(
        {
            "date": date.today().isoformat(),
            "machine": platform.platform(),
            "cpu_threads": torch.get_num_threads(),
            "load_average": list(os.getloadavg()),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "shape": {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in SHAPE.items()
            },
            "seeds": seeds,
            "calls_per_seed": calls,
            "quick": quick,
            "sections": list(sections),
        }
    )
    return report


def markdown(report: dict) -> str:
    load = ", ".join(f"{value:.1f}" for value in report["load_average"])
    lines = [
        f"({report['date']}, torch {report['torch']}, onnxruntime {report['onnxruntime']}, "
        f"{report['cpu_threads']} CPU thread, CUDA: {report['cuda'] or 'not available'}; "
        f"median over {len(report['seeds'])} seed(s) of the median of "
        f"{report['calls_per_seed']} calls; load average at the end {load}).",
    ]
    if report["results"]:
        lines += [
            "",
            "Latency per action, batch 1:",
            "",
            "| target | setting | median ms | x Gaussian MLP |",
            "| --- | --- | ---: | ---: |",
        ]
        for row in report["results"]:
            lines.append(
                f"| {row['target']} | {row['setting']} | {row['median_ms']:.3f} | "
                f"{row['ratio_to_gaussian']:.1f} |"
            )
    if report["networks"]:
        lines += [
            "",
            "Latency per call, CPU fp32, one thread:",
            "",
            "| network | size | runtime | median ms | x eager |",
            "| --- | --- | --- | ---: | ---: |",
        ]
        for row in report["networks"]:
            size = row["size"]
            if row["edges_per_seed"]:
                size += f" ({'/'.join(str(count) for count in row['edges_per_seed'])} edges)"
            lines.append(
                f"| {row['network']} | {size} | {row['runtime']} | "
                f"{row['median_ms']:.3f} | {row['ratio_to_eager']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, few calls")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="output folder")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="comma-separated: policies (flow/diffusion samplers), networks (tuner, Follower)",
    )
    args = parser.parse_args()
    sections = tuple(name.strip() for name in args.sections.split(",") if name.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        parser.error(f"--sections: expected some of {list(SECTIONS)}, got {args.sections!r}")
    report = run(args.quick, sections)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "latency.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
