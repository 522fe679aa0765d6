"""Safety filter behaviour: forward invariance between ticks, infeasibility handling, the
unicycle model, the OSQP backend, and bad input."""

import numpy as np
import pytest
import torch

from fleetpilot.safety import SafetyMode, SingleIntegratorCBF, UnicycleCBF

D, DT, VMAX = 0.4, 0.05, 1.0


def scenario(rng, kind: str, n: int):
    """Starts, goals and obstacles of one randomized scenario, starts at least D apart."""
    if kind == "circle":
        angle = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 1)
        radius = max(1.5, n * D / np.pi)
        starts = radius * np.stack([np.cos(angle), np.sin(angle)], 1)
        return starts, -starts, np.zeros((0, 3))
    side = max(4.0, 1.2 * np.sqrt(n))
    obstacles = np.zeros((0, 3))
    if kind == "field":
        obstacles = np.c_[rng.uniform(0, side, (4, 2)), rng.uniform(0.2, 0.5, 4)]
    points = []
    while len(points) < 2 * n:
        p = rng.uniform(0, side, 2)
        if all(np.linalg.norm(p - q) >= D + 0.05 for q in points) and all(
            np.linalg.norm(p - o[:2]) >= o[2] + D / 2 + 0.05 for o in obstacles
        ):
            points.append(p)
    points = np.array(points)
    return points[:n], points[n:], obstacles


def test_forward_invariance_1000_scenarios_500_ticks():
    """Single-integrator motion with the exact discrete-time filter: the minimum pairwise
    distance never drops below D (checked densely between ticks) and no agent enters an
    obstacle. Scenarios of the same size run as one torch batch."""
    rng = np.random.default_rng(11)
    groups = [(2, 250), (5, 250), (8, 200), (16, 200), (32, 70), (64, 30)]
    kinds = ("circle", "random", "field")
    cbf = SingleIntegratorCBF(D, 2.0, VMAX, dt=DT, max_neighbors=12)
    total = 0
    for n, count in groups:
        cases = [scenario(rng, kinds[i % 3], n) for i in range(count)]
        total += count
        pos = torch.tensor(np.stack([c[0] for c in cases]))
        goal = torch.tensor(np.stack([c[1] for c in cases]))
        m = max(len(c[2]) for c in cases)
        obstacles = torch.zeros(count, max(m, 1), 3, dtype=torch.float64)
        for i, c in enumerate(cases):
            obstacles[i, : len(c[2])] = torch.tensor(c[2])
        alpha = torch.tensor(rng.uniform(0.5, 30.0, (count, n)))  # includes alpha > 1/dt
        eye = torch.eye(n, dtype=torch.bool)
        for _ in range(500):
            u, status = cbf.filter_batch(pos, (goal - pos).clamp(-1, 1), alpha, obstacles)
            assert (status <= SafetyMode.FILTERED).all()
            for s in (0.5, 1.0):  # mid-tick and end of tick
                p = pos + s * DT * u
                dist = (p.unsqueeze(2) - p.unsqueeze(1)).norm(dim=-1).masked_fill(eye, 1e9)
                assert dist.min() >= D - 1e-7, (n, dist.min())
                gap = (p.unsqueeze(2) - obstacles[:, None, :, :2]).norm(dim=-1) - obstacles[
                    :, None, :, 2
                ]
                real = obstacles[:, None, :, 2] > 0
                assert gap[real.expand_as(gap)].min() >= D / 2 - 1e-7 if real.any() else True
            pos = pos + DT * u
    assert total == 1000


def test_infeasible_instances_are_relaxed_never_raised():
    cbf = SingleIntegratorCBF(D, 2.0, VMAX, dt=DT)
    rng = np.random.default_rng(2)
    for _ in range(200):
        positions = rng.uniform(0, 1.0, (6, 2))  # packed: many pairs closer than D
        u, status = cbf.filter(positions, rng.normal(0, 2, (6, 2)), alpha=rng.uniform(0, 5))
        assert np.all(np.isfinite(u))
        overlapping = (
            np.linalg.norm(positions[:, None] - positions[None], axis=-1) + 9 * np.eye(6)
        ).min(1) < D
        assert set(status[~overlapping]) <= {SafetyMode.NOMINAL, SafetyMode.FILTERED}
        relaxed = status >= SafetyMode.RELAXED
        assert overlapping[relaxed].all()
        # Relaxed agents never close in on a neighbour they already overlap.
        for i in np.flatnonzero(relaxed):
            for j in range(6):
                d = positions[i] - positions[j]
                if i != j and d @ d < D**2:
                    assert 2 * d @ u[i] >= -1e-9


