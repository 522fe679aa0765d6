"""Saved inputs and outputs of the shipped online CBF tuner (regression artifact).

Regenerate after retraining the shipped policy (and say so in the model card)::

    .venv/bin/python -m tests.safety.tuner_cases
"""

from pathlib import Path

import numpy as np

ARTIFACT = Path(__file__).parent / "artifacts" / "cbf_tuner_io.npz"
SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "cbf_tuner_gnn"


def saved_inputs() -> dict[str, np.ndarray]:
    """A 12-agent crowd near two obstacles, dense enough that most agents sense neighbours."""
    rng = np.random.default_rng(2023)
    return {
        "positions": rng.uniform(-2.0, 2.0, (12, 2)),
        "goals": rng.uniform(-4.0, 4.0, (12, 2)),
        "velocities": rng.uniform(-1.0, 1.0, (12, 2)),
        "obstacles": np.array([[0.5, 0.3, 0.4], [-1.0, 2.0, 0.3]]),
    }


def write_artifact() -> None:
    """Inputs, the mean outputs, and the first two ticks of the shipped (sampling) tuner."""
    from fleetpilot.envs import make_tuner
    from fleetpilot.safety.tuner import GnnTuner, load_net
    from tests.safety.test_tuner import observation

    inputs = saved_inputs()
    net = load_net(SHIPPED)
    obs = observation(
        **inputs, obstacle_rays=net.config.obstacle_rays, ray_range=net.config.obstacle_ray_range
    )
    mean_action, mean_shares = GnnTuner(net, sample=False)(obs)
    shipped = make_tuner(str(SHIPPED))
    first, second = shipped(obs), shipped(obs)
    np.savez(
        ARTIFACT,
        **inputs,
        mean_action=mean_action.numpy(),
        mean_responsibility=mean_shares.numpy(),
        action=np.stack([first[0].numpy(), second[0].numpy()]),
        responsibility=np.stack([first[1].numpy(), second[1].numpy()]),
    )


if __name__ == "__main__":
    write_artifact()
