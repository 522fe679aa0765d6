"""A time-major on-policy rollout buffer with named per-sample fields.

Policies differ in what PPO must remember about each action (a Gaussian its log-probability, a
flow policy its noise, flow output and velocities), so the buffer stores any named tensors of a
fixed per-sample shape next to the standard reward/value/done fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch


class RolloutBuffer:
    """Stores ``num_steps`` x ``num_envs`` transitions, then yields shuffled minibatches.

    Args:
        num_steps: steps per environment in one rollout (``T``).
        num_envs: parallel environments (``N``).
        field_shapes: per-sample shape of every stored field except the standard ones, e.g.
            ``{"obs": (2,), "action": (2,), "log_prob": ()}``.
        device: where the tensors live.
    """

    STANDARD_FIELDS = ("reward", "value", "next_value", "terminated", "episode_end")

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        field_shapes: Mapping[str, tuple[int, ...]],
        device: str | torch.device = "cpu",
    ) -> None:
        if num_steps < 1 or num_envs < 1:
            raise ValueError(f"num_steps and num_envs must be >= 1, got {num_steps}, {num_envs}")
        clash = set(field_shapes) & set(self.STANDARD_FIELDS)
        if clash:
            raise ValueError(f"field names {sorted(clash)} are reserved by RolloutBuffer")
        self.num_steps = num_steps
        self.num_envs = num_envs
        shapes = {name: tuple(shape) for name, shape in field_shapes.items()}
        shapes.update({name: () for name in self.STANDARD_FIELDS})
        self.data = {
            name: torch.zeros((num_steps, num_envs, *shape), device=device)
            for name, shape in shapes.items()
        }
        self.step = 0

    def add(self, **fields: torch.Tensor) -> None:
        """Store one time step; every field must be given, each ``[N, *shape]``."""
        if self.step >= self.num_steps:
            raise IndexError(f"buffer is full ({self.num_steps} steps); call reset() first")
        missing = set(self.data) - set(fields)
        unknown = set(fields) - set(self.data)
        if missing or unknown:
            raise KeyError(f"add() missing fields {sorted(missing)}, unknown {sorted(unknown)}")
        for name, value in fields.items():
            self.data[name][self.step] = value
        self.step += 1

    @property
    def full(self) -> bool:
        return self.step == self.num_steps

    def reset(self) -> None:
        self.step = 0

    def flat(self, extra: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """All fields (and ``extra`` ``[T, N, ...]`` tensors) flattened to ``[T * N, ...]``."""
        merged = dict(self.data)
        merged.update(extra or {})
        return {name: value.flatten(0, 1) for name, value in merged.items()}

    @staticmethod
    def minibatches(
        flat: Mapping[str, torch.Tensor], minibatch_size: int, generator: torch.Generator
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled minibatches (dicts of ``[minibatch_size, ...]``) covering ``flat`` once."""
        total = next(iter(flat.values())).shape[0]
        order = torch.randperm(total, generator=generator)
        for start in range(0, total, minibatch_size):
            index = order[start : start + minibatch_size]
            yield {name: value[index] for name, value in flat.items()}
