"""Export a saved network to TorchScript and ONNX and check it against eager torch.

The folder may hold a flow/diffusion/Gaussian policy, the GNN CBF tuner (``tuner.yaml``) or the
Follower; what it holds decides the graph:

* policy: ``(obs [B, obs_dim], noise [B, horizon * action_dim]) -> chunk [B, horizon,
  action_dim]``; draw the noise from N(0, 1) yourself (zeros give the Gaussian policy's mean);
* tuner (mean policy): ``(x [N, 10], edge_index [2, E], edge_attr [E, 5]) -> (params [N, P],
  responsibility [E])``;
* Follower: ``obs [B, 2, 2r+1, 2r+1] -> logits [B, 5]``.

Prints the JSON report (also written to ``export.json``); exits 1 if an export disagrees with
eager torch beyond --atol, 2 on a bad argument or a folder with no recognisable policy.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        required=True,
        help="folder of a saved flow policy, GNN CBF tuner or Follower",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--formats", default="torchscript,onnx", help="comma-separated: torchscript, onnx"
    )
    parser.add_argument("--atol", type=float, default=1e-4, help="allowed max abs difference")


def main(args: argparse.Namespace) -> int:
    import torch

    from fleetpilot.export.folders import load_export_spec
    from fleetpilot.export.formats import FORMATS, export_spec

    torch.set_num_threads(1)
    formats = tuple(name.strip() for name in args.formats.split(",") if name.strip())
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        print(f"unknown format(s) {unknown}; use torchscript and/or onnx", file=sys.stderr)
        return 2
    try:
        spec = load_export_spec(args.policy)
    except ValueError as error:
        print(f"fleetpilot export: {error}", file=sys.stderr)
        return 2
    report = export_spec(spec, args.out, formats)
    print(json.dumps(report))
    worst = max(entry["max_abs_diff"] for entry in report["formats"].values())
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
