"""Episode-history windows for N envs, kept as fixed tensors (allocated once)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Window:
    """A batch of history windows ``[N, H, ...]`` (oldest first; the last slot is the current step)."""

    heard: torch.Tensor
    heard_len: torch.Tensor
    percept: torch.Tensor
    prev_action: torch.Tensor
    valid: torch.Tensor

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        """In the argument order of :meth:`Student.encode`."""
        return (self.heard, self.heard_len, self.percept, self.prev_action, self.valid)

    def clone(self) -> Window:
        """A deep copy."""
        return Window(*(t.clone() for t in self.as_tuple()))


class HistoryBuffer:
    """Rolling windows of the last ``history`` observations of each env's current episode.

    Args:
        n_envs: N.
        history: H.
        heard_length: L.
        percept_dim: P.
        n_actions: A (``prev_action == A`` means "no act yet in this episode").
    """

    def __init__(
        self, n_envs: int, history: int, heard_length: int, percept_dim: int, n_actions: int
    ):
        self.n_actions = n_actions
        self.w = Window(
            heard=torch.zeros(n_envs, history, heard_length, dtype=torch.long),
            heard_len=torch.zeros(n_envs, history, dtype=torch.long),
            percept=torch.zeros(n_envs, history, percept_dim),
            prev_action=torch.full((n_envs, history), n_actions, dtype=torch.long),
            valid=torch.zeros(n_envs, history, dtype=torch.bool),
        )

    def start(self, i: int, obs: dict) -> None:
        """Env ``i`` begins an episode with observation ``obs``."""
        w = self.w
        w.heard[i].zero_()
        w.heard_len[i].zero_()
        w.percept[i].zero_()
        w.prev_action[i].fill_(self.n_actions)
        w.valid[i].zero_()
        self._write_last(i, obs, self.n_actions)

    def push(self, i: int, obs: dict, action: int) -> None:
        """Env ``i`` observed ``obs`` after acting ``action`` (same episode)."""
        for t in self.w.as_tuple():
            t[i] = torch.roll(t[i], -1, dims=0)
        self._write_last(i, obs, action)

    def _write_last(self, i: int, obs: dict, prev_action: int) -> None:
        w = self.w
        w.heard[i, -1] = torch.as_tensor(np.asarray(obs["heard"]), dtype=torch.long)
        w.heard_len[i, -1] = int(obs["heard_len"])
        w.percept[i, -1] = torch.as_tensor(np.asarray(obs["percept"]), dtype=torch.float32)
        w.prev_action[i, -1] = prev_action
        w.valid[i, -1] = True

    def peek(self, i: int, obs: dict, action: int) -> Window:
        """Env ``i``'s window as it would be after ``obs`` (without changing the buffer), ``[1, H, ...]``."""
        saved = Window(*(t[i : i + 1].clone() for t in self.w.as_tuple()))
        self.push(i, obs, action)
        out = Window(*(t[i : i + 1].clone() for t in self.w.as_tuple()))
        for dst, src in zip(self.w.as_tuple(), saved.as_tuple(), strict=True):
            dst[i] = src[0]
        return out
