"""Saving and loading: exact round trip, clear refusals, nothing executable."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from fleetpilot.flow.modeling_flow import FlowPolicy
from fleetpilot.flow.modeling_gaussian import GaussianPolicy
from fleetpilot.flow.registry import load_policy, make_config, make_policy


@pytest.mark.parametrize("type_name", ["gaussian", "flow", "diffusion"])
def test_round_trip_reproduces_outputs(tmp_path, type_name):
    config = make_config(type_name, obs_dim=3, action_dim=2, horizon=4, hidden_dims=(32,))
    policy = make_policy(type_name, config)
    policy.save_pretrained(tmp_path, metadata={"note": "test"})
    loaded = load_policy(tmp_path)
    assert type(loaded) is type(policy) and loaded.config == config
    assert loaded.metadata == {"note": "test"}
    obs = torch.randn(5, 3)
    expected = policy.predict_action_chunk(obs, generator=torch.Generator().manual_seed(0))
    actual = loaded.predict_action_chunk(obs, generator=torch.Generator().manual_seed(0))
    assert torch.equal(expected, actual)
    card = (tmp_path / "README.md").read_text()
    assert type_name in card


def test_custom_model_card_is_written(tmp_path):
    policy = make_policy("flow", make_config("flow", obs_dim=2, action_dim=2))
    policy.save_pretrained(tmp_path, model_card="# My card\n")
    assert (tmp_path / "README.md").read_text() == "# My card\n"


def test_mismatched_weight_shapes_are_named(tmp_path):
    policy = make_policy("flow", make_config("flow", obs_dim=2, action_dim=2, hidden_dims=(8,)))
    policy.save_pretrained(tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document["config"]["hidden_dims"] = [16]
    (tmp_path / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"field\.mlp\.0\.weight: shape \(8, 20\)"):
        load_policy(tmp_path)


def test_missing_and_unexpected_weights_are_named(tmp_path):
    policy = make_policy("flow", make_config("flow", obs_dim=2, action_dim=2, hidden_dims=(8,)))
    policy.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    weights["extra"] = weights.pop("field.mlp.2.bias")
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"missing field\.mlp\.2\.bias; unexpected extra"):
        load_policy(tmp_path)


def test_invalid_config_value_names_field_and_value(tmp_path):
    policy = make_policy("flow", make_config("flow", obs_dim=2, action_dim=2))
    policy.save_pretrained(tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document["config"]["num_flow_steps"] = 0
    (tmp_path / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"num_flow_steps must be >= 1, got 0"):
        load_policy(tmp_path)
    document["config"]["num_flow_steps"] = 4
    document["config"]["surprise"] = 1
    (tmp_path / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"no field\(s\) \['surprise'\]"):
        load_policy(tmp_path)


def test_loading_as_the_wrong_class_is_refused(tmp_path):
    make_policy("flow", make_config("flow", obs_dim=2, action_dim=2)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds a 'flow' policy, not 'gaussian'"):
        GaussianPolicy.from_pretrained(tmp_path)
    assert isinstance(FlowPolicy.from_pretrained(tmp_path), FlowPolicy)


def test_a_folder_without_weights_is_refused(tmp_path):
    make_policy("flow", make_config("flow", obs_dim=2, action_dim=2)).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_policy(tmp_path)


def test_unknown_policy_type_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown policy type 'vae'; known: \['diffusion'"):
        make_config("vae", obs_dim=1, action_dim=1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_action_steps", 5, r"n_action_steps \(5\) must be <= horizon \(4\)"),
        ("device", "tpu", r"device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
        ("integrator", "rk45", r"integrator must be one of \['euler', 'midpoint'\], got 'rk45'"),
        ("action_noise_std", -1.0, r"action_noise_std must be >= 0, got -1.0"),
    ],
)
def test_config_errors_name_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_config("flow", obs_dim=2, action_dim=2, horizon=4, **{field: value})