def test_relaxed_status_and_torch_agree_on_an_overlap():
    """The middle agent overlaps both neighbours: pushing away from one drives it into the
    other, so its QP is infeasible and it gets the relaxed problem; the outer two can back off."""
    cbf = SingleIntegratorCBF(D, 2.0, VMAX, dt=DT)
    positions = np.array([[-0.3, 0.0], [0.0, 0.0], [0.3, 0.0]])
    u_nom = np.array([[1.0, 0.0], [0.5, 0.2], [-1.0, 0.0]])  # driving into each other
    u, status = cbf.filter(positions, u_nom)
    assert list(status) == [SafetyMode.FILTERED, SafetyMode.RELAXED, SafetyMode.FILTERED]
    assert u[0, 0] < 0 < u[2, 0]  # the outer agents back off
    np.testing.assert_allclose(u[1], [0.0, 0.2], atol=1e-12)  # no closing in, free sideways
    u_t, status_t = cbf.filter_batch(torch.tensor(positions)[None], torch.tensor(u_nom)[None])
    np.testing.assert_allclose(u_t[0].numpy(), u, atol=1e-12)
    assert status_t[0].tolist() == list(status)


def test_nominal_passes_through_and_far_agents_are_ignored():
    cbf = SingleIntegratorCBF(D, 1.0, VMAX)
    positions = np.array([[0.0, 0.0], [5.0, 0.0]])
    u_nom = np.array([[0.3, -0.2], [-0.5, 0.1]])
    u, status = cbf.filter(positions, u_nom, alpha=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(u, u_nom)
    assert list(status) == [SafetyMode.NOMINAL] * 2


def test_osqp_backend_agrees_with_the_exact_solver():
    rng = np.random.default_rng(8)
    positions = rng.uniform(0, 6, (60, 2))
    u_nom = rng.normal(0, 1, (60, 2))
    exact = SingleIntegratorCBF(D, 1.5, VMAX, backend="exact")
    reference = SingleIntegratorCBF(D, 1.5, VMAX, backend="osqp")
    safe = [
        i for i in range(60) if (np.linalg.norm(positions - positions[i], axis=1) >= D).sum() == 59
    ]
    u_exact, _ = exact.filter(positions[safe], u_nom[safe])
    u_osqp, _ = reference.filter(positions[safe], u_nom[safe])
    np.testing.assert_allclose(u_osqp, u_exact, atol=1e-5)


def test_unicycle_keeps_two_robots_apart_head_on():
    cbf = UnicycleCBF(D, 2.0, VMAX, max_turn_rate=2.0, projection_distance=0.1, dt=DT)
    poses = np.array([[-2.0, 0.0, 0.0], [2.0, 0.01, np.pi]])
    closest = 9.0
    for _ in range(400):
        cmd, status = cbf.filter(poses, np.array([[1.0, 0.0], [1.0, 0.0]]))
        assert np.abs(cmd[:, 0]).max() <= VMAX + 1e-9 and np.abs(cmd[:, 1]).max() <= 2.0 + 1e-9
        theta = poses[:, 2]
        poses = poses + DT * np.c_[cmd[:, 0] * np.cos(theta), cmd[:, 0] * np.sin(theta), cmd[:, 1]]
        closest = min(closest, np.linalg.norm(poses[0, :2] - poses[1, :2]))
    assert closest >= D - 0.02  # unicycle motion is not exactly linear over a tick
    cmd_t, _ = cbf.filter_batch(
        torch.tensor(poses)[None], torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    )
    cmd_np, _ = cbf.filter(poses, np.array([[1.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(cmd_t[0].numpy(), cmd_np, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positions": np.array([[0.0, np.nan]])}, r"positions\[0, 1\]: expected a finite"),
        ({"positions": np.zeros((2, 3))}, r"positions: expected shape \(N, 2\)"),
        ({"u_nominal": np.zeros((3, 2))}, r"u_nominal: expected shape \(1, 2\)"),
        ({"u_nominal": np.array([[np.inf, 0.0]])}, r"u_nominal\[0, 0\]: expected a finite"),
        ({"alpha": -1.0}, "alpha: expected finite values >= 0"),
        ({"obstacles": np.array([[0.0, 0.0, -1.0]])}, "obstacles: every radius"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    arguments = {"positions": np.zeros((1, 2)), "u_nominal": np.zeros((1, 2)), **kwargs}
    with pytest.raises(ValueError, match=message):
        SingleIntegratorCBF(D, 1.0, VMAX).filter(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"safety_distance": 0.0}, "safety_distance: expected a positive"),
        ({"max_speed": float("nan")}, "max_speed: expected a positive"),
        ({"dt": -0.1}, "dt: expected a positive"),
        ({"backend": "magic"}, "backend: expected one of"),
    ],
)
def test_bad_configuration_names_the_field(kwargs, message):
    config = {"safety_distance": D, "sensing_radius": 1.0, "max_speed": VMAX, **kwargs}
    with pytest.raises(ValueError, match=message):
        SingleIntegratorCBF(**config)


def test_random_responsibilities_keep_the_guarantee_and_yielding_never_closes_in():
    """Each agent picks its own rho_ij in [1/2, 1] every tick without coordination: the pair
    condition still holds, so distances stay >= D; an agent with rho = 1 never closes in."""
    rng = np.random.default_rng(21)
    n, count = 12, 40
    cbf = SingleIntegratorCBF(D, 2.0, VMAX, dt=DT)
    cases = [scenario(rng, "circle" if i % 2 else "random", n) for i in range(count)]
    pos = torch.tensor(np.stack([c[0] for c in cases]))
    goal = torch.tensor(np.stack([c[1] for c in cases]))
    eye = torch.eye(n, dtype=torch.bool)
    for _ in range(300):
        rho = torch.tensor(rng.uniform(0.5, 1.0, (count, n, n)))
        rho[..., 0] = 1.0  # everyone yields entirely to agent 0
        u, status = cbf.filter_batch(pos, (goal - pos).clamp(-1, 1), 5.0, responsibility=rho)
        assert (status <= SafetyMode.FILTERED).all()
        closing = 2 * ((pos - pos[:, :1]) * u).sum(-1)  # d/dt |p_i - p_0|^2 from i's motion
        near = (pos - pos[:, :1]).norm(dim=-1) <= 2.0
        assert (closing[near] >= -1e-9).all()
        pos = pos + DT * u
        dist = (pos.unsqueeze(2) - pos.unsqueeze(1)).norm(dim=-1).masked_fill(eye, 1e9)
        assert dist.min() >= D - 1e-7
    u_np, status_np = cbf.filter(
        pos[3].numpy(), (goal - pos)[3].clamp(-1, 1).numpy(), 5.0, responsibility=rho[3].numpy()
    )
    u_t, status_t = cbf.filter_batch(
        pos[3:4], (goal - pos)[3:4].clamp(-1, 1), 5.0, responsibility=rho[3:4]
    )
    np.testing.assert_allclose(u_t[0].numpy(), u_np, atol=1e-9)
    assert status_t[0].tolist() == list(status_np)


@pytest.mark.parametrize("value", [0.49, 1.01, np.nan])
def test_responsibility_outside_its_range_is_rejected(value):
    responsibility = np.full((2, 2), 0.5)
    responsibility[0, 1] = value
    with pytest.raises(ValueError, match="responsibility"):
        SingleIntegratorCBF(D, 1.0, VMAX).filter(
            np.array([[0.0, 0.0], [1.0, 0.0]]), np.zeros((2, 2)), responsibility=responsibility
        )


@pytest.mark.parametrize("origin", [0.0, -7.3e3, 4.0e8])
def test_neighbours_are_found_across_cells_anywhere(origin):
    """The spatial hash finds a neighbour across cell borders, at negative and huge
    coordinates (where cells are clipped), exactly as an all-pairs check would."""
    cbf = SingleIntegratorCBF(D, 1.0, VMAX)
    positions = origin + np.array([[0.999, 0.0], [1.001 + D, 0.0], [-5.0, 0.0]])
    u, status = cbf.filter(positions, np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]))
    assert list(status) == [SafetyMode.FILTERED, SafetyMode.FILTERED, SafetyMode.NOMINAL]
    assert u[0, 0] < 1.0 and u[1, 0] > -1.0


def test_arena_walls_keep_every_agent_inside_between_ticks():
    """Agents driven into the walls of a 4 m x 3 m arena stop D/2 from them (single
    integrators) and D/2 + l (unicycle points); every backend agrees."""
    arena = (-2.0, -1.5, 2.0, 1.5)
    rng = np.random.default_rng(3)
    cbf = SingleIntegratorCBF(D, 1.0, VMAX, dt=DT, arena=arena)
    positions = np.array([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.0], [0.5, 1.0]])
    for _ in range(200):
        u_nom = np.sign(positions) * 1.0 + rng.normal(0, 0.2, positions.shape)  # outwards
        u, status = cbf.filter(positions, u_nom, alpha=15.0)
        assert set(status) <= {SafetyMode.NOMINAL, SafetyMode.FILTERED}
        positions = positions + DT * u
        gaps = np.c_[positions - arena[:2], np.array(arena[2:]) - positions]
        assert gaps.min() >= D / 2 - 1e-9
    assert gaps.min() < D / 2 + 0.01  # they did reach the walls
    reference = SingleIntegratorCBF(D, 1.0, VMAX, dt=DT, arena=arena, backend="osqp")
    u_osqp, _ = reference.filter(positions, u_nom, alpha=15.0)
    np.testing.assert_allclose(u_osqp, u, atol=1e-5)
    u_batch, _ = cbf.filter_batch(torch.tensor(positions)[None], torch.tensor(u_nom)[None], 15.0)
    np.testing.assert_allclose(u_batch[0].numpy(), u, atol=1e-12)
    box = (
        torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]).expand(1, 4, 4, 2),
        torch.full((1, 4, 4), -VMAX, dtype=torch.float64),
    )
    active = torch.ones(1, 4, dtype=torch.bool)
    u_dense, _ = cbf._dense_torch(
        torch.tensor(positions)[None],
        torch.tensor(u_nom)[None],
        torch.full((1, 4), 15.0, dtype=torch.float64),
        None,
        active,
        D,
        D / 2,
        box,
        None,
    )
    np.testing.assert_allclose(u_dense[0].numpy(), u, atol=1e-9)
    unicycle = UnicycleCBF(D, 1.0, VMAX, 2.0, 0.1, dt=DT, arena=arena)
    _, status = unicycle.filter(np.c_[positions, np.zeros(4)], np.tile([1.0, 0.0], (4, 1)))
    assert len(status) == 4


