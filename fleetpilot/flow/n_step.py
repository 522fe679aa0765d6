"""Multi-step TD transitions: each agent's next ``n`` rewards summed, bootstrapped ``n`` ticks on.

With one-tick transitions a deadlock's cost, paid over many seconds, reaches the action that
caused it one TD backup per tick; an ``n``-step transition carries it ``n`` ticks per backup.
An agent's transitions are held until ``n`` of them are in (or its episode ends: it arrived, or
the env ended, where a short return with its own discount is emitted), then the oldest leaves
as ``(obs, action, sum_k gamma^k r_k, next_obs n ticks on, terminated, discount)`` with
``discount = gamma^m`` for ``m`` rewards summed (0 after an arrival: no bootstrap past the goal).
"""

from __future__ import annotations

from collections import deque

import torch

from fleetpilot.flow.nav_transitions import FIELDS, Transitions


class NStepReturns:
    """Turns per-tick, per-agent transitions into ``n``-step ones.

    Args:
        n: rewards per transition (1: the input unchanged, with ``discount = gamma`` or 0).
        gamma: per-tick discount.
    """

    def __init__(self, n: int, gamma: float) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n_step: expected an integer >= 1, got {n!r}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma: expected a number in [0, 1], got {gamma!r}")
        self.n, self.gamma = n, gamma
        self._pending: dict[int, deque] = {}

    def add(
        self, transitions: Transitions, slots: torch.Tensor, episode_ended: torch.Tensor
    ) -> tuple[Transitions, torch.Tensor]:
        """This tick's one-step rows (``slots``: which agent each came from; ``episode_ended``:
        its env ended on this tick) -> the ``n``-step rows now complete, and their discounts."""
        done = []
        for row in range(len(transitions)):
            slot = int(slots[row])
            pending = self._pending.setdefault(slot, deque())
            pending.append(tuple(getattr(transitions, name)[row] for name in FIELDS))
            arrived = bool(transitions.terminated[row])
            if arrived or bool(episode_ended[row]):
                while pending:
                    done.append(self._returned(pending))
                    pending.popleft()
                del self._pending[slot]
            elif len(pending) == self.n:
                done.append(self._returned(pending))
                pending.popleft()
        if not done:
            empty = Transitions(*(getattr(transitions, name)[:0] for name in FIELDS))
            return empty, torch.zeros(0)
        columns = list(zip(*done, strict=True))
        discount = torch.stack(columns.pop())
        return Transitions(*(torch.stack(column) for column in columns)), discount

    def _returned(self, pending: deque) -> tuple:
        """The transition of ``pending``'s oldest row over every row after it."""
        obs, action = pending[0][0], pending[0][1]
        total = torch.zeros(())
        for step, (_, _, reward, _, _) in enumerate(pending):
            total = total + self.gamma**step * reward
        _, _, _, next_obs, terminated = pending[-1]
        discount = torch.tensor(0.0 if bool(terminated) else self.gamma ** len(pending))
        return obs, action, total.to(pending[0][2].dtype), next_obs, terminated, discount
