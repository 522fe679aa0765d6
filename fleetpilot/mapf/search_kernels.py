"""Compiled (numba) grid searches on a flat 4-connected grid: BFS, components, A*.

Every kernel takes ``free``: (H*W,) bool row-major and the grid ``width``; cells are flat indices
``row * width + col``. Distances are in moves; unreachable cells get ``UNREACHABLE``.
"""

from __future__ import annotations

import numba
import numpy as np

UNREACHABLE = np.int32(2**30)


@numba.njit(cache=True, inline="always")
def _neighbour(cell: int, direction: int, height: int, width: int) -> int:
    """Flat index of the neighbour in direction 1..4 (up, down, left, right), or -1."""
    row, col = cell // width, cell % width
    if direction == 1:
        return cell - width if row > 0 else -1
    if direction == 2:
        return cell + width if row < height - 1 else -1
    if direction == 3:
        return cell - 1 if col > 0 else -1
    return cell + 1 if col < width - 1 else -1


@numba.njit(cache=True)
def bfs_distances(free: np.ndarray, width: int, source: int) -> np.ndarray:
    """Moves from ``source`` to every cell.

    Returns:
        (H*W,) int32; ``UNREACHABLE`` for blocked or disconnected cells.
    """
    size = free.size
    height = size // width
    dist = np.full(size, UNREACHABLE, dtype=np.int32)
    if not free[source]:
        return dist
    queue = np.empty(size, dtype=np.int64)
    queue[0] = source
    dist[source] = 0
    head, tail = 0, 1
    while head < tail:
        cell = queue[head]
        head += 1
        for direction in range(1, 5):
            nxt = _neighbour(cell, direction, height, width)
            if nxt >= 0 and free[nxt] and dist[nxt] == UNREACHABLE:
                dist[nxt] = dist[cell] + 1
                queue[tail] = nxt
                tail += 1
    return dist


@numba.njit(cache=True)
def bfs_distances_many(free: np.ndarray, width: int, sources: np.ndarray) -> np.ndarray:
    """:func:`bfs_distances` for several sources; (len(sources), H*W) int32."""
    out = np.empty((sources.size, free.size), dtype=np.int32)
    for index in range(sources.size):
        out[index] = bfs_distances(free, width, sources[index])
    return out


@numba.njit(cache=True)
def connected_components(free: np.ndarray, width: int) -> np.ndarray:
    """Component labels numbered in row-major order of each component's first cell.

    Returns:
        (H*W,) int32, -1 for blocked cells, else 0, 1, ...
    """
    size = free.size
    height = size // width
    labels = np.full(size, -1, dtype=np.int32)
    queue = np.empty(size, dtype=np.int64)
    next_label = 0
    for start in range(size):
        if not free[start] or labels[start] >= 0:
            continue
        labels[start] = next_label
        queue[0] = start
        head, tail = 0, 1
        while head < tail:
            cell = queue[head]
            head += 1
            for direction in range(1, 5):
                nxt = _neighbour(cell, direction, height, width)
                if nxt >= 0 and free[nxt] and labels[nxt] < 0:
                    labels[nxt] = next_label
                    queue[tail] = nxt
                    tail += 1
        next_label += 1
    return labels


@numba.njit(cache=True)
def mean_distances(free: np.ndarray, width: int, sources: np.ndarray) -> np.ndarray:
    """Mean BFS distance from every free cell to the reachable ``sources``.

    Returns:
        (H*W,) float64; 0 where no source is reachable.
    """
    total = np.zeros(free.size, dtype=np.float64)
    count = np.zeros(free.size, dtype=np.float64)
    for index in range(sources.size):
        dist = bfs_distances(free, width, sources[index])
        for cell in range(free.size):
            if dist[cell] != UNREACHABLE and dist[cell] > 0:
                total[cell] += dist[cell]
                count[cell] += 1.0
    out = np.zeros(free.size, dtype=np.float64)
    for cell in range(free.size):
        if count[cell] > 0:
            out[cell] = total[cell] / count[cell]
    return out


@numba.njit(cache=True, inline="always")
def _heap_less(key_a: float, depth_a: float, key_b: float, depth_b: float) -> bool:
    # Ties on f go to the deeper node: it reaches the goal with fewer expansions.
    return key_a < key_b or (key_a == key_b and depth_a > depth_b)


@numba.njit(cache=True)
def _heap_push(keys, depths, nodes, size, key, depth, node):
    index = size
    keys[index], depths[index], nodes[index] = key, depth, node
    while index > 0:
        parent = (index - 1) // 2
        if _heap_less(keys[index], depths[index], keys[parent], depths[parent]):
            keys[index], keys[parent] = keys[parent], keys[index]
            depths[index], depths[parent] = depths[parent], depths[index]
            nodes[index], nodes[parent] = nodes[parent], nodes[index]
            index = parent
        else:
            break
    return size + 1


@numba.njit(cache=True)
def _heap_pop(keys, depths, nodes, size):
    node = nodes[0]
    size -= 1
    keys[0], depths[0], nodes[0] = keys[size], depths[size], nodes[size]
    index = 0
    while True:
        left, right, best = 2 * index + 1, 2 * index + 2, index
        if left < size and _heap_less(keys[left], depths[left], keys[best], depths[best]):
            best = left
        if right < size and _heap_less(keys[right], depths[right], keys[best], depths[best]):
            best = right
        if best == index:
            break
        keys[index], keys[best] = keys[best], keys[index]
        depths[index], depths[best] = depths[best], depths[index]
        nodes[index], nodes[best] = nodes[best], nodes[index]
        index = best
    return node, size