def _unicycle_tick(pose, command, dt, substeps=50):
    """Exact-enough unicycle motion over one tick (the filter itself assumes straight motion)."""
    x, y, heading = pose
    for _ in range(substeps):
        x += dt / substeps * command[0] * np.cos(heading)
        y += dt / substeps * command[0] * np.sin(heading)
        heading += dt / substeps * command[1]
    return np.array([x, y, heading])


SHELVES = np.array([[0.0, 5.0, 0.45], [0.0, 6.0, 0.45], [0.0, 7.0, 0.45]])


@pytest.mark.parametrize("backend", ["exact", "osqp", "torch"])
@pytest.mark.parametrize("beside", ["wall", "shelves"])
def test_a_robot_reversing_hard_beside_a_wall_keeps_its_body_off_it(backend, beside):
    """A hostile nominal (full reverse, full turn swinging the rear toward the west wall or a
    row of shelf discs): the filtered point 0.1 m ahead moves away while the axle closes in.
    Without the axle rows the axle came to 0.206 m of the wall and 0.213 m of the shelves
    (alpha 1) where D/2 = 0.25; with them it stays D/2 away up to one tick's turning error."""
    safety, limit_v, limit_w, offset, dt = 0.5, 1.0, 3.0, 0.1, 0.1
    cbf = UnicycleCBF(
        safety, 2.0, limit_v, limit_w, offset, dt=dt,
        arena=(0, 0, 22, 13) if beside == "wall" else None,
        backend="osqp" if backend == "osqp" else "exact",
    )  # fmt: skip
    obstacles = None if beside == "wall" else SHELVES
    surface = 0.0 if beside == "wall" else 0.45
    worst = np.inf
    for alpha in (1.0, 10.0):
        for start_x in (0.36, 0.5, 0.8):
            for start_heading in np.linspace(0.0, np.pi, 11):
                pose = np.array([start_x + surface, 6.0, start_heading])
                for _ in range(40):
                    turn = -limit_w if np.sin(pose[2]) > 0 else limit_w
                    nominal = np.array([[-limit_v, turn]])
                    if backend == "torch":
                        batch_obstacles = None if obstacles is None else torch.tensor(obstacles)
                        command, _ = cbf.filter_batch(
                            torch.tensor(pose)[None, None],
                            torch.tensor(nominal)[None],
                            alpha,
                            None if batch_obstacles is None else batch_obstacles[None],
                        )
                        command = command[0].numpy()
                    else:
                        command, _ = cbf.filter(pose[None], nominal, alpha, obstacles)
                    pose = _unicycle_tick(pose, command[0], dt)
                    if obstacles is None:
                        gap = pose[0]
                    else:
                        gap = np.min(np.hypot(*(pose[:2] - obstacles[:, :2]).T) - obstacles[:, 2])
                    worst = min(worst, gap)
    turning_error = 0.5 * dt**2 * limit_v * limit_w  # axle path curvature within a tick
    assert worst >= safety / 2 - turning_error
    assert worst < safety / 2 + 0.02  # the robots did press against it


