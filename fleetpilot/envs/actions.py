"""The tuner-facing action: per-agent CBF and controller parameters, by name.

An action is a (B, N, P) tensor whose last axis follows an :class:`ActionLayout` (an ordered
tuple of parameter names). New parameters (per-neighbour responsibility shares, ...) are added
to :data:`ACTION_PARAMETERS` and consumed by the environment; layouts that do not name a
parameter get its default, so existing tuners keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch


@dataclass(frozen=True)
class ActionParameter:
    """One tunable parameter: its bounds (actions are clipped to them) and default."""

    low: float
    high: float
    default: float
    description: str


ACTION_PARAMETERS: Mapping[str, ActionParameter] = MappingProxyType(
    {
        "alpha": ActionParameter(
            low=0.05,
            high=10.0,
            default=1.0,
            description="CBF class-K gain [1/s]: how fast an agent may close on a neighbour",
        ),
        "gain": ActionParameter(
            low=0.1,
            high=5.0,
            default=1.0,
            description="go-to-goal proportional gain [1/s] of the nominal controller",
        ),
        "tangential": ActionParameter(
            low=-1.0,
            high=1.0,
            default=0.0,
            description=(
                "sideways bias of the nominal velocity, as a fraction of the go-to-goal speed "
                "(positive turns left of the goal direction)"
            ),
        ),
        "make_way": ActionParameter(
            low=0.0,
            high=4.0,
            default=0.0,
            description=(
                "how hard an agent parked at its goal moves out of the way of neighbours still "
                "travelling [m/s at contact]; 0 (default): a parked agent stays where it stopped"
            ),
        ),
    }
)
"""Name -> parameter; read-only."""


@dataclass(frozen=True)
class ActionLayout:
    """Which parameters the last axis of an action holds, in order.

    Attributes:
        names: parameter names from :data:`ACTION_PARAMETERS`, unique.
    """

    names: tuple[str, ...] = ("alpha", "gain")

    def __post_init__(self) -> None:
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        if not names:
            raise ValueError("names: expected at least one action parameter, got ()")
        for index, name in enumerate(names):
            if name not in ACTION_PARAMETERS:
                raise ValueError(
                    f"names[{index}]: expected one of {', '.join(ACTION_PARAMETERS)}, got {name!r}"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"names: expected unique parameter names, got {names}")

    @property
    def size(self) -> int:
        """P, the length of the action's last axis."""
        return len(self.names)

    def bounds(self) -> tuple[list[float], list[float]]:
        """(low, high), each a list of P floats."""
        return (
            [ACTION_PARAMETERS[name].low for name in self.names],
            [ACTION_PARAMETERS[name].high for name in self.names],
        )

    def unpack(self, action: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every known parameter as a (B, N) tensor, clipped to its bounds.

        Args:
            action: (B, N, P) float, last axis in the order of ``names``.

        Returns:
            name -> (B, N) tensor for every parameter in :data:`ACTION_PARAMETERS`; those this
            layout does not name hold their default.
        """
        if action.ndim != 3 or action.shape[-1] != self.size:
            raise ValueError(
                f"action: expected shape (B, N, {self.size}) for parameters {self.names}, "
                f"got {tuple(action.shape)}"
            )
        if not torch.isfinite(action).all():
            raise ValueError("action: expected finite values, got NaN or inf")
        values = {}
        for name, parameter in ACTION_PARAMETERS.items():
            if name in self.names:
                column = action[..., self.names.index(name)]
                values[name] = column.clamp(parameter.low, parameter.high)
            else:
                values[name] = torch.full(
                    action.shape[:2], parameter.default, dtype=action.dtype, device=action.device
                )
        return values

    def pack(
        self,
        values: Mapping[str, float],
        num_envs: int,
        num_agents: int,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """A (B, N, P) action with the same value for every agent.

        Args:
            values: name -> value; parameters of the layout that are missing take the default.
            num_envs: B.
            num_agents: N.
            dtype: of the result.
        """
        for name in values:
            if name not in ACTION_PARAMETERS:
                raise ValueError(
                    f"{name}: expected one of {', '.join(ACTION_PARAMETERS)} as a parameter name"
                )
        row = [float(values.get(name, ACTION_PARAMETERS[name].default)) for name in self.names]
        return torch.tensor(row, dtype=dtype).expand(num_envs, num_agents, self.size).clone()
