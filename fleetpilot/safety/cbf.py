"""Decentralized CBF-QP safety filters for single-integrator and unicycle robots.

Every agent minimally changes its nominal command so that, for each neighbour it senses and
each obstacle, the control-barrier condition holds (rows in :mod:`.constraints`), subject to
its speed limits. All agents are solved in one vectorised call: numpy (compiled kernel, or the
OSQP reference backend) or torch (B environments x N agents, any device).

Infeasibility. With every barrier h >= 0 the QP is always feasible (u = 0 satisfies each row
and the speed box), so it is infeasible only when some barrier is already violated (h < 0,
e.g. after a disturbance). Then the documented relaxation is solved exactly: each violated
row's right-hand side b = -a h > 0 is replaced by 0 — the minimal slack that makes u = 0
feasible — so the agent may not close in further on anything it already overlaps and keeps
every other condition (status RELAXED); ``FilterReport.slack`` is the largest right-hand side
lowered that way. If even that problem has no numerical solution, the agent brakes to zero
velocity (status BRAKING). Every agent always gets a status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fleetpilot.safety import axle_rows
from fleetpilot.safety import constraints as rows
from fleetpilot.safety.fused import filter_groups, filter_points
from fleetpilot.safety.osqp_backend import OsqpLoop
from fleetpilot.safety.qp2d import solve_enumerated, solve_numpy
from fleetpilot.safety.status import SafetyMode

BACKENDS = ("exact", "osqp")


@dataclass(frozen=True)
class FilterReport:
    """What the filter did, per agent.

    Attributes:
        commands: (N, 2) safe commands (velocities, or [v, omega] for the unicycle).
        status: (N,) SafetyMode codes.
        min_barrier: (N,) smallest barrier value h over the agent's rows [m^2]; inf if none.
        num_constraints: (N,) neighbour and obstacle rows in the agent's QP.
        slack: (N,) the relaxation the agent needed: the largest amount a violated row's
            right-hand side was lowered (to 0) [m^2/s]; 0 unless the status is RELAXED.

    With ``agents`` given to ``filter_with_report``, N is the number of agents asked for and
    rows follow their order.
    """

    commands: np.ndarray
    status: np.ndarray
    min_barrier: np.ndarray
    num_constraints: np.ndarray
    slack: np.ndarray


def _check_positive(name: str, value) -> None:
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")


def _array(name: str, value, shape: tuple) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != len(shape) or any(
        s is not None and a != s for a, s in zip(array.shape, shape, strict=True)
    ):
        expected = tuple("N" if s is None else s for s in shape)
        raise ValueError(f"{name}: expected shape {expected}, got {array.shape}".replace("'", ""))
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name}{list(bad)}: expected a finite number, got {array[bad]!r}")
    return array


def _agent_indices(agents, n: int) -> np.ndarray | None:
    """None (every agent) or distinct integer indices in [0, n)."""
    if agents is None:
        return None
    indices = np.asarray(agents).reshape(-1)
    if indices.dtype.kind not in "iu":
        raise ValueError(f"agents: expected integer indices, got {np.asarray(agents)!r}")
    if np.any((indices < 0) | (indices >= n)) or len(np.unique(indices)) != len(indices):
        raise ValueError(f"agents: expected distinct indices in [0, {n}), got {indices.tolist()}")
    return indices.astype(np.int64)


def _alpha_array(alpha, n: int) -> np.ndarray:
    values = (
        np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n,))
        if np.ndim(alpha) == 0
        else _array("alpha", alpha, (n,))
    )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"alpha: expected finite values >= 0, got {alpha!r}")
    return np.array(values)


def _alpha_tensor(alpha, like: torch.Tensor) -> torch.Tensor:
    value = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    value = value.expand(like.shape[:-1]) if value.ndim == 0 else value
    if value.shape != like.shape[:-1]:
        raise ValueError(
            f"alpha: expected a float or shape {tuple(like.shape[:-1])}, got {tuple(value.shape)}"
        )
    if not torch.isfinite(value).all() or (value < 0).any():
        raise ValueError("alpha: expected finite values >= 0")
    return value


def _responsibility_array(value, n: int) -> np.ndarray | None:
    if value is None:
        return None
    array = _array("responsibility", value, (n, n))
    _check_responsibility_range(array.min(), array.max())
    return array


def _responsibility_tensor(value, like: torch.Tensor) -> torch.Tensor | None:
    if value is None:
        return None
    B, N = like.shape[:2]
    if tuple(value.shape) != (B, N, N):
        raise ValueError(f"responsibility: expected shape {(B, N, N)}, got {tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError("responsibility: expected finite values, got NaN or inf")
    _check_responsibility_range(float(value.min()), float(value.max()))
    return value.to(like.dtype)


def _check_responsibility_range(low: float, high: float) -> None:
    # Below 1/2 the pair's two shares could undercut the full barrier condition.
    if low < rows.MIN_RESPONSIBILITY or high > 1.0:
        raise ValueError(
            f"responsibility: expected values in [{rows.MIN_RESPONSIBILITY}, 1], "
            f"got range [{low}, {high}]"
        )


def _arena(arena) -> tuple[float, float, float, float]:
    values = np.asarray(arena, dtype=np.float64).reshape(-1)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise ValueError(f"arena: expected finite (x_min, y_min, x_max, y_max), got {arena!r}")
    if values[0] >= values[2] or values[1] >= values[3]:
        raise ValueError(f"arena: expected x_min < x_max and y_min < y_max, got {arena!r}")
    return tuple(float(v) for v in values)


def _check_tensor(name: str, value: torch.Tensor, last: int) -> None:
    if value.ndim != 3 or value.shape[-1] != last:
        raise ValueError(f"{name}: expected shape (B, N, {last}), got {tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name}: expected finite values, got NaN or inf")


class _PointFilter:
    """The shared QP over planar points; subclasses map their robot model onto points."""

    def __init__(
        self,
        safety_distance: float,
        sensing_radius: float,
        max_speed: float,
        dt: float | None,
        max_neighbors: int,
        backend: str,
        arena=None,
    ) -> None:
        _check_positive("safety_distance", safety_distance)
        _check_positive("sensing_radius", sensing_radius)
        _check_positive("max_speed", max_speed)
        if dt is not None:
            _check_positive("dt", dt)
        if not isinstance(max_neighbors, int) or max_neighbors < 1:
            raise ValueError(f"max_neighbors: expected an integer >= 1, got {max_neighbors!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        self.safety_distance = float(safety_distance)
        self.sensing_radius = float(sensing_radius)
        self.max_speed = float(max_speed)
        self.dt = dt
        self.max_neighbors = max_neighbors
        self.backend = backend
        self._osqp = OsqpLoop() if backend == "osqp" else None
        self.arena = None if arena is None else _arena(arena)
        self._walls = None if arena is None else rows.arena_walls(self.arena)

    # numpy --------------------------------------------------------------------------------
    def _solve_points(
        self,
        points,
        u_nom,
        alpha,
        obstacles,
        distance,
        clearance,
        box,
        responsibility=None,
        agents=None,
    ):
        """points, u_nom: (N, 2); box: (A (N, 4, 2), b (N, 4)); agents: indices to solve for,
        or None for all. Returns u, status, h_min, count, slack for those agents."""
        alpha = rows.effective_alpha(alpha, self.dt)
        if self._osqp is None:
            return filter_points(
                points,
                u_nom,
                alpha,
                distance,
                self.sensing_radius,
                self.max_neighbors,
                responsibility,
                obstacles,
                clearance,
                box,
                self._walls,
                agents,
            )
        # The reference backend solves everyone; it exists to check the fused pass, not for speed.
        result = self._solve_rows(
            points, u_nom, alpha, obstacles, distance, clearance, box, responsibility
        )
        return result if agents is None else tuple(part[agents] for part in result)

    def _solve_rows(
        self, points, u_nom, alpha, obstacles, distance, clearance, box, responsibility, solve=None
    ):
        """The same problem through explicit row arrays and the OSQP reference loop (or
        ``solve``, any function with the contract of ``qp2d.solve_numpy``)."""
        n = len(points)
        parts = [
            rows.neighbour_rows_numpy(
                points, alpha, distance, self.sensing_radius, self.max_neighbors, responsibility
            )
        ]
        if obstacles is not None and len(obstacles):
            parts.append(
                rows.obstacle_rows_numpy(points, alpha, obstacles, clearance, self.sensing_radius)
            )
        if self._walls is not None:
            parts.append(
                rows.wall_rows_numpy(points, alpha, self._walls, clearance, self.sensing_radius)
            )
        A = np.concatenate([p[0] for p in parts] + [box[0]], axis=1)
        b = np.concatenate([p[1] for p in parts] + [box[1]], axis=1)
        own_rows = box[1].shape[1]
        mask = np.concatenate([p[2] for p in parts] + [np.ones((n, own_rows), bool)], axis=1)
        h = np.concatenate([p[3] for p in parts] + [np.full((n, own_rows), np.inf)], axis=1)
        order = np.argsort(~mask, axis=1, kind="stable")  # active rows first, for the kernel
        A = np.take_along_axis(A, order[..., None], axis=1)
        b = np.take_along_axis(b, order, axis=1)
        h = np.take_along_axis(h, order, axis=1)
        counts = mask.sum(1)
        u, feasible = (solve or self._osqp.solve)(u_nom, A, b, counts)
        status = np.where(np.all(u == u_nom, axis=1), SafetyMode.NOMINAL, SafetyMode.FILTERED)
        slack = np.zeros(n)
        if not feasible.all():
            relaxed_b = np.where(h < -rows.CONTACT_TOLERANCE, np.minimum(b, 0.0), b)
            stuck = ~feasible
            u_relaxed, relaxed_ok = solve_numpy(
                u_nom[stuck], A[stuck], relaxed_b[stuck], counts[stuck]
            )
            u[stuck] = np.where(relaxed_ok[:, None], u_relaxed, 0.0)
            status[stuck] = np.where(relaxed_ok, SafetyMode.RELAXED, SafetyMode.BRAKING)
            lowered = (b - relaxed_b)[stuck].max(axis=1, initial=0.0)
            slack[stuck] = np.where(relaxed_ok, lowered, 0.0)
        return u, status.astype(np.int64), h.min(axis=1, initial=np.inf), counts - own_rows, slack

    # torch --------------------------------------------------------------------------------
    def _solve_points_torch(
        self, points, u_nom, alpha, obstacles, active, distance, clearance, box, responsibility
    ):
        """(B, N) worlds: the compiled pass on the CPU, dense tensor enumeration elsewhere."""
        alpha = rows.effective_alpha(alpha, self.dt)
        if points.device.type != "cpu":
            return self._dense_torch(
                points, u_nom, alpha, obstacles, active, distance, clearance, box, responsibility
            )

        def array(tensor):
            return None if tensor is None else tensor.detach().numpy()

        u, status, *_ = filter_groups(
            array(points),
            array(u_nom),
            array(alpha),
            array(active),
            distance,
            self.sensing_radius,
            self.max_neighbors,
            array(responsibility),
            array(obstacles),
            clearance,
            (array(box[0]), array(box[1])),
            self._walls,
        )
        return torch.from_numpy(u).to(u_nom.dtype), torch.from_numpy(status)

    def _dense_torch(
        self, points, u_nom, alpha, obstacles, active, distance, clearance, box, responsibility
    ):
        """All pairs of each world as tensors (N x N per world): for accelerators, where
        dense work in parallel beats a sequential pass."""
        parts = [
            rows.neighbour_rows_torch(
                points,
                alpha,
                active,
                distance,
                self.sensing_radius,
                self.max_neighbors,
                responsibility,
            )
        ]
        if obstacles is not None and obstacles.shape[1] > 0:
            parts.append(
                rows.obstacle_rows_torch(points, alpha, obstacles, clearance, self.sensing_radius)
            )
        if self._walls is not None:
            parts.append(
                rows.wall_rows_torch(points, alpha, self._walls, clearance, self.sensing_radius)
            )
        box_mask = torch.ones(box[1].shape, dtype=torch.bool, device=points.device)
        A = torch.cat([p[0] for p in parts] + [box[0]], dim=-2)
        b = torch.cat([p[1] for p in parts] + [box[1]], dim=-1)
        mask = torch.cat([p[2] for p in parts] + [box_mask], dim=-1)
        h = torch.cat([p[3] for p in parts] + [torch.full_like(box[1], float("inf"))], dim=-1)
        u, feasible = solve_enumerated(u_nom, A, b, mask)
        nominal = (u == u_nom).all(-1)
        status = torch.where(nominal, int(SafetyMode.NOMINAL), int(SafetyMode.FILTERED))
        if not feasible.all():
            relaxed_b = torch.where(h < -rows.CONTACT_TOLERANCE, b.clamp(max=0.0), b)
            u_relaxed, relaxed_ok = solve_enumerated(u_nom, A, relaxed_b, mask)
            stuck = ~feasible
            u = torch.where(
                stuck.unsqueeze(-1), torch.where(relaxed_ok.unsqueeze(-1), u_relaxed, 0.0), u
            )
            fallback = torch.where(relaxed_ok, int(SafetyMode.RELAXED), int(SafetyMode.BRAKING))
            status = torch.where(stuck, fallback, status)
        inactive = ~active
        u = torch.where(inactive.unsqueeze(-1), torch.zeros_like(u), u)
        status = torch.where(inactive, int(SafetyMode.NOMINAL), status)
        return u, status.to(torch.int64)


class SingleIntegratorCBF(_PointFilter):
    """CBF-QP filter for robots whose command is their planar velocity [m/s].

    Args:
        safety_distance: D, smallest allowed centre-to-centre distance [m] (> 0).
        sensing_radius: neighbours and obstacle surfaces farther than this are ignored [m].
        max_speed: per-axis speed limit |u|_inf [m/s].
        dt: control period [s] for the discrete-time condition, or None (continuous).
        max_neighbors: nearest neighbours kept per agent; safety between ticks needs every
            neighbour within D + 2 max_speed dt to be kept, so keep it above that crowd size.
        backend: "exact" (compiled enumeration) or "osqp" (reference loop) for ``filter``.
        arena: (x_min, y_min, x_max, y_max) [m] walls to keep D/2 away from (linear barriers
            ``n . p - offset - D/2``, within the sensing radius), or None for no walls.
    """

    def __init__(
        self,
        safety_distance: float,
        sensing_radius: float,
        max_speed: float,
        dt: float | None = None,
        max_neighbors: int = 16,
        backend: str = "exact",
        arena=None,
    ) -> None:
        super().__init__(
            safety_distance, sensing_radius, max_speed, dt, max_neighbors, backend, arena
        )

    def filter_with_report(
        self, positions, u_nominal, alpha=1.0, obstacles=None, responsibility=None, agents=None
    ) -> FilterReport:
        """Like :meth:`filter`, with barrier values, constraint counts and slack.

        ``agents``: indices of the agents to filter (all others still act as neighbours), or
        None for all; the report then has one row per index, in that order.
        """
        positions = _array("positions", positions, (None, 2))
        n = len(positions)
        u_nominal = _array("u_nominal", u_nominal, (n, 2))
        alpha = _alpha_array(alpha, n)
        obstacles = self._obstacles(obstacles)
        responsibility = _responsibility_array(responsibility, n)
        agents = _agent_indices(agents, n)
        box = rows.box_rows_numpy(n, self.max_speed)
        u, status, h, count, slack = self._solve_points(
            positions,
            u_nominal,
            alpha,
            obstacles,
            self.safety_distance,
            self.safety_distance / 2,
            box,
            responsibility,
            agents,
        )
        return FilterReport(u, status, h, count, slack)

    def filter(
        self, positions, u_nominal, alpha=1.0, obstacles=None, responsibility=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Filters every agent's velocity.

        Args:
            positions: (N, 2) float, world frame [m].
            u_nominal: (N, 2) float, nominal velocities [m/s].
            alpha: float or (N,) class-K gains [1/s], >= 0.
            obstacles: (M, 3) [x, y, r] [m] or None.
            responsibility: (N, N) rho_ij in [1/2, 1], agent i's share of pair (i, j)
                (see :mod:`.constraints`), or None for 1/2 everywhere.

        Returns:
            u_safe (N, 2) [m/s] and status (N,) SafetyMode codes.
        """
        report = self.filter_with_report(positions, u_nominal, alpha, obstacles, responsibility)
        return report.commands, report.status

    def filter_batch(
        self,
        positions: torch.Tensor,
        u_nominal: torch.Tensor,
        alpha=1.0,
        obstacles: torch.Tensor | None = None,
        active: torch.Tensor | None = None,
        responsibility: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B environments x N agents in one torch call: (B, N, 2) velocities, (B, N) status.

        Inactive agents (``active`` False) are ignored as neighbours and get u = 0, NOMINAL.
        Obstacles (B, M, 3) with radius <= 0 are padding; responsibility is (B, N, N) or None.
        """
        _check_tensor("positions", positions, 2)
        _check_tensor("u_nominal", u_nominal, 2)
        alpha = _alpha_tensor(alpha, positions)
        responsibility = _responsibility_tensor(responsibility, positions)
        active = (
            torch.ones(positions.shape[:2], dtype=torch.bool, device=positions.device)
            if active is None
            else active
        )
        box_A = torch.tensor(
            [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]],
            dtype=positions.dtype,
            device=positions.device,
        )
        box = (
            box_A.expand(*positions.shape[:2], 4, 2),
            torch.full(
                (*positions.shape[:2], 4),
                -self.max_speed,
                dtype=positions.dtype,
                device=positions.device,
            ),
        )
        return self._solve_points_torch(
            positions,
            u_nominal,
            alpha,
            obstacles,
            active,
            self.safety_distance,
            self.safety_distance / 2,
            box,
            responsibility,
        )

    @staticmethod
    def _obstacles(obstacles):
        if obstacles is None:
            return None
        obstacles = _array("obstacles", obstacles, (None, 3))
        if np.any(obstacles[:, 2] <= 0):
            raise ValueError("obstacles: every radius (column 2) must be positive")
        return obstacles


DEFAULT_REACTION_TIME = 0.2
"""[s]: the PyBullet robots need 2-3 ticks of 0.05 s to reverse (about 3 m/s^2 at 0.5 m/s)."""


class UnicycleCBF(SingleIntegratorCBF):
    """CBF-QP filter for unicycle / differential-drive robots, exact through the
    near-identity diffeomorphism.

    The point p = (x, y) + l (cos th, sin th) moves with p' = v c + l w s, c = (cos th, sin th),
    s = (-sin th, cos th): a single integrator in u = p'. The filter solves the point QP with the
    speed limits written as linear rows, |c.u| <= max_speed and |s.u| <= l max_turn_rate, so the
    returned v = c.u and w = s.u / l satisfy the barrier conditions exactly (no clipping).
    Points are kept D + 2l apart (and D/2 + l from obstacle surfaces), which keeps the axle
    centres at least D apart (and D/2 from obstacle surfaces).

    Args:
        safety_distance, sensing_radius, max_speed, dt, max_neighbors, backend: as for
            :class:`SingleIntegratorCBF`.
        max_turn_rate: yaw-rate limit [rad/s].
        projection_distance: l, the point's distance ahead of the axle [m].
        arena: as for :class:`SingleIntegratorCBF` (the point keeps D/2 + l from each wall).
        reaction_time: how long [s] a robot keeps moving at its measured velocity before a
            new command takes hold (actuator lag and braking); with measured velocities given
            to the filter, the axle's rows also hold where that motion takes it.

    Besides the point's rows, each robot's axle keeps D/2 from walls and from its
    :data:`~fleetpilot.safety.axle_rows.AXLE_OBSTACLES` nearest obstacles
    (:mod:`~fleetpilot.safety.axle_rows`): the point's rows alone let a robot reversing in a hard
    turn swing its body into what the point moves away from.
    """

    def __init__(
        self,
        safety_distance: float,
        sensing_radius: float,
        max_speed: float,
        max_turn_rate: float,
        projection_distance: float,
        dt: float | None = None,
        max_neighbors: int = 16,
        backend: str = "exact",
        arena=None,
        reaction_time: float = DEFAULT_REACTION_TIME,
    ) -> None:
        super().__init__(
            safety_distance, sensing_radius, max_speed, dt, max_neighbors, backend, arena
        )
        _check_positive("max_turn_rate", max_turn_rate)
        _check_positive("projection_distance", projection_distance)
        if reaction_time is None or not np.isfinite(reaction_time) or reaction_time < 0:
            raise ValueError(
                f"reaction_time: expected a finite number >= 0, got {reaction_time!r}"
            )
        self.max_turn_rate = float(max_turn_rate)
        self.projection_distance = float(projection_distance)
        self.reaction_time = float(reaction_time)

    def _frames(self, headings, lib):
        c = lib.stack([lib.cos(headings), lib.sin(headings)], -1)
        s = lib.stack([-lib.sin(headings), lib.cos(headings)], -1)
        return c, s

    def _with_axle_rows(self, poses, c, alpha, obstacles, velocities, box, lib):
        """The speed box plus the axle's own rows for walls and the nearest obstacles
        (:mod:`~fleetpilot.safety.axle_rows`), evaluated also where the measured
        ``velocities`` carry the axle within :attr:`reaction_time`. ``lib`` is numpy ((N, ...)
        arrays) or torch ((B, N, ...) tensors)."""
        box_A, box_b = box
        axles = poses[..., :2]
        alpha = rows.effective_alpha(alpha, self.dt)
        clearance = self.safety_distance / 2
        drift = None if velocities is None else self.reaction_time * velocities
        numpy = lib is np
        parts = []
        if self._walls is not None:
            wall_rows = axle_rows.wall_rows_numpy if numpy else axle_rows.wall_rows_torch
            parts.append(wall_rows(axles, c, alpha, self._walls, clearance, drift))
        if obstacles is not None and obstacles.shape[-2] > 0:
            obstacle_rows = (
                axle_rows.obstacle_rows_numpy if numpy else axle_rows.obstacle_rows_torch
            )
            parts.append(obstacle_rows(axles, c, alpha, obstacles, clearance, drift))
        join = np.concatenate if numpy else torch.cat
        axis = box_b.ndim - 1
        box_A = join([box_A] + [part[0] for part in parts], axis)
        box_b = join([box_b] + [part[1] for part in parts], axis)
        return box_A, box_b

    def filter_with_report(
        self,
        poses,
        cmd_nominal,
        alpha=1.0,
        obstacles=None,
        responsibility=None,
        agents=None,
        velocities=None,
        axle_obstacles=None,
    ) -> FilterReport:
        """Like :meth:`filter`, with barrier values, constraint counts and slack.

        Args:
            agents: as for :meth:`SingleIntegratorCBF.filter_with_report`.
            velocities: (N, 2) measured planar velocities of the axles [m/s, world frame],
                or None (robots that stop within a tick).
            axle_obstacles: (K, 3) the obstacles whose axle rows are added, or None for all
                of ``obstacles``. Pass the mapped ones when ``obstacles`` also holds discs
                from a scan: among those are robots that move, where the axle rows only
                trap robots (seen in the PyBullet lidar benchmark).
        """
        poses = _array("poses", poses, (None, 3))
        n = len(poses)
        if velocities is not None:
            velocities = _array("velocities", velocities, (n, 2))
        cmd_nominal = _array("cmd_nominal", cmd_nominal, (n, 2))
        alpha = _alpha_array(alpha, n)
        obstacles = self._obstacles(obstacles)
        axle_obstacles = obstacles if axle_obstacles is None else self._obstacles(axle_obstacles)
        responsibility = _responsibility_array(responsibility, n)
        agents = _agent_indices(agents, n)
        offset = self.projection_distance
        c, s = self._frames(poses[:, 2], np)
        points = poses[:, :2] + offset * c
        u_nom = cmd_nominal[:, :1] * c + offset * cmd_nominal[:, 1:] * s
        box_A = np.stack([c, -c, s, -s], axis=1)
        box_b = np.tile(
            [
                -self.max_speed,
                -self.max_speed,
                -offset * self.max_turn_rate,
                -offset * self.max_turn_rate,
            ],
            (n, 1),
        )
        box_A, box_b = self._with_axle_rows(
            poses, c, alpha, axle_obstacles, velocities, (box_A, box_b), np
        )
        u, status, h, count, slack = self._solve_points(
            points,
            u_nom,
            alpha,
            obstacles,
            self.safety_distance + 2 * offset,
            self.safety_distance / 2 + offset,
            (box_A, box_b),
            responsibility,
            agents,
        )
        if agents is not None:
            c, s, cmd_nominal = c[agents], s[agents], cmd_nominal[agents]
        commands = np.stack([(c * u).sum(1), (s * u).sum(1) / offset], axis=1)
        unchanged = status == SafetyMode.NOMINAL
        commands[unchanged] = cmd_nominal[unchanged]  # exact pass-through, no round-off
        return FilterReport(commands, status, h, count, slack)

    def filter(
        self, poses, cmd_nominal, alpha=1.0, obstacles=None, responsibility=None, velocities=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Filters every robot's [v, omega] command.

        Args:
            poses: (N, 3) [x m, y m, heading rad].
            cmd_nominal: (N, 2) [v m/s, omega rad/s].
            alpha: float or (N,) class-K gains [1/s], >= 0.
            obstacles: (M, 3) [x, y, r] [m] or None.
            velocities: (N, 2) measured axle velocities [m/s] or None, see
                :meth:`filter_with_report`.

        Returns:
            safe commands (N, 2) [v, omega] and status (N,) SafetyMode codes.
        """
        report = self.filter_with_report(
            poses, cmd_nominal, alpha, obstacles, responsibility, velocities=velocities
        )
        return report.commands, report.status

    def filter_batch(
        self,
        poses: torch.Tensor,
        cmd_nominal: torch.Tensor,
        alpha=1.0,
        obstacles: torch.Tensor | None = None,
        active: torch.Tensor | None = None,
        responsibility: torch.Tensor | None = None,
        velocities: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B environments x N robots: poses (B, N, 3), commands (B, N, 2) -> [v, w], status;
        ``velocities`` (B, N, 2) measured axle velocities or None, as for
        :meth:`filter_with_report`."""
        _check_tensor("poses", poses, 3)
        _check_tensor("cmd_nominal", cmd_nominal, 2)
        if velocities is not None:
            _check_tensor("velocities", velocities, 2)
            if velocities.shape[:2] != poses.shape[:2]:
                raise ValueError(
                    f"velocities: expected shape {(*poses.shape[:2], 2)}, "
                    f"got {tuple(velocities.shape)}"
                )
        alpha = _alpha_tensor(alpha, poses[..., :2])
        responsibility = _responsibility_tensor(responsibility, poses)
        active = (
            torch.ones(poses.shape[:2], dtype=torch.bool, device=poses.device)
            if active is None
            else active
        )
        offset = self.projection_distance
        c, s = self._frames(poses[..., 2], torch)
        points = poses[..., :2] + offset * c
        u_nom = cmd_nominal[..., :1] * c + offset * cmd_nominal[..., 1:] * s
        box_A = torch.stack([c, -c, s, -s], dim=-2)
        limits = torch.tensor(
            [
                self.max_speed,
                self.max_speed,
                offset * self.max_turn_rate,
                offset * self.max_turn_rate,
            ],
            dtype=poses.dtype,
            device=poses.device,
        )
        box_b = (-limits).expand(*poses.shape[:2], 4)
        box_A, box_b = self._with_axle_rows(
            poses, c, alpha, obstacles, velocities, (box_A, box_b), torch
        )
        u, status = self._solve_points_torch(
            points,
            u_nom,
            alpha,
            obstacles,
            active,
            self.safety_distance + 2 * offset,
            self.safety_distance / 2 + offset,
            (box_A, box_b),
            responsibility,
        )
        commands = torch.stack([(c * u).sum(-1), (s * u).sum(-1) / offset], dim=-1)
        keep = (status == int(SafetyMode.NOMINAL)) & active
        commands = torch.where(keep.unsqueeze(-1), cmd_nominal, commands)
        return commands, status