@numba.njit(cache=True)
def astar_paths(
    free: np.ndarray,
    width: int,
    starts: np.ndarray,
    goals: np.ndarray,
    static_cost: np.ndarray,
    agent_cost: np.ndarray,
    use_agent_cost: bool,
    prefix_length: int,
    heuristic: np.ndarray,
    use_heuristic_table: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest path for every agent; entering cell c costs ``static_cost[c] + agent_cost[i, c]``.

    The heuristic is either the Manhattan distance, admissible because every cost is >= 1
    (callers guarantee it), or ``heuristic[i]``: each agent's static-cost-to-goal table, which is
    admissible and consistent because agent costs are >= 0, and much tighter when the static
    costs exceed 1. Cells with an infinite table entry cannot reach the goal and are skipped.

    Args:
        free: (H*W,) bool.
        width: grid width.
        starts: (N,) int64 start cells.
        goals: (N,) int64 goal cells.
        static_cost: (H*W,) float64, >= 1.
        agent_cost: (N, H*W) float32, >= 0, extra per-agent cost (ignored unless use_agent_cost).
        use_agent_cost: whether to add ``agent_cost``.
        prefix_length: how many cells of each path to return.
        heuristic: (N, H*W) float64 cost-to-goal lower bounds (ignored unless
            use_heuristic_table).
        use_heuristic_table: use ``heuristic`` instead of the Manhattan distance.

    Returns:
        (paths, lengths): paths (N, prefix_length) int64, the path's cells starting with the
        start cell, -1 padded; lengths (N,) int64 full path lengths in cells (0 if unreachable).
    """
    size = free.size
    height = size // width
    num_agents = starts.size
    paths = np.full((num_agents, prefix_length), -1, dtype=np.int64)
    lengths = np.zeros(num_agents, dtype=np.int64)
    g = np.empty(size, dtype=np.float64)
    parent = np.empty(size, dtype=np.int64)
    stamp = np.zeros(size, dtype=np.int64)  # search id that last touched the cell
    closed = np.zeros(size, dtype=np.int64)
    capacity = 4 * size + 4
    keys = np.empty(capacity, dtype=np.float64)
    depths = np.empty(capacity, dtype=np.float64)
    nodes = np.empty(capacity, dtype=np.int64)
    chain = np.empty(size, dtype=np.int64)
    for agent in range(num_agents):
        search_id = agent + 1
        start, goal = starts[agent], goals[agent]
        goal_row, goal_col = goal // width, goal % width
        stamp[start] = search_id
        g[start] = 0.0
        parent[start] = -1
        if use_heuristic_table:
            start_h = heuristic[agent, start]
        else:
            start_h = abs(start // width - goal_row) + abs(start % width - goal_col)
        if start_h == np.inf:
            paths[agent, 0] = start
            continue
        heap_size = _heap_push(keys, depths, nodes, 0, start_h, 0.0, start)
        found = False
        while heap_size > 0:
            cell, heap_size = _heap_pop(keys, depths, nodes, heap_size)
            if closed[cell] == search_id:
                continue
            closed[cell] = search_id
            if cell == goal:
                found = True
                break
            for direction in range(1, 5):
                nxt = _neighbour(cell, direction, height, width)
                if nxt < 0 or not free[nxt] or closed[nxt] == search_id:
                    continue
                step = static_cost[nxt]
                if use_agent_cost:
                    step += agent_cost[agent, nxt]
                candidate = g[cell] + step
                if stamp[nxt] != search_id or candidate < g[nxt]:
                    stamp[nxt] = search_id
                    g[nxt] = candidate
                    parent[nxt] = cell
                    if use_heuristic_table:
                        estimate = heuristic[agent, nxt]
                        if estimate == np.inf:
                            continue
                    else:
                        estimate = abs(nxt // width - goal_row) + abs(nxt % width - goal_col)
                    if heap_size < capacity:
                        heap_size = _heap_push(
                            keys, depths, nodes, heap_size, candidate + estimate, candidate, nxt
                        )
        if not found:
            paths[agent, 0] = start
            continue
        count = 0
        cell = goal
        while cell != -1:
            chain[count] = cell
            count += 1
            cell = parent[cell]
        lengths[agent] = count
        for index in range(min(count, prefix_length)):
            paths[agent, index] = chain[count - 1 - index]
    return paths, lengths


@numba.njit(cache=True)
def weighted_costs_to(
    free: np.ndarray, width: int, goal: int, cell_cost: np.ndarray
) -> np.ndarray:
    """Cheapest cost from every cell to ``goal`` when entering cell c costs ``cell_cost[c]``.

    Dijkstra run backwards from the goal: the cost of v is the sum of the costs of the cells
    entered on the way from v to the goal (the goal included, v itself not).

    Returns:
        (H*W,) float64; ``inf`` for blocked or disconnected cells.
    """
    size = free.size
    height = size // width
    cost = np.full(size, np.inf)
    if not free[goal]:
        return cost
    done = np.zeros(size, dtype=np.bool_)
    capacity = 4 * size + 4
    keys = np.empty(capacity, dtype=np.float64)
    depths = np.zeros(capacity, dtype=np.float64)
    nodes = np.empty(capacity, dtype=np.int64)
    cost[goal] = 0.0
    heap_size = _heap_push(keys, depths, nodes, 0, 0.0, 0.0, goal)
    while heap_size > 0:
        cell, heap_size = _heap_pop(keys, depths, nodes, heap_size)
        if done[cell]:
            continue
        done[cell] = True
        for direction in range(1, 5):
            nxt = _neighbour(cell, direction, height, width)
            if nxt < 0 or not free[nxt] or done[nxt]:
                continue
            candidate = cost[cell] + cell_cost[cell]
            if candidate < cost[nxt] and heap_size < capacity:
                cost[nxt] = candidate
                heap_size = _heap_push(keys, depths, nodes, heap_size, candidate, 0.0, nxt)
    return cost
