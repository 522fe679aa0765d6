"""The filter's report: the slack the relaxation needed, and filtering a few agents among many
(what one robot's safety node does) giving exactly the rows of the full call."""

import numpy as np
import pytest

from fleetpilot.safety import SafetyMode, SingleIntegratorCBF, UnicycleCBF

D, DT, VMAX = 0.4, 0.05, 1.0


def squeezed_middle():
    """The middle agent overlaps both neighbours: its QP is infeasible (relaxed)."""
    positions = np.array([[-0.3, 0.0], [0.0, 0.0], [0.3, 0.0]])
    u_nom = np.array([[1.0, 0.0], [0.5, 0.2], [-1.0, 0.0]])
    return positions, u_nom


@pytest.mark.parametrize("backend", ["exact", "osqp"])
def test_slack_is_the_relaxation_an_infeasible_agent_needed(backend):
    cbf = SingleIntegratorCBF(D, 2.0, VMAX, dt=DT, backend=backend)
    positions, u_nom = squeezed_middle()
    alpha = 2.0
    report = cbf.filter_with_report(positions, u_nom, alpha=alpha)
    assert list(report.status) == [SafetyMode.FILTERED, SafetyMode.RELAXED, SafetyMode.FILTERED]
    # Each overlapping row had b = -(1 - 1/2) alpha h > 0 and was lowered to 0.
    overlap = 0.3**2 - D**2
    assert report.slack[1] == pytest.approx(-0.5 * alpha * overlap, rel=1e-12)
    assert report.slack[1] > 0
    np.testing.assert_array_equal(report.slack[[0, 2]], 0.0)


def test_slack_is_zero_when_every_constraint_is_feasible():
    cbf = UnicycleCBF(D, 2.0, VMAX, 3.0, 0.1, dt=DT)
    poses = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, np.pi], [5.0, 5.0, 0.0]])
    commands = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.0]])  # two of them head-on
    report = cbf.filter_with_report(poses, commands)
    assert SafetyMode.FILTERED in report.status.tolist()
    assert SafetyMode.RELAXED not in report.status.tolist()
    np.testing.assert_array_equal(report.slack, 0.0)


def dense_instance(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    poses = np.c_[rng.uniform(-4.0, 4.0, (n, 2)), rng.uniform(-np.pi, np.pi, n)]
    commands = np.c_[rng.uniform(-1, 1, n), rng.uniform(-3, 3, n)]
    alpha = rng.uniform(0.1, 6.0, n)
    obstacles = np.c_[rng.uniform(-2.5, 2.5, (3, 2)), rng.uniform(0.2, 0.6, 3)]
    responsibility = rng.uniform(0.5, 1.0, (n, n))
    return poses, commands, alpha, obstacles, responsibility


@pytest.mark.parametrize("agents", [[0], [7, 3], [59, 0, 31]])
@pytest.mark.parametrize("backend", ["exact", "osqp"])
def test_filtering_some_agents_equals_their_rows_of_the_full_call(agents, backend):
    """Dense enough for filtered and relaxed agents; every field must match."""
    poses, commands, alpha, obstacles, responsibility = dense_instance(seed=1)
    cbf = UnicycleCBF(D, 1.5, VMAX, 3.0, 0.1, dt=DT, max_neighbors=8, backend=backend)
    full = cbf.filter_with_report(poses, commands, alpha, obstacles, responsibility)
    some = cbf.filter_with_report(poses, commands, alpha, obstacles, responsibility, agents)
    assert {SafetyMode.FILTERED, SafetyMode.RELAXED} <= set(full.status.tolist())
    for field in ("status", "min_barrier", "num_constraints", "slack"):
        np.testing.assert_array_equal(getattr(some, field), getattr(full, field)[agents], field)
    # The exact pass solves each agent the same way alone; the reference backend's [v, omega]
    # conversion runs vectorised over different shapes (last-bit round-off).
    tolerance = 0.0 if backend == "exact" else 1e-12
    np.testing.assert_allclose(some.commands, full.commands[agents], rtol=0, atol=tolerance)


def test_single_integrator_filters_one_agent_among_many():
    rng = np.random.default_rng(4)
    positions = rng.uniform(-2, 2, (40, 2))
    u_nom = rng.normal(0, 1, (40, 2))
    cbf = SingleIntegratorCBF(D, 1.5, VMAX, dt=DT)
    full = cbf.filter_with_report(positions, u_nom)
    alone = cbf.filter_with_report(positions, u_nom, agents=[0])
    np.testing.assert_array_equal(alone.commands, full.commands[:1])
    np.testing.assert_array_equal(alone.slack, full.slack[:1])
    assert alone.status.tolist() == full.status[:1].tolist()


@pytest.mark.parametrize("agents", [[3], [-1], [0, 0], [0.5]])
def test_bad_agent_indices_name_the_argument(agents):
    positions, u_nom = squeezed_middle()
    with pytest.raises(ValueError, match="agents"):
        SingleIntegratorCBF(D, 2.0, VMAX).filter_with_report(positions, u_nom, agents=agents)
