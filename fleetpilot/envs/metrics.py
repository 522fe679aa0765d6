"""Episode metrics of multi-agent navigation, tracked for B environments at once.

Definitions (t counts control ticks from 0; a tick advances time by dt):

* arrival: an agent arrives at the end of the first tick after which it is within the goal
  tolerance of its goal; its time-to-goal is (tick + 1) * dt. Arrival is latched.
* success: every agent arrived before the horizon. makespan: the last arrival time of a
  successful episode (None otherwise).
* collision: the start of a contact, i.e. a tick at whose end two agents' centres are closer than
  the sum of their radii (an agent's centre closer to an obstacle's surface than its radius),
  while they were not in contact the tick before. Counted per pair (agent-agent) or per agent
  and obstacle (agent-obstacle).
* deadlock: an agent that has not arrived moves slower than ``deadlock_speed`` for at least
  ``deadlock_time`` in a row (latched; the episode counts as a deadlock if any agent does).
* path-length ratio: distance travelled until arrival (or the end) / straight start-goal line.
* minimum distance: smallest centre distance between any two agents over the episode.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from fleetpilot.safety.status import SafetyMode


@dataclass(frozen=True)
class MetricsConfig:
    """Thresholds of the metrics.

    Attributes:
        dt: control period [s].
        goal_tolerance: arrival distance [m].
        deadlock_speed: an agent slower than this is stalled [m/s].
        deadlock_time: stalled this long in a row (not at the goal) is a deadlock [s].
        contact_tolerance: overlaps shallower than this are not contacts [m]; covers float32
            rounding of distances, far below any physical contact.
    """

    dt: float
    goal_tolerance: float
    deadlock_speed: float = 0.05
    deadlock_time: float = 5.0
    contact_tolerance: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("dt", "goal_tolerance", "deadlock_speed", "deadlock_time"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        if not (math.isfinite(self.contact_tolerance) and self.contact_tolerance >= 0):
            raise ValueError(
                f"contact_tolerance: expected a number >= 0, got {self.contact_tolerance!r}"
            )

    @property
    def deadlock_steps(self) -> int:
        """Consecutive stalled ticks that make a deadlock."""
        return max(1, math.ceil(self.deadlock_time / self.dt - 1e-9))


@dataclass(frozen=True)
class EpisodeMetrics:
    """The outcome of one finished episode (plain Python values, JSON-ready via ``asdict``).

    Attributes:
        success: every agent arrived before the horizon.
        steps: ticks run.
        collisions: agent_collisions + obstacle_collisions.
        agent_collisions: agent-agent contact starts (per pair).
        obstacle_collisions: agent-obstacle contact starts.
        deadlock: at least one agent deadlocked.
        makespan: last arrival time [s] if successful, else None.
        mean_time_to_goal: mean arrival time of the agents that arrived [s], or None.
        path_length_ratio: mean travelled / straight-line distance of arrived agents, or None.
        min_distance: smallest centre distance between two agents [m] (None for one agent).
        min_obstacle_gap: smallest distance from an agent's centre to an obstacle surface [m]
            (None without obstacles).
        arrived_fraction: share of agents that arrived.
        max_arrived_offset: at the episode's end, the largest distance from its goal of an
            agent that had arrived [m] (None if none had): parked agents that make way may
            have left their goals (see :func:`fleetpilot.envs.nominal.nominal_with_parking`).
        safety_modes: SafetyMode name -> agent-ticks the filter reported it.
        agents: per agent: arrived, time_to_goal, path_length, path_length_ratio, collisions,
            deadlocked.
    """

    success: bool
    steps: int
    collisions: int
    agent_collisions: int
    obstacle_collisions: int
    deadlock: bool
    makespan: float | None
    mean_time_to_goal: float | None
    path_length_ratio: float | None
    min_distance: float | None
    min_obstacle_gap: float | None
    arrived_fraction: float
    max_arrived_offset: float | None
    safety_modes: dict[str, int]
    agents: dict[str, list]

    def to_dict(self, per_agent: bool = True) -> dict:
        data = asdict(self)
        if not per_agent:
            del data["agents"]
        return data


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class MetricsTracker:
    """Accumulates the metrics of B episodes tick by tick (all state is (B, ...) tensors).

    Args:
        config: thresholds.
        num_envs: B.
        num_agents: N.
        device: where the state lives.
    """

    def __init__(
        self, config: MetricsConfig, num_envs: int, num_agents: int, device: torch.device
    ) -> None:
        self.config = config
        shape = (num_envs, num_agents)
        zeros = dict(device=device)
        self.steps = torch.zeros(num_envs, dtype=torch.long, **zeros)
        self.arrived = torch.zeros(shape, dtype=torch.bool, **zeros)
        self.arrival_step = torch.full(shape, -1, dtype=torch.long, **zeros)
        self.path_length = torch.zeros(shape, dtype=torch.float64, **zeros)
        self.straight_line = torch.ones(shape, dtype=torch.float64, **zeros)
        self.goal_distance = torch.zeros(shape, dtype=torch.float64, **zeros)
        self.stalled_steps = torch.zeros(shape, dtype=torch.long, **zeros)
        self.deadlocked = torch.zeros(shape, dtype=torch.bool, **zeros)
        self.agent_collisions = torch.zeros(shape, dtype=torch.long, **zeros)
        self.obstacle_collisions = torch.zeros(shape, dtype=torch.long, **zeros)
        self.pair_contact = torch.zeros(
            (num_envs, num_agents, num_agents), dtype=torch.bool, **zeros
        )
        self.obstacle_contact = torch.zeros((num_envs, num_agents, 0), dtype=torch.bool, **zeros)
        self.pair_collision_total = torch.zeros(num_envs, dtype=torch.long, **zeros)
        self.min_distance = torch.full((num_envs,), math.inf, dtype=torch.float64, **zeros)
        self.min_obstacle_gap = torch.full((num_envs,), math.inf, dtype=torch.float64, **zeros)
        self.mode_counts = torch.zeros((num_envs, len(SafetyMode)), dtype=torch.long, **zeros)
        self._pairs_touching = False
        self._obstacles_touching = False

    def reset(self, envs: torch.Tensor, starts: torch.Tensor, goals: torch.Tensor) -> None:
        """Starts new episodes in ``envs`` (K,) long with starts and goals (K, N, 2) [m]."""
        for tensor in (
            self.steps,
            self.path_length,
            self.stalled_steps,
            self.agent_collisions,
            self.obstacle_collisions,
            self.pair_collision_total,
            self.mode_counts,
        ):
            tensor[envs] = 0
        for tensor in (self.arrived, self.deadlocked, self.pair_contact, self.obstacle_contact):
            tensor[envs] = False
        self.arrival_step[envs] = -1
        self.min_distance[envs] = math.inf
        self.min_obstacle_gap[envs] = math.inf
        self.straight_line[envs] = torch.linalg.vector_norm(goals - starts, dim=-1).double()
        self.goal_distance[envs] = self.straight_line[envs]
        self._pairs_touching = bool(self.pair_contact.any())
        self._obstacles_touching = bool(self.obstacle_contact.any())

    def resize_obstacles(self, count: int) -> None:
        """Makes room for ``count`` obstacle rows (contacts with new rows start False)."""
        missing = count - self.obstacle_contact.shape[2]
        if missing > 0:
            pad = self.obstacle_contact.new_zeros((*self.obstacle_contact.shape[:2], missing))
            self.obstacle_contact = torch.cat([self.obstacle_contact, pad], dim=2)

    def update(
        self,
        previous_positions: torch.Tensor,
        positions: torch.Tensor,
        goals: torch.Tensor,
        radii: torch.Tensor,
        distances: torch.Tensor,
        obstacle_gaps: torch.Tensor,
        status: torch.Tensor,
        running: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Accounts for one tick of the environments in ``running``.

        Args:
            previous_positions: (B, N, 2) positions before the tick [m].
            positions: (B, N, 2) positions after the tick [m].
            goals: (B, N, 2) [m].
            radii: (B, N) body radii [m].
            distances: (B, N, N) centre distances after the tick [m], +inf on the diagonal.
            obstacle_gaps: (B, N, M) centre-to-obstacle-surface distances [m] (+inf padding).
            status: (B, N) SafetyMode codes of the tick.
            running: (B,) bool; other environments are left untouched.

        Returns:
            newly_arrived (B, N) bool and new_contacts (B, N) long (contact starts per agent).
        """
        config = self.config
        run = running.unsqueeze(-1)
        step = positions - previous_positions
        step_length = torch.hypot(step[..., 0], step[..., 1])
        was_arrived = self.arrived
        self.path_length += torch.where(run & ~was_arrived, step_length, 0).double()

        goal_distance = torch.linalg.vector_norm(goals - positions, dim=-1)
        self.goal_distance = torch.where(run, goal_distance.double(), self.goal_distance)
        near_goal = goal_distance <= config.goal_tolerance
        newly_arrived = run & near_goal & ~was_arrived
        self.arrival_step = torch.where(newly_arrived, self.steps.unsqueeze(-1), self.arrival_step)
        self.arrived = was_arrived | newly_arrived

        stalled = run & ~self.arrived & (step_length < config.deadlock_speed * config.dt)
        self.stalled_steps = torch.where(stalled, self.stalled_steps + 1, 0)
        self.deadlocked |= self.stalled_steps >= config.deadlock_steps

        # Contacts: the full pairwise bookkeeping only runs when some pair is within contact
        # range now or was in contact on the previous tick (rare with the filter on).
        tolerance = config.contact_tolerance
        reach = 2 * float(radii.max()) - tolerance
        frozen = ~running[:, None, None]
        count = distances.shape[1]
        closest = distances.flatten(1).min(dim=1).values if count > 1 else None
        agent_new = torch.zeros_like(self.agent_collisions)
        if closest is not None and (bool((closest < reach).any()) or self._pairs_touching):
            contact = distances < radii.unsqueeze(2) + radii.unsqueeze(1) - tolerance
            contact = contact.masked_fill(frozen, False)
            new_pairs = contact & ~self.pair_contact
            self.pair_contact = torch.where(frozen, self.pair_contact, contact)
            self._pairs_touching = bool(self.pair_contact.any())
            agent_new = new_pairs.sum(dim=2)
            self.pair_collision_total += new_pairs.sum(dim=(1, 2)) // 2  # each pair seen twice
        obstacle_new = torch.zeros_like(self.obstacle_collisions)
        nearest_gap = (
            obstacle_gaps.flatten(1).min(dim=1).values if obstacle_gaps.shape[2] else None
        )
        obstacle_reach = float(radii.max()) - tolerance
        if nearest_gap is not None and (
            bool((nearest_gap < obstacle_reach).any()) or self._obstacles_touching
        ):
            contact = obstacle_gaps < radii.unsqueeze(-1) - tolerance
            contact = contact.masked_fill(frozen, False)
            new_obstacles = contact & ~self.obstacle_contact
            self.obstacle_contact = torch.where(frozen, self.obstacle_contact, contact)
            self._obstacles_touching = bool(self.obstacle_contact.any())
            obstacle_new = new_obstacles.sum(dim=2)
        self.agent_collisions += agent_new
        self.obstacle_collisions += obstacle_new

        if closest is not None:
            self.min_distance = torch.where(
                running, torch.minimum(self.min_distance, closest.double()), self.min_distance
            )
        if nearest_gap is not None:
            self.min_obstacle_gap = torch.where(
                running,
                torch.minimum(self.min_obstacle_gap, nearest_gap.double()),
                self.min_obstacle_gap,
            )
        modes = len(SafetyMode)
        slots = (torch.arange(len(status), device=status.device) * modes).unsqueeze(-1)
        counts = torch.bincount((slots + status.long()).flatten(), minlength=len(status) * modes)
        self.mode_counts += counts.view(-1, modes) * running.unsqueeze(-1).long()
        self.steps += running.long()
        return newly_arrived, agent_new + obstacle_new

    def episode(self, env: int) -> EpisodeMetrics:
        """The metrics of environment ``env``'s current episode, as plain Python values."""
        dt = self.config.dt
        arrived = self.arrived[env].tolist()
        arrival_times = [
            (step + 1) * dt if done else None
            for step, done in zip(self.arrival_step[env].tolist(), arrived, strict=True)
        ]
        path_lengths = self.path_length[env].tolist()
        ratios = (self.path_length[env] / self.straight_line[env]).tolist()
        arrived_times = [t for t in arrival_times if t is not None]
        arrived_ratios = [r for r, done in zip(ratios, arrived, strict=True) if done]
        success = all(arrived)
        offsets = [
            d for d, done in zip(self.goal_distance[env].tolist(), arrived, strict=True) if done
        ]
        agent_collisions = int(self.pair_collision_total[env])
        obstacle_collisions = int(self.obstacle_collisions[env].sum())
        return EpisodeMetrics(
            success=success,
            steps=int(self.steps[env]),
            collisions=agent_collisions + obstacle_collisions,
            agent_collisions=agent_collisions,
            obstacle_collisions=obstacle_collisions,
            deadlock=bool(self.deadlocked[env].any()),
            makespan=max(arrived_times) if success else None,
            mean_time_to_goal=sum(arrived_times) / len(arrived_times) if arrived_times else None,
            path_length_ratio=(
                sum(arrived_ratios) / len(arrived_ratios) if arrived_ratios else None
            ),
            min_distance=_finite_or_none(float(self.min_distance[env])),
            min_obstacle_gap=_finite_or_none(float(self.min_obstacle_gap[env])),
            arrived_fraction=sum(arrived) / len(arrived),
            max_arrived_offset=max(offsets) if offsets else None,
            safety_modes={
                mode.name: int(count)
                for mode, count in zip(SafetyMode, self.mode_counts[env].tolist(), strict=True)
            },
            agents={
                "arrived": arrived,
                "time_to_goal": arrival_times,
                "path_length": path_lengths,
                "path_length_ratio": ratios,
                "collisions": (
                    self.agent_collisions[env] + self.obstacle_collisions[env]
                ).tolist(),
                "deadlocked": self.deadlocked[env].tolist(),
            },
        )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(episodes: list[EpisodeMetrics], per_agent: bool = False) -> dict:
    """Aggregate metrics of several episodes (JSON-ready).

    Returns:
        ``success_rate``, ``collisions`` (total count), ``agent_collisions``,
        ``obstacle_collisions``, ``deadlock_rate``, ``makespan`` (mean over successful
        episodes [s], None if none succeeded), ``mean_time_to_goal`` [s],
        ``path_length_ratio``, ``min_distance`` (smallest over all episodes [m]),
        ``min_obstacle_gap`` [m], ``arrived_fraction``, ``max_arrived_offset`` (largest over
        all episodes [m], None if no agent arrived), ``episodes`` (count), ``per_episode``
        (metric -> list, one entry per episode) and, with ``per_agent``, ``agents`` (one dict
        of per-agent lists per episode).
    """
    if not episodes:
        raise ValueError("episodes: expected at least one finished episode, got none")
    count = len(episodes)
    distances = [e.min_distance for e in episodes if e.min_distance is not None]
    gaps = [e.min_obstacle_gap for e in episodes if e.min_obstacle_gap is not None]
    offsets = [e.max_arrived_offset for e in episodes if e.max_arrived_offset is not None]
    keys = (
        "success",
        "collisions",
        "deadlock",
        "makespan",
        "mean_time_to_goal",
        "path_length_ratio",
        "min_distance",
        "arrived_fraction",
        "max_arrived_offset",
        "steps",
    )
    summary = {
        "episodes": count,
        "success_rate": sum(e.success for e in episodes) / count,
        "collisions": sum(e.collisions for e in episodes),
        "agent_collisions": sum(e.agent_collisions for e in episodes),
        "obstacle_collisions": sum(e.obstacle_collisions for e in episodes),
        "deadlock_rate": sum(e.deadlock for e in episodes) / count,
        "makespan": _mean([e.makespan for e in episodes]),
        "mean_time_to_goal": _mean([e.mean_time_to_goal for e in episodes]),
        "path_length_ratio": _mean([e.path_length_ratio for e in episodes]),
        "min_distance": min(distances) if distances else None,
        "min_obstacle_gap": min(gaps) if gaps else None,
        "arrived_fraction": sum(e.arrived_fraction for e in episodes) / count,
        "max_arrived_offset": max(offsets) if offsets else None,
        "per_episode": {key: [getattr(e, key) for e in episodes] for key in keys},
    }
    if per_agent:
        summary["agents"] = [e.agents for e in episodes]
    return summary
