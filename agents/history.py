"""Episode-history windows for N envs, kept as fixed tensors (allocated once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        """Env ``i`` begins an episode with observation ``obs`` (one env's observation)."""
        self._start(torch.tensor([i]), *_stacked([obs]))

    def push(self, i: int, obs: dict, action: int) -> None:
        """Env ``i`` observed ``obs`` after acting ``action`` (same episode)."""
        self._push(torch.tensor([i]), *_stacked([obs]), torch.tensor([int(action)]))

    def start_rows(self, rows: np.ndarray, obs: dict) -> None:
        """Envs ``rows`` begin episodes with their rows of the vector observation ``obs``.

        Equal to ``start(i, {k: v[i] for k, v in obs.items()})`` for every ``i`` in ``rows``.

        Args:
            rows: ``[M]`` env indices or an ``[N]`` boolean mask.
            obs: the vector observation: ``heard [N, L]``, ``heard_len [N]``, ``percept [N, P]``.
        """
        idx = _indices(rows)
        if idx.numel():
            self._start(idx, *_selected(obs, idx))

    def push_rows(self, rows: np.ndarray, obs: dict, actions: Any) -> None:
        """Envs ``rows`` observed their rows of ``obs`` after acting their ``actions`` (``[N]``).

        Equal to ``push(i, {k: v[i] for k, v in obs.items()}, actions[i])`` for every ``i`` in
        ``rows``: each window moves one step to the left and the new step fills the last slot.
        """
        idx = _indices(rows)
        if idx.numel():
            act = torch.as_tensor(np.asarray(actions), dtype=torch.long)[idx]
            self._push(idx, *_selected(obs, idx), act)

    def _start(
        self, idx: torch.Tensor, heard: torch.Tensor, heard_len: torch.Tensor, percept: torch.Tensor
    ) -> None:
        w = self.w
        w.heard[idx] = 0
        w.heard_len[idx] = 0
        w.percept[idx] = 0.0
        w.prev_action[idx] = self.n_actions
        w.valid[idx] = False
        none = torch.full((idx.numel(),), self.n_actions, dtype=torch.long)
        self._write_last(idx, heard, heard_len, percept, none)

    def _push(
        self,
        idx: torch.Tensor,
        heard: torch.Tensor,
        heard_len: torch.Tensor,
        percept: torch.Tensor,
        action: torch.Tensor,
    ) -> None:
        for t in self.w.as_tuple():
            t[idx, :-1] = t[idx, 1:].clone()
        self._write_last(idx, heard, heard_len, percept, action)

    def _write_last(
        self,
        idx: torch.Tensor,
        heard: torch.Tensor,
        heard_len: torch.Tensor,
        percept: torch.Tensor,
        prev_action: torch.Tensor,
    ) -> None:
        w = self.w
        w.heard[idx, -1] = heard
        w.heard_len[idx, -1] = heard_len
        w.percept[idx, -1] = percept
        w.prev_action[idx, -1] = prev_action
        w.valid[idx, -1] = True

    def peek(self, i: int, obs: dict, action: int) -> Window:
        """Env ``i``'s window as it would be after ``obs`` (without changing the buffer), ``[1, H, ...]``."""
        saved = Window(*(t[i : i + 1].clone() for t in self.w.as_tuple()))
        self.push(i, obs, action)
        out = Window(*(t[i : i + 1].clone() for t in self.w.as_tuple()))
        for dst, src in zip(self.w.as_tuple(), saved.as_tuple(), strict=True):
            dst[i] = src[0]
        return out


def _indices(rows: Any) -> torch.Tensor:
    """Env indices ``[M]`` from indices or a boolean mask."""
    r = np.asarray(rows)
    return torch.as_tensor(np.flatnonzero(r) if r.dtype == np.bool_ else r.astype(np.int64))


def _selected(obs: dict, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows ``idx`` of a vector observation as ``(heard, heard_len, percept)`` tensors."""
    return (
        torch.as_tensor(np.asarray(obs["heard"]), dtype=torch.long)[idx],
        torch.as_tensor(np.asarray(obs["heard_len"]), dtype=torch.long)[idx],
        torch.as_tensor(np.asarray(obs["percept"]), dtype=torch.float32)[idx],
    )


def _stacked(obs: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Single-env observations stacked as ``(heard, heard_len, percept)`` tensors."""
    return (
        torch.as_tensor(np.stack([np.asarray(o["heard"]) for o in obs]), dtype=torch.long),
        torch.as_tensor(np.array([int(o["heard_len"]) for o in obs]), dtype=torch.long),
        torch.as_tensor(np.stack([np.asarray(o["percept"]) for o in obs]), dtype=torch.float32),
    )
