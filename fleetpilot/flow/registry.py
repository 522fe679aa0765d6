"""Policies by type name: build from a config, or load any saved policy folder."""

from __future__ import annotations

import importlib
from pathlib import Path

from fleetpilot.flow.configuration_common import PolicyConfig
from fleetpilot.flow.pretrained import PreTrainedPolicy, read_config_document

# type name -> (module, policy class, config class); imported on first use.
POLICY_TYPES: dict[str, tuple[str, str, str]] = {
    "gaussian": ("fleetpilot.flow.modeling_gaussian", "GaussianPolicy", "GaussianPolicyConfig"),
    "flow": ("fleetpilot.flow.modeling_flow", "FlowPolicy", "FlowPolicyConfig"),
    "diffusion": (
        "fleetpilot.flow.modeling_diffusion",
        "DiffusionPolicy",
        "DiffusionPolicyConfig",
    ),
    "expo": ("fleetpilot.flow.modeling_expo", "ExpoPolicy", "ExpoPolicyConfig"),
}
CONFIG_MODULES = {
    "gaussian": "fleetpilot.flow.configuration_gaussian",
    "flow": "fleetpilot.flow.configuration_flow",
    "diffusion": "fleetpilot.flow.configuration_diffusion",
    "expo": "fleetpilot.flow.configuration_expo",
}


def _check_type(type_name: str) -> None:
    if type_name not in POLICY_TYPES:
        raise ValueError(f"unknown policy type {type_name!r}; known: {sorted(POLICY_TYPES)}")


def policy_class(type_name: str) -> type[PreTrainedPolicy]:
    """The policy class registered under ``type_name``."""
    _check_type(type_name)
    module_name, class_name, _ = POLICY_TYPES[type_name]
    return getattr(importlib.import_module(module_name), class_name)


def make_config(type_name: str, **fields) -> PolicyConfig:
    """The config of ``type_name`` built (and validated) from keyword fields."""
    _check_type(type_name)
    config_class = getattr(
        importlib.import_module(CONFIG_MODULES[type_name]), POLICY_TYPES[type_name][2]
    )
    return config_class(**fields)


def make_policy(type_name: str, config: PolicyConfig) -> PreTrainedPolicy:
    """A freshly initialised policy of ``type_name``."""
    return policy_class(type_name)(config)


def load_policy(directory: str | Path, device: str | None = None) -> PreTrainedPolicy:
    """Loads any policy saved with ``save_pretrained`` (its type is read from config.json)."""
    document = read_config_document(directory)
    return policy_class(document["type"]).from_pretrained(directory, device=device)
