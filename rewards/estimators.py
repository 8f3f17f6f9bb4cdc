"""Small online estimators behind the env's default reward components.

Each keeps state across episodes (it models the baby's history), can be saved and restored, and is
restarted by a seeded ``reset`` so that a seeded episode replays exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from babyworld.rewards import components


class _Counts:
    """Shared state handling of the count-based estimators (``self.counts``, an int array)."""

    counts: np.ndarray

    def reset(self) -> None:
        """Forget everything."""
        self.counts[:] = 0

    def state_dict(self) -> dict:
        """Counts, for checkpoints."""
        return {"counts": self.counts.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Restore counts (shape must match)."""
        if state["counts"].shape != self.counts.shape:
            raise ValueError(
                f"{type(self).__name__} state has shape {state['counts'].shape}, "
                f"expected {self.counts.shape}"
            )
        # in place: the counts may be a row of a vector env's array
        self.counts[...] = state["counts"]


class TokenPredictor(_Counts):
    """Online predictor of the next heard tokens given the baby's last action.

    ``q(w | a) = 1/2 * (n(a, w) + 1) / (n(a) + V) + 1/2 * 1/V`` — Laplace-smoothed counts mixed
    50/50 with the uniform code, so every surprisal ``-log2 q`` is at most ``log2(2V)`` bits
    (:attr:`max_bits`). It predicts first, then learns (prequential).

    Args:
        vocab_size: number of token ids ``V``.
        n_contexts: number of distinct actions ``a``.
    """

    def __init__(self, vocab_size: int, n_contexts: int) -> None:
        self.vocab_size, self.n_contexts = vocab_size, n_contexts
        self.counts = np.zeros((n_contexts, vocab_size), dtype=np.int64)

    @property
    def max_bits(self) -> float:
        """Upper bound of one token's surprisal, ``log2(2V)``."""
        return math.log2(2 * self.vocab_size)

    def surprisal(self, context: int, tokens: Sequence[int]) -> np.ndarray:
        """Bits per token of ``tokens`` under the current model, shape ``[T]``."""
        row = self.counts[context]
        v = self.vocab_size
        q = 0.5 * (row[np.asarray(tokens, dtype=np.int64)] + 1) / (row.sum() + v) + 0.5 / v
        return -np.log2(q)

    def update(self, context: int, tokens: Sequence[int]) -> None:
        """Count the observed tokens after action ``context``."""
        np.add.at(self.counts[context], np.asarray(tokens, dtype=np.int64), 1)


class AdaptiveCode(_Counts):
    """Adaptive (prequential) code of the baby's own utterances over an alphabet of size ``K``.

    ``q(w) = 1/2 * (n(w) + 1/2) / (N + K/2) + 1/2 * 1/K`` (Krichevsky–Trofimov mixed 50/50 with the
    uniform code); an utterance of words ``w_1..w_m`` costs ``sum_i -log2 q(w_i)`` bits, with the
    counts updated after coding. Each word costs at most ``log2(2K)`` bits.
    """

    def __init__(self, alphabet_size: int) -> None:
        self.alphabet_size = alphabet_size
        self.counts = np.zeros(alphabet_size, dtype=np.int64)

    @property
    def max_bits_per_word(self) -> float:
        """Upper bound of one word's code length, ``log2(2K)``."""
        return math.log2(2 * self.alphabet_size)

    def code_length(self, words: Sequence[int]) -> float:
        """Bits to send ``words`` with the current counts (does not update)."""
        k = self.alphabet_size
        n = self.counts.sum()
        bits = 0.0
        counts = self.counts.copy()
        for w in words:
            q = 0.5 * (counts[w] + 0.5) / (n + k / 2) + 0.5 / k
            bits -= math.log2(q)
            counts[w] += 1
            n += 1
        return bits

    def update(self, words: Sequence[int]) -> None:
        """Count the words just sent."""
        np.add.at(self.counts, np.asarray(words, dtype=np.int64), 1)


class SuccessTracker:
    """Exponential moving average of success per task key: ``p <- p + beta (s - p)``, from 0."""

    def __init__(self, beta: float = 0.1) -> None:
        if not 0 < beta <= 1:
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        self.beta = beta
        self.estimates: dict[str, float] = {}

    def estimate(self, key: str) -> float:
        """Current estimate for ``key`` (0 before any update)."""
        return self.estimates.get(key, 0.0)

    def update(self, key: str, success: bool) -> tuple[float, float]:
        """Fold in one outcome; returns ``(before, after)``."""
        before = self.estimate(key)
        after = before + self.beta * (float(success) - before)
        self.estimates[key] = after
        return before, after

    def reset(self) -> None:
        """Forget everything."""
        self.estimates.clear()

    def state_dict(self) -> dict:
        """Estimates, for checkpoints."""
        return {"beta": self.beta, "estimates": dict(self.estimates)}

    def load_state_dict(self, state: dict) -> None:
        """Restore estimates (the saved beta must equal this tracker's)."""
        if float(state["beta"]) != self.beta:
            raise ValueError(f"tracker state has beta={state['beta']}, this tracker {self.beta}")
        self.estimates = dict(state["estimates"])


def estimate(
    predictor: TokenPredictor, code: AdaptiveCode, action: int, heard_ids: np.ndarray
) -> tuple[float, float]:
    """``(predictability, mdl)`` of one env's ``action`` and what followed it; both then learn.

    A vector env computes the same numbers for all its envs at once
    (:mod:`babyworld.rewards.rows`, equal bit for bit: tests).
    """
    surprisal = predictor.surprisal(action, heard_ids)
    predictor.update(action, heard_ids)
    bits = code.code_length([action])
    code.update([action])
    return (
        components.predictability(surprisal, predictor.max_bits),
        components.mdl(bits, code.max_bits_per_word),
    )
