"""The queue of not-yet-executed actions of the last predicted chunk."""

from __future__ import annotations

from collections import deque

import torch


class ActionChunkQueue:
    """Holds up to ``n_action_steps`` actions ``[B, A]`` taken from a predicted chunk.

    The policy refills it from a new chunk only when it is empty (Diffusion Policy's receding
    horizon: predict ``horizon`` steps, execute ``n_action_steps``, predict again).
    """

    def __init__(self, n_action_steps: int) -> None:
        if n_action_steps < 1:
            raise ValueError(f"n_action_steps must be >= 1, got {n_action_steps}")
        self.n_action_steps = n_action_steps
        self._actions: deque[torch.Tensor] = deque()

    def __len__(self) -> int:
        return len(self._actions)

    def clear(self) -> None:
        self._actions.clear()

    def push_chunk(self, chunk: torch.Tensor) -> None:
        """Queues the first ``n_action_steps`` actions of ``chunk`` ``[B, H, A]``."""
        if chunk.ndim != 3 or chunk.shape[1] < self.n_action_steps:
            raise ValueError(
                f"chunk must be [B, H>={self.n_action_steps}, A], got {tuple(chunk.shape)}"
            )
        if self._actions and self._actions[0].shape[0] != chunk.shape[0]:
            raise ValueError("batch size changed while actions were queued; call reset() first")
        for step in range(self.n_action_steps):
            self._actions.append(chunk[:, step])

    def pop(self) -> torch.Tensor:
        """The oldest queued action ``[B, A]``."""
        if not self._actions:
            raise IndexError("the action queue is empty")
        return self._actions.popleft()