def _backing_into_a_wall(alpha, measured, backend, accel=3.0, dt=0.05):
    """Closest approach [m] of the axle to the wall x = 0 of a robot told to reverse into it
    at full speed, whose base reaches a commanded speed at ``accel`` [m/s^2] only (as the
    PyBullet robots do), with or without its measured velocity given to the filter."""
    solver = "exact" if backend == "torch" else backend
    cbf = UnicycleCBF(0.5, 2.0, 1.0, 3.0, 0.1, dt=dt, arena=(0, 0, 10, 10), backend=solver)
    pose, speed, closest = np.array([1.5, 5.0, 0.0]), 0.0, np.inf
    nominal = np.array([[-1.0, 0.0]])
    for _ in range(100):
        velocity = speed * np.array([[np.cos(pose[2]), np.sin(pose[2])]])
        velocity = velocity if measured else None
        if backend == "torch":
            command, _ = cbf.filter_batch(
                torch.tensor(pose)[None, None],
                torch.tensor(nominal)[None],
                alpha,
                velocities=None if velocity is None else torch.tensor(velocity)[None],
            )
            command = command[0].numpy()
        else:
            command, _ = cbf.filter(pose[None], nominal, alpha, velocities=velocity)
        for _ in range(10):
            speed += np.clip(command[0, 0] - speed, -accel * dt / 10, accel * dt / 10)
            pose[0] += dt / 10 * speed
        closest = min(closest, pose[0])
    return closest


