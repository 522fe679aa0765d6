"""The whole filter on the CPU in one compiled pass: neighbour search, CBF rows, exact solve.

Building rows with numpy costs several microseconds per agent in temporaries alone, more than
the solve. Here each agent's neighbours come from a spatial hash (cells of side
``sensing_radius``, agents sorted by (group, cell) key, so a neighbourhood is three contiguous
key ranges; an open-addressing table maps each occupied cell to its range: O(N log N) for the sort,
O(1) per cell lookup), its rows are written into a small
scratch buffer, and :func:`fleetpilot.safety.qp2d._solve_one` solves them, relaxing or braking
as described in :mod:`fleetpilot.safety.cbf`. Groups are independent worlds (the B
environments of a training batch): agents of different groups never see each other. The rows
are exactly those of :mod:`fleetpilot.safety.constraints`; the tests check both paths agree.
"""

from __future__ import annotations

import numba
import numpy as np

from fleetpilot.safety.constraints import CONTACT_TOLERANCE, MIN_RESPONSIBILITY
from fleetpilot.safety.qp2d import FEASIBILITY_TOLERANCE, _solve_one
from fleetpilot.safety.status import SafetyMode

_CELL_BITS = 21
_CELL_LIMIT = (1 << (_CELL_BITS - 1)) - 1  # cells are clipped here; that only merges far cells
_MAX_GROUPS = 1 << _CELL_BITS  # keys are (group, cy, cx) packed in 3 x 21 bits

_NOMINAL = int(SafetyMode.NOMINAL)
_FILTERED = int(SafetyMode.FILTERED)
_RELAXED = int(SafetyMode.RELAXED)
_BRAKING = int(SafetyMode.BRAKING)


@numba.njit(cache=True, nogil=True)
def _cell(value, cell_size):
    c = np.floor(value / cell_size)
    return np.int64(min(max(c, -_CELL_LIMIT), _CELL_LIMIT)) + _CELL_LIMIT + 1


@numba.njit(cache=True, nogil=True)
def _key(group, cy, cx):
    return (np.int64(group) << (2 * _CELL_BITS)) + (cy << _CELL_BITS) + cx


@numba.njit(cache=True, nogil=True)
def _slot(key, size):
    return ((key * np.int64(0x5851F42D4C957F2D)) >> np.int64(17)) & (size - 1)


@numba.njit(cache=True, nogil=True)
def _cell_table(sorted_keys):
    """Open-addressing table: occupied cell key -> [start, stop) in the sorted order."""
    n = sorted_keys.shape[0]
    size = 2
    while size < 2 * n:
        size <<= 1
    table_key = np.full(size, -1, np.int64)  # keys are >= 0
    table_start = np.zeros(size, np.int64)
    table_stop = np.zeros(size, np.int64)
    first = 0
    while first < n:
        last = first + 1
        while last < n and sorted_keys[last] == sorted_keys[first]:
            last += 1
        slot = _slot(sorted_keys[first], size)
        while table_key[slot] != -1:
            slot = (slot + 1) & (size - 1)
        table_key[slot], table_start[slot], table_stop[slot] = sorted_keys[first], first, last
        first = last
    return table_key, table_start, table_stop


@numba.njit(cache=True, nogil=True)
def _cell_range(table_key, table_start, table_stop, key):
    size = table_key.shape[0]
    slot = _slot(key, size)
    while table_key[slot] != key:
        if table_key[slot] == -1:
            return 0, 0
        slot = (slot + 1) & (size - 1)
    return table_start[slot], table_stop[slot]


@numba.njit(cache=True, nogil=True)
def _contact(h):
    if -CONTACT_TOLERANCE <= h < 0.0:
        return 0.0
    return h


