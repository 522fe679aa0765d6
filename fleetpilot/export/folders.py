"""Which exportable network a saved folder holds, and its export specification.

* a flow-policy folder: ``config.json`` with ``"format": "fleetpilot.flow.policy/1"``;
* a GNN CBF tuner: ``tuner.yaml`` with ``kind: cbf_tuner_gnn``;
* a Follower: ``config.json`` with the Follower's fields (``obs_radius``, ``hidden``, optionally
  ``previous_agents``).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from fleetpilot.export.formats import ExportSpec

FLOW_POLICY = "flow_policy"
CBF_TUNER_GNN = "cbf_tuner_gnn"
FOLLOWER = "follower"
KINDS = (FLOW_POLICY, CBF_TUNER_GNN, FOLLOWER)

FLOW_FORMAT_PREFIX = "fleetpilot.flow.policy/"
FOLLOWER_FIELDS = {"obs_radius", "hidden"}
FOLLOWER_OPTIONAL_FIELDS = {"previous_agents"}


def detect_kind(directory: str | Path) -> str:
    """One of :data:`KINDS`, read from the folder's manifest (no weights are loaded).

    Raises:
        ValueError: naming the folder and what it holds instead (missing folder, no manifest,
            an unknown tuner ``kind`` or ``config.json`` ``format``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"--policy {directory}: not a folder")
    tuner_manifest = directory / "tuner.yaml"
    if tuner_manifest.is_file():
        data = yaml.safe_load(tuner_manifest.read_text(encoding="utf-8"))
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind != CBF_TUNER_GNN:
            raise ValueError(
                f"{tuner_manifest}: kind: expected {CBF_TUNER_GNN!r} to export, got {kind!r}"
            )
        return CBF_TUNER_GNN
    config = directory / "config.json"
    if config.is_file():
        document = json.loads(config.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"{config}: expected a JSON object, got {type(document).__name__}")
        if str(document.get("format", "")).startswith(FLOW_FORMAT_PREFIX):
            return FLOW_POLICY
        if FOLLOWER_FIELDS <= set(document) <= FOLLOWER_FIELDS | FOLLOWER_OPTIONAL_FIELDS:
            return FOLLOWER
        raise ValueError(
            f"{config}: neither a flow policy (format {document.get('format')!r}, expected "
            f"{FLOW_FORMAT_PREFIX}N) nor a Follower (fields {sorted(document)}, expected "
            f"{sorted(FOLLOWER_FIELDS)})"
        )
    raise ValueError(
        f"--policy {directory}: no recognisable policy (expected config.json of a flow policy "
        "or Follower, or tuner.yaml of a cbf_tuner_gnn)"
    )


def load_export_spec(directory: str | Path) -> ExportSpec:
    """The export specification of the network saved in ``directory`` (on CPU, eval mode)."""
    kind = detect_kind(directory)
    if kind == CBF_TUNER_GNN:
        from fleetpilot.safety.tuner import load_net
        from fleetpilot.safety.tuner_export import tuner_export_spec

        return tuner_export_spec(load_net(directory))
    if kind == FOLLOWER:
        from fleetpilot.mapf.follower_export import follower_export_spec
        from fleetpilot.mapf.follower_policy import FollowerPolicy

        return follower_export_spec(FollowerPolicy.from_pretrained(directory).net)
    from fleetpilot.flow.exporting import policy_export_spec
    from fleetpilot.flow.registry import load_policy

    return policy_export_spec(load_policy(directory, device="cpu"))