@pytest.mark.parametrize("backend", ["exact", "osqp", "torch"])
@pytest.mark.parametrize("alpha", [6.0, 20.0])
def test_a_lagging_base_backing_into_a_wall_is_stopped_in_time(backend, alpha):
    """With a large alpha the axle's rows let it close in fast until the margin; a base that
    needs a few ticks to stop then overshoots into the wall unless the filter knows how fast
    it is already moving (reaction_time x measured velocity)."""
    assert _backing_into_a_wall(alpha, measured=False, backend=backend) < 0.25 - 0.04
    assert _backing_into_a_wall(alpha, measured=True, backend=backend) >= 0.25 - 1e-6


def test_measured_velocities_of_the_wrong_shape_are_refused():
    cbf = UnicycleCBF(0.5, 2.0, 1.0, 3.0, 0.1, dt=0.05, arena=(0, 0, 10, 10))
    with pytest.raises(ValueError, match="velocities"):
        cbf.filter(np.zeros((2, 3)) + [1, 1, 0], np.zeros((2, 2)), velocities=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"velocities\[0, 1\]"):
        cbf.filter(np.ones((1, 3)), np.zeros((1, 2)), velocities=[[0.0, np.nan]])
    with pytest.raises(ValueError, match="reaction_time"):
        UnicycleCBF(0.5, 2.0, 1.0, 3.0, 0.1, reaction_time=-0.1)


@pytest.mark.parametrize("arena", [(0, 0, 0, 1), (0, 0, 1), (0, np.nan, 1, 1)])
def test_bad_arenas_are_refused(arena):
    with pytest.raises(ValueError, match="arena: expected"):
        SingleIntegratorCBF(D, 1.0, VMAX, arena=arena)


def test_axle_rows_cover_only_the_obstacles_named_for_them():
    """A disc 0.3 m behind the axle (D/2 = 0.25 m) and a robot already backing at 0.5 m/s: the
    disc's axle row, which counts that motion, forbids backing further; with the disc named out
    of ``axle_obstacles`` (a scan disc that may be a robot) the point's rows still allow it."""
    cbf = UnicycleCBF(0.5, 2.0, 1.0, 3.0, 0.1, dt=0.05)
    pose = np.array([[0.0, 0.0, 0.0]])
    disc = np.array([[-0.5, 0.0, 0.2]])
    reverse, backing = np.array([[-1.0, 0.0]]), np.array([[-0.5, 0.0]])
    default = cbf.filter_with_report(pose, reverse, 1.0, disc, velocities=backing)
    mapped_only = cbf.filter_with_report(
        pose, reverse, 1.0, disc, velocities=backing, axle_obstacles=np.zeros((0, 3))
    )
    assert default.commands[0, 0] >= -1e-9
    assert mapped_only.commands[0, 0] < -0.03