@numba.njit(cache=True, nogil=True)
def _nearest_neighbours(i, group, points, order, cells, cell_size, radius2, out_index, out_d2):
    """Fills out_index/out_d2 with agent i's nearest same-group neighbours within the radius,
    nearest first; returns how many."""
    k_max = out_index.shape[0]
    count = 0
    xi, yi = points[i, 0], points[i, 1]
    cx, cy = _cell(xi, cell_size), _cell(yi, cell_size)
    for cell in range(9):
        key = _key(group, cy + cell // 3 - 1, cx + cell % 3 - 1)
        start, stop = _cell_range(cells[0], cells[1], cells[2], key)
        for s in range(start, stop):
            j = order[s]
            if j == i:
                continue
            dx, dyy = xi - points[j, 0], yi - points[j, 1]
            d2 = dx * dx + dyy * dyy
            if d2 > radius2 or (count == k_max and d2 >= out_d2[k_max - 1]):
                continue
            slot = count if count < k_max else k_max - 1  # insertion sort into the top k
            while slot > 0 and out_d2[slot - 1] > d2:
                out_d2[slot] = out_d2[slot - 1]
                out_index[slot] = out_index[slot - 1]
                slot -= 1
            out_d2[slot] = d2
            out_index[slot] = j
            if count < k_max:
                count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _filter_all(
    points,
    u_nom,
    alpha,
    active,
    group_size,
    distance,
    sensing_radius,
    max_neighbors,
    responsibility,
    obstacles,
    walls,
    clearance,
    box_A,
    box_b,
    targets,
):
    n = points.shape[0]
    keys = np.empty(n, np.int64)
    for i in range(n):
        # Inactive agents get a group no query reaches: they are nobody's neighbour.
        group = i // group_size if active[i] else _MAX_GROUPS - 1
        keys[i] = _key(
            group, _cell(points[i, 1], sensing_radius), _cell(points[i, 0], sensing_radius)
        )
    order = np.argsort(keys, kind="mergesort")
    cells = _cell_table(keys[order])
    has_shares = responsibility.shape[0] > 0

    per_agent_rows = box_A.shape[1]
    capacity = max_neighbors + obstacles.shape[1] + walls.shape[0] + per_agent_rows
    A = np.empty((capacity, 2))
    b = np.empty(capacity)
    h = np.empty(capacity)
    neighbour_index = np.empty(max_neighbors, np.int64)
    neighbour_d2 = np.empty(max_neighbors)

    # Every agent is in the spatial hash (a neighbour of others); only the targets are solved.
    t_count = targets.shape[0]
    u = np.empty((t_count, 2))
    status = np.empty(t_count, np.int64)
    min_barrier = np.empty(t_count)
    counts = np.empty(t_count, np.int64)
    slack = np.zeros(t_count)
    radius2 = sensing_radius * sensing_radius
    for t in range(t_count):
        i = targets[t]
        if not active[i]:
            u[t, 0] = u[t, 1] = 0.0
            status[t], min_barrier[t], counts[t] = _NOMINAL, np.inf, 0
            continue
        group, local = i // group_size, i % group_size
        found = _nearest_neighbours(
            i,
            group,
            points,
            order,
            cells,
            sensing_radius,
            radius2,
            neighbour_index,
            neighbour_d2,
        )
        rows = 0
        lowest = np.inf
        for k in range(found):
            j = neighbour_index[k]
            rho = (
                responsibility[group, local, j % group_size] if has_shares else MIN_RESPONSIBILITY
            )
            share = 1.0 - rho
            barrier = neighbour_d2[k] - distance * distance
            A[rows, 0] = 2.0 * (points[i, 0] - points[j, 0])
            A[rows, 1] = 2.0 * (points[i, 1] - points[j, 1])
            b[rows] = -share * alpha[i] * _contact(barrier)
            h[rows] = barrier
            lowest = min(lowest, barrier)
            rows += 1
        for o in range(obstacles.shape[1]):
            ox, oy, radius = obstacles[group, o, 0], obstacles[group, o, 1], obstacles[group, o, 2]
            dx, dy = points[i, 0] - ox, points[i, 1] - oy
            centre2 = dx * dx + dy * dy
            if radius <= 0.0 or np.sqrt(centre2) - radius > sensing_radius:
                continue  # padding, or out of sight
            reach = clearance + radius
            barrier = centre2 - reach * reach
            A[rows, 0] = 2.0 * dx
            A[rows, 1] = 2.0 * dy
            b[rows] = -alpha[i] * _contact(barrier)
            h[rows] = barrier
            lowest = min(lowest, barrier)
            rows += 1
        for w in range(walls.shape[0]):
            gap = walls[w, 0] * points[i, 0] + walls[w, 1] * points[i, 1] - walls[w, 2]
            if gap > sensing_radius:
                continue
            barrier = gap - clearance  # linear in the position: metres, not square metres
            A[rows, 0] = walls[w, 0]
            A[rows, 1] = walls[w, 1]
            b[rows] = -alpha[i] * _contact(barrier)
            h[rows] = barrier
            lowest = min(lowest, barrier)
            rows += 1
        counts[t] = rows
        min_barrier[t] = lowest
        for r in range(per_agent_rows):
            A[rows + r, 0] = box_A[i, r, 0]
            A[rows + r, 1] = box_A[i, r, 1]
            b[rows + r] = box_b[i, r]
            h[rows + r] = np.inf
        total = rows + per_agent_rows

        x, y, ok = _solve_one(u_nom[i, 0], u_nom[i, 1], A, b, total, FEASIBILITY_TOLERANCE)
        if ok:
            nominal = x == u_nom[i, 0] and y == u_nom[i, 1]
            status[t] = _NOMINAL if nominal else _FILTERED
        else:
            relaxation = 0.0
            for r in range(total):  # the documented relaxation: no closing in on overlaps
                if h[r] < -CONTACT_TOLERANCE and b[r] > 0.0:
                    relaxation = max(relaxation, b[r])
                    b[r] = 0.0
            x, y, ok = _solve_one(u_nom[i, 0], u_nom[i, 1], A, b, total, FEASIBILITY_TOLERANCE)
            if ok:
                status[t] = _RELAXED
                slack[t] = relaxation
            else:
                x, y = 0.0, 0.0
                status[t] = _BRAKING
        u[t, 0] = x
        u[t, 1] = y
    return u, status, min_barrier, counts, slack


def filter_groups(
    points: np.ndarray,
    u_nom: np.ndarray,
    alpha: np.ndarray,
    active: np.ndarray | None,
    distance: float,
    sensing_radius: float,
    max_neighbors: int,
    responsibility: np.ndarray | None,
    obstacles: np.ndarray | None,
    clearance: float,
    box: tuple[np.ndarray, np.ndarray],
    walls: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Filters B independent groups of N planar points in one compiled pass.

    Args:
        points, u_nom: (B, N, 2) positions [m] and nominal velocities [m/s].
        alpha: (B, N) effective class-K gains (already capped for discrete time).
        active: (B, N) bool or None; inactive agents are nobody's neighbour and get u = 0.
        distance: smallest allowed point distance [m]; clearance: to obstacle surfaces [m].
        sensing_radius, max_neighbors: who counts as a neighbour.
        responsibility: (B, N, N) rho_ij in [1/2, 1], or None for 1/2.
        obstacles: (B, M, 3) [x, y, r] (r <= 0: padding) or None.
        box: each agent's own rows, never relaxed: the speed limits and any others that
            u = 0 always satisfies; normals (B, N, K, 2) and right-hand sides (B, N, K).
        walls: (W, 3) half-planes [nx, ny, offset] (unit normal pointing inside: a point p is
            inside when n . p >= offset), shared by every group; or None.

    Returns:
        u (B, N, 2), status (B, N) SafetyMode codes, min barrier (B, N) (inf without rows),
        neighbour + obstacle + wall row counts (B, N), slack (B, N): the largest amount a
        right-hand side was lowered by the relaxation [m^2/s] (0 unless RELAXED).
    """
    B, N = points.shape[:2]
    if B >= _MAX_GROUPS:
        raise ValueError(f"points: at most {_MAX_GROUPS - 1} groups, got {B}")
    result = _filter_flat(
        points,
        u_nom,
        alpha,
        active,
        distance,
        sensing_radius,
        max_neighbors,
        responsibility,
        obstacles,
        clearance,
        box,
        walls,
        np.arange(B * N, dtype=np.int64),
    )
    u, status, min_barrier, counts, slack = result
    return (
        u.reshape(B, N, 2),
        status.reshape(B, N),
        min_barrier.reshape(B, N),
        counts.reshape(B, N),
        slack.reshape(B, N),
    )


def _filter_flat(
    points,
    u_nom,
    alpha,
    active,
    distance,
    sensing_radius,
    max_neighbors,
    responsibility,
    obstacles,
    clearance,
    box,
    walls,
    targets,
):
    """:func:`filter_groups`'s arguments flattened for the compiled pass; solves only the
    flat agent indices ``targets`` and returns (K, ...) arrays in their order."""
    B, N = points.shape[:2]
    f64 = np.float64
    return _filter_all(
        np.ascontiguousarray(points, dtype=f64).reshape(B * N, 2),
        np.ascontiguousarray(u_nom, dtype=f64).reshape(B * N, 2),
        np.ascontiguousarray(alpha, dtype=f64).reshape(B * N),
        np.ones(B * N, np.bool_) if active is None else np.ascontiguousarray(active).reshape(-1),
        max(N, 1),
        float(distance),
        float(sensing_radius),
        int(max_neighbors),
        np.zeros((0, 0, 0))
        if responsibility is None
        else np.ascontiguousarray(responsibility, f64),
        np.zeros((B, 0, 3)) if obstacles is None else np.ascontiguousarray(obstacles, dtype=f64),
        np.zeros((0, 3)) if walls is None else np.ascontiguousarray(walls, dtype=f64),
        float(clearance),
        np.ascontiguousarray(box[0], dtype=f64).reshape(B * N, -1, 2),
        np.ascontiguousarray(box[1], dtype=f64).reshape(B * N, -1),
        targets,
    )


def filter_points(
    points: np.ndarray,
    u_nom: np.ndarray,
    alpha: np.ndarray,
    distance: float,
    sensing_radius: float,
    max_neighbors: int,
    responsibility: np.ndarray | None,
    obstacles: np.ndarray | None,
    clearance: float,
    box: tuple[np.ndarray, np.ndarray],
    walls: np.ndarray | None = None,
    agents: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One world of N points: :func:`filter_groups` with B = 1 and (N, ...) arrays
    (obstacles (M, 3), responsibility (N, N)).

    ``agents``: indices of the agents to solve for (every agent still counts as everyone's
    neighbour), or None for all; results come as (K, ...) arrays in that order. Each agent's
    QP depends only on its own row, so one robot's node solves just its own.
    """
    n = len(points)
    if agents is None:
        targets = np.arange(n, dtype=np.int64)
    else:
        targets = np.asarray(agents, dtype=np.int64).reshape(-1)
        if np.any((targets < 0) | (targets >= n)):
            raise ValueError(f"agents: expected indices in [0, {n}), got {targets.tolist()}")
    return _filter_flat(
        points[None],
        u_nom[None],
        alpha[None],
        None,
        distance,
        sensing_radius,
        max_neighbors,
        None if responsibility is None else responsibility[None],
        None if obstacles is None else obstacles[None],
        clearance,
        (box[0][None], box[1][None]),
        walls,
        targets,
    )
