"""save_pretrained / from_pretrained: round trip and clear refusals."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fleetpilot.allocation.model import TwoStageConfig
from fleetpilot.allocation.policy import CONFIG_FILE, WEIGHTS_FILE, TwoStagePolicy
from fleetpilot.allocation.static_instances import euclidean_instance


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(1)
    policy = TwoStagePolicy(TwoStageConfig(embed_dim=16, hidden_dim=32), metadata={"seed": 1})
    policy.save_pretrained(tmp_path)
    return policy, tmp_path


def test_round_trip_gives_identical_decisions(saved):
    policy, directory = saved
    loaded = TwoStagePolicy.from_pretrained(directory)
    assert loaded.model_config == policy.model_config
    assert loaded.metadata == {"seed": 1}
    cost = euclidean_instance(25, 25, 0)
    assert np.array_equal(loaded.score_matrix(cost), policy.score_matrix(cost))


def test_weights_with_wrong_shape_are_refused_by_name(saved):
    _, directory = saved
    state = load_file(str(directory / WEIGHTS_FILE))
    state["base_output"] = torch.zeros(3)
    save_file(state, str(directory / WEIGHTS_FILE))
    with pytest.raises(ValueError, match="base_output"):
        TwoStagePolicy.from_pretrained(directory)


def test_config_that_does_not_match_the_weights_is_refused(saved):
    _, directory = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["model"]["embed_dim"] = 32
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="shape"):
        TwoStagePolicy.from_pretrained(directory)
    config["model"]["unknown_field"] = 1
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="bad config"):
        TwoStagePolicy.from_pretrained(directory)
    config["format"] = "pickle"
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="format"):
        TwoStagePolicy.from_pretrained(directory)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
        TwoStagePolicy.from_pretrained(tmp_path / "nowhere")
