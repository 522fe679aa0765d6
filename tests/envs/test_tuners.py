"""Tuner specs: fixed settings parse and validate; directories need a registered kind."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from fleetpilot.envs.tuners import FixedTuner, make_tuner


def test_fixed_tuner_parses_and_acts_on_every_agent():
    tuner = make_tuner("fixed:gain=2,alpha=0.5")
    assert isinstance(tuner, FixedTuner)
    assert tuner.action_parameters == ("alpha", "gain")  # registry order
    graphs = [Data(x=torch.zeros(4, 10), edge_index=torch.zeros((2, 0), dtype=torch.long))] * 3
    action = tuner(Batch.from_data_list(graphs))
    assert action.shape == (3, 4, 2)
    assert torch.all(action[..., 0] == 0.5) and torch.all(action[..., 1] == 2.0)
    assert tuner.describe() == "fixed:gain=2,alpha=0.5"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fixed:alpha=1,gain", "expected name=value pairs"),
        ("fixed:alpha=one", "alpha: expected a number, got 'one'"),
        ("fixed:alpha=50", r"alpha: expected a value in \[0.05, 10\], got 50.0"),
        ("fixed:beta=1", "expected one of alpha, gain, tangential"),
        ("fixed:alpha=1,alpha=2", "expected unique parameter names"),
        ("learned:model", "expected fixed:... or a tuner directory"),
    ],
)
def test_bad_specs_are_explained(spec, message):
    with pytest.raises(ValueError, match=message):
        make_tuner(spec)


def test_directories_need_a_manifest_with_a_registered_kind(tmp_path):
    with pytest.raises(ValueError, match="expected a tuner directory with tuner.yaml"):
        make_tuner(str(tmp_path))
    (tmp_path / "tuner.yaml").write_text("kind: crystal_ball\n")
    with pytest.raises(ValueError, match="kind: expected a registered tuner kind"):
        make_tuner(str(tmp_path))
