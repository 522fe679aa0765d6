"""Validated configuration of the batched navigation environment."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetpilot.envs.actions import ActionLayout
from fleetpilot.scenarios import Scenario

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the per-agent reward (see ``NavEnv.step``).

    Attributes:
        progress: per metre of progress toward the goal on a tick.
        arrival: once, on the tick an agent arrives.
        collision: per contact start the agent takes part in.
        time: per second an agent has not arrived yet.
    """

    progress: float = 1.0
    arrival: float = 5.0
    collision: float = 10.0
    time: float = 0.1

    def __post_init__(self) -> None:
        for name in ("progress", "arrival", "collision", "time"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name}: expected a weight >= 0, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite weight, got {value!r}")


@dataclass(frozen=True)
class NavEnvConfig:
    """Everything that defines a :class:`~fleetpilot.envs.nav_env.NavEnv`.

    Attributes:
        scenario: the scenario (family) every environment samples its layouts from.
        num_envs: B, environments stepped together.
        num_agents: N; None keeps the scenario's team size (only generator families can change
            it).
        action_parameters: names of the action's last axis (see ``fleetpilot.envs.actions``).
        max_steps: ticks per episode; None derives it from the scenario's horizon and dt.
        seed: base seed of the layouts until ``reset(seed=...)`` sets another.
        autoreset: reset finished environments within the same ``step`` (for training);
            otherwise they stay frozen until the next ``reset`` (for evaluation).
        deadlock_speed: an agent slower than this is stalled [m/s].
        deadlock_time: stalled this long in a row (not at the goal) is a deadlock [s].
        reward: reward weights.
        device: torch device of every tensor.
        dtype: ``float32`` or ``float64`` for states, actions and observations.
        obstacle_rays: rays of the obstacle scan in each agent's observation (what the tuner
            was trained with, :func:`fleetpilot.envs.tuners.observation_scan`); 0 for none.
        obstacle_ray_range: reach of that scan [m]; None for the scenario's sensing radius.
    """

    scenario: Scenario
    num_envs: int = 1
    num_agents: int | None = None
    action_parameters: tuple[str, ...] = ("alpha", "gain")
    max_steps: int | None = None
    seed: int = 0
    autoreset: bool = False
    deadlock_speed: float = 0.05
    deadlock_time: float = 5.0
    reward: RewardConfig = RewardConfig()
    device: str = "cpu"
    dtype: str = "float32"
    obstacle_rays: int = 0
    obstacle_ray_range: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, Scenario):
            raise ValueError(f"scenario: expected a Scenario, got {type(self.scenario).__name__}")
        for name, minimum, optional in (
            ("num_envs", 1, False),
            ("num_agents", 1, True),
            ("max_steps", 1, True),
            ("seed", 0, False),
            ("obstacle_rays", 0, False),
        ):
            value = getattr(self, name)
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
        try:
            ActionLayout(tuple(self.action_parameters))
        except ValueError as error:
            raise ValueError(f"action_parameters.{error}") from error
        object.__setattr__(self, "action_parameters", tuple(self.action_parameters))
        for name in ("deadlock_speed", "deadlock_time"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        if not isinstance(self.reward, RewardConfig):
            raise ValueError(f"reward: expected a RewardConfig, got {self.reward!r}")
        if not isinstance(self.autoreset, bool):
            raise ValueError(f"autoreset: expected true or false, got {self.autoreset!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {self.dtype!r}")
