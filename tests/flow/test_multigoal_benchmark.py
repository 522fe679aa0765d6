"""The MultiGoal benchmark's summary: shortfalls against the right Gaussian and the targets."""

import pytest

from tests.benchmark_scripts import load_benchmark


def row(policy, seed, ret, shares):
    return {
        "policy": policy,
        "seed": seed,
        "return": ret,
        "goal_shares": shares,
        "modes_covered": sum(share >= 0.15 for share in shares),
        "every_goal_15pct": min(shares) >= 0.15,
        "train_seconds": 1.0,
        "bc_only": None,
        "return_mean_action": -0.7 if policy == "gaussian" else None,
    }


def test_variants_without_a_twin_are_compared_with_plain_gaussian_ppo():
    bench = load_benchmark("multigoal")
    spread = [0.25, 0.25, 0.25, 0.25]
    rows = [
        row("gaussian", 1, -1.0, [1.0, 0.0, 0.0, 0.0]),
        row("gaussian", 2, -1.0, [0.0, 1.0, 0.0, 0.0]),
        row("flow+bc slow+demo, held z", 1, -1.05, spread),
        row("flow+bc slow+demo, held z", 2, -1.13, [0.4, 0.3, 0.2, 0.1]),
        row("flow+bc slow+demo+wide, held z", 1, -1.3, spread),
        row("flow+bc slow+demo+wide, held z", 2, -1.3, spread),
    ]
    variants = [
        (label, overrides)
        for label, overrides in bench.VARIANTS
        if label in {"gaussian", "flow+bc slow+demo, held z", "flow+bc slow+demo+wide, held z"}
    ]
    report = bench.summarise(rows, [1, 2], 1024, 10, variants)
    held, wide = "flow+bc slow+demo, held z", "flow+bc slow+demo+wide, held z"
    assert report["flow_return_reference"] == {held: "gaussian", wide: "gaussian"}
    assert report["flow_return_shortfall_vs_gaussian_twin"][held] == pytest.approx(0.09)
    assert report["targets"][held] == {
        "every_goal_15pct_all_seeds": False,
        "return_within_10pct": True,
    }
    assert report["targets"][wide] == {
        "every_goal_15pct_all_seeds": True,
        "return_within_10pct": False,
    }
    table = bench.markdown(report)
    assert "shortfall vs gaussian 30.0%" in table
    assert "gaussian seed 1: return -1.000 sampled, -0.700 with its mean action" in table


def test_new_variants_act_with_held_truncated_noise():
    variants = dict(load_benchmark("multigoal").VARIANTS)
    fine = "flow+bc slow+demo+wide, held z, 8 steps"
    for label in ("flow+bc slow+demo, held z", "flow+bc slow+demo+wide, held z", fine):
        assert variants[label]["episode_noise"] is True
        assert variants[label]["noise_radius"] == 2.0
    assert variants["flow+bc slow+demo+wide, held z"]["train_start_std"] == 1.0
    assert variants[fine] == {**variants["flow+bc slow+demo+wide, held z"], "num_flow_steps": 8}
    # The earlier variants are kept unchanged, so the comparison stays.
    assert "episode_noise" not in variants["flow+bc slow+demo"]
