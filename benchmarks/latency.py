"""Per-action inference latency of the policies vs the number of ODE / DDIM steps.

One command; CPU always (one thread, batch 1, as on a robot's control loop), CUDA fp32/fp16
when a GPU is present. Every figure is also given as a ratio to the Gaussian MLP measured in the
same run, so results from a busy or different machine stay comparable::

    python benchmarks/latency.py            # full: 3 seeds x 300 timed calls per setting
    python benchmarks/latency.py --quick    # smoke: 1 seed x 20 calls

Writes ``latency.json`` and ``latency.md`` into ``--out`` (default ``out/bench``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetpilot.flow.export_modules import example_inputs, sampling_module  # noqa: E402
from fleetpilot.flow.registry import make_config, make_policy  # noqa: E402

# A navigation-sized policy: ego state + 8 neighbours x 4 features, 2-D velocity command.
SHAPE = {"obs_dim": 40, "action_dim": 2, "hidden_dims": (256, 256)}
STEPS = (1, 2, 4, 8, 16)


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


def run(quick: bool) -> dict:
    torch.set_num_threads(1)
    seeds = [0] if quick else [0, 1, 2]
    calls, warmup = (20, 5) if quick else (300, 30)
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
    return {
        "date": date.today().isoformat(),
        "machine": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "shape": {
            key: list(value) if isinstance(value, tuple) else value for key, value in SHAPE.items()
        },
        "seeds": seeds,
        "calls_per_seed": calls,
        "quick": quick,
        "results": results,
    }


def markdown(report: dict) -> str:
    lines = [
        f"Latency per action, batch 1 ({report['date']}, torch {report['torch']}, "
        f"{report['cpu_threads']} CPU thread, CUDA: {report['cuda'] or 'not available'}; "
        f"median over {len(report['seeds'])} seed(s) of the median of "
        f"{report['calls_per_seed']} calls).",
        "",
        "| target | setting | median ms | x Gaussian MLP |",
        "| --- | --- | ---: | ---: |",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['target']} | {row['setting']} | {row['median_ms']:.3f} | "
            f"{row['ratio_to_gaussian']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, few calls")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="output folder")
    args = parser.parse_args()
    report = run(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "latency.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
