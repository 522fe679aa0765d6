"""Fields every policy configuration shares, validated on construction."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from fleetpilot.learn.mlp import ACTIVATIONS

ConfigT = TypeVar("ConfigT", bound="PolicyConfig")


@dataclass(frozen=True)
class PolicyConfig:
    """Shape and device of a policy; subclasses add what their model needs.

    Attributes:
        obs_dim: length of the flat observation vector.
        action_dim: length of one action.
        horizon: actions predicted per inference (the action chunk).
        n_action_steps: actions of each chunk executed before predicting again
            (``<= horizon``); Diffusion Policy uses 16 / 8.
        hidden_dims: widths of the network's hidden layers.
        activation: hidden-layer nonlinearity (``fleetpilot.learn.mlp.ACTIVATIONS``).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.
    """

    obs_dim: int
    action_dim: int
    horizon: int = 1
    n_action_steps: int = 1
    hidden_dims: tuple[int, ...] = (256, 256)
    activation: str = "silu"
    device: str = "cpu"

    def __post_init__(self) -> None:
        name = type(self).__name__
        for field in ("obs_dim", "action_dim", "horizon", "n_action_steps"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}.{field} must be an integer >= 1, got {value!r}")
        if self.n_action_steps > self.horizon:
            raise ValueError(
                f"{name}.n_action_steps ({self.n_action_steps}) must be <= horizon "
                f"({self.horizon})"
            )
        object.__setattr__(self, "hidden_dims", tuple(self.hidden_dims))
        if any(not isinstance(width, int) or width < 1 for width in self.hidden_dims):
            raise ValueError(
                f"{name}.hidden_dims must be positive integers, got {self.hidden_dims}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"{name}.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise ValueError(
                f"{name}.device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"
            )

    @property
    def chunk_dim(self) -> int:
        """Length of a flattened action chunk (``horizon * action_dim``)."""
        return self.horizon * self.action_dim

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(self).items()
        }


def config_from_dict(config_class: type[ConfigT], data: dict[str, Any]) -> ConfigT:
    """Builds ``config_class`` from JSON data, naming unknown or missing fields.

    Raises:
        ValueError: on unknown fields, missing required fields, or any invalid value.
    """
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{config_class.__name__} has no field(s) {unknown}")
    missing = sorted(
        name
        for name, field in fields.items()
        if name not in data
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ValueError(f"{config_class.__name__} needs field(s) {missing}")
    hints = typing.get_type_hints(config_class)
    values = {}
    for key, value in data.items():
        is_tuple = typing.get_origin(hints[key]) is tuple
        values[key] = tuple(value) if is_tuple and isinstance(value, list) else value
    return config_class(**values)
