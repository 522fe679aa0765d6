"""Regression test of the shipped MultiGoal flow policy on saved inputs.

Regenerate the saved outputs (only after retraining the shipped policy on purpose)::

    python -m tests.flow.test_shipped_policy --regenerate
"""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from fleetpilot.envs.multigoal import MultiGoalConfig
from fleetpilot.flow.export_modules import sampling_module
from fleetpilot.flow.multigoal_rollouts import evaluate_multigoal
from fleetpilot.flow.registry import load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policies" / "flow_multigoal"
ARTIFACT = Path(__file__).with_name("artifacts") / "flow_multigoal_io.safetensors"


def saved_inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(2026)
    # Observations around the start (where the modes split) and across the arena.
    obs = torch.cat(
        [
            0.1 * torch.randn(32, 2, generator=generator),
            4.0 * torch.rand(32, 2, generator=generator) - 2.0,
        ]
    )
    noise = torch.randn(64, 2, generator=generator)
    return {"obs": obs, "noise": noise}


def test_shipped_policy_loads_and_reproduces_saved_outputs():
    policy = load_policy(POLICY_DIR, device="cpu")
    assert policy.type_name == "flow"
    assert (POLICY_DIR / "README.md").read_text().startswith("# MultiGoal flow policy")
    saved = load_file(str(ARTIFACT))
    with torch.no_grad():
        chunk = sampling_module(policy)(saved["obs"], saved["noise"])
    torch.testing.assert_close(chunk, saved["chunk"], atol=1e-5, rtol=1e-5)


def test_shipped_policy_reaches_goals_like_its_model_card_says():
    policy = load_policy(POLICY_DIR, device="cpu")
    config = MultiGoalConfig(**policy.metadata["env_config"])
    result = evaluate_multigoal(policy, config, episodes=200, seed=3)
    card = policy.metadata["evaluation"]
    assert result["success_rate"] >= 0.95
    assert abs(result["return"] - card["return"]) < 0.5


def regenerate() -> None:
    inputs = saved_inputs()
    policy = load_policy(POLICY_DIR, device="cpu")
    with torch.no_grad():
        chunk = sampling_module(policy)(inputs["obs"], inputs["noise"])
    ARTIFACT.parent.mkdir(exist_ok=True)
    save_file({**inputs, "chunk": chunk.contiguous()}, str(ARTIFACT))
    print(f"wrote {ARTIFACT}")


if __name__ == "__main__":
    if "--regenerate" not in sys.argv:
        pytest.main([__file__, "-q"])
    else:
        regenerate()
