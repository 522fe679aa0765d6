"""Export a saved policy's sampler to TorchScript and ONNX and check it against eager torch.

The exported graph maps ``(obs [B, obs_dim], noise [B, horizon * action_dim])`` to the action
chunk ``[B, horizon, action_dim]``; draw the noise from N(0, 1) yourself (zeros give the
Gaussian policy's mean). Exits 1 if an export disagrees with eager sampling beyond --atol.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, help="folder written by save_pretrained")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--formats", default="torchscript,onnx", help="comma-separated: torchscript, onnx"
    )
    parser.add_argument("--atol", type=float, default=1e-4, help="allowed max abs difference")


def main(args: argparse.Namespace) -> int:
    import torch

    from fleetpilot.flow.exporting import export_policy
    from fleetpilot.flow.registry import load_policy

    torch.set_num_threads(1)
    formats = tuple(name.strip() for name in args.formats.split(",") if name.strip())
    unknown = sorted(set(formats) - {"torchscript", "onnx"})
    if unknown:
        print(f"unknown format(s) {unknown}; use torchscript and/or onnx", file=sys.stderr)
        return 2
    policy = load_policy(args.policy, device="cpu")
    report = export_policy(policy, args.out, formats)
    print(json.dumps(report))
    worst = max(entry["max_abs_diff"] for entry in report["formats"].values())
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
