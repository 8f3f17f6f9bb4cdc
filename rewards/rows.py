"""The online estimators' rewards for M envs at once, as array code over ``[M, ...]`` rows.

A native vector env keeps every env's counts in one array (``[N, A, V]`` for the token predictor,
``[N, K]`` for the adaptive code; each env's estimator object holds a view of its row) and
computes a step's ``predictability`` and ``mdl`` for all envs in one call. The results equal the
per-env estimators and components of :mod:`babyworld.rewards.estimators` and
:mod:`babyworld.rewards.components` bit for bit (tests): :func:`sum_rows` sums each row in the
order NumPy's ``sum`` (and so ``mean``) of that row does.
"""

from __future__ import annotations

import math

import numpy as np

#: Row lengths up to which :func:`sum_rows` reproduces NumPy's pairwise summation in arrays
#: (NumPy splits longer sums recursively; rows longer than this are summed by NumPy itself).
PAIRWISE_BLOCK = 128
_UNROLL = 8


def sum_rows(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[M]`` sums of the first ``lengths[m]`` entries of each row, as ``np.sum`` adds them.

    NumPy adds a contiguous float row of ``n < 8`` entries left to right and one of
    ``8 <= n <= 128`` entries in eight interleaved partial sums over its whole blocks of 8
    (combined pairwise), then its ``n % 8`` last entries left to right; this does the same for
    all rows at once, so every sum equals ``x[m, :lengths[m]].sum()`` exactly (for rows without
    negative zeros: adding a masked-out ``0.0`` turns a ``-0.0`` into ``0.0``). Empty rows sum to 0.

    Args:
        x: ``[M, L]`` float64.
        lengths: ``[M]`` ints in ``[0, L]``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(lengths, dtype=np.int64)
    m, width = x.shape
    if n.shape != (m,) or (n < 0).any() or (n > width).any():
        raise ValueError(f"lengths must be {m} ints in [0, {width}], got {n}")
    blocked = n >= _UNROLL  # rows summed in eight partial sums first
    whole = np.where(blocked, n - n % _UNROLL, 0)
    acc = np.zeros(m)
    if blocked.any():
        nb = -(-width // _UNROLL)
        padded = np.zeros((m, nb * _UNROLL))
        padded[:, :width] = x
        blocks = padded.reshape(m, nb, _UNROLL)
        inside = (np.arange(nb) * _UNROLL)[None] < whole[:, None]  # [M, nb] whole blocks
        # a reduction over a non-inner axis adds block after block, as NumPy's partial sums do
        r = np.where(inside[..., None], blocks, 0.0).sum(axis=1)
        paired = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + (
            (r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7])
        )
        acc = np.where(blocked, paired, 0.0)
    rest = n - whole  # at most 7 entries, left to right
    for i in range(int(rest.max(initial=0))):
        col = np.minimum(whole + i, width - 1)[:, None]
        acc = np.where(i < rest, acc + np.take_along_axis(x, col, axis=1)[:, 0], acc)
    for k in np.flatnonzero(n > PAIRWISE_BLOCK):  # NumPy splits these recursively
        acc[k] = x[k, : n[k]].sum()
    return acc


def token_surprisal_rows(rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``[M, L]`` bits of each heard id under each env's token predictor (one context each).

    ``-log2 q(w | a)`` with ``q = 1/2 (n(a, w) + 1) / (n(a) + V) + 1/2 1/V``, as
    :meth:`TokenPredictor.surprisal <babyworld.rewards.estimators.TokenPredictor.surprisal>`.

    Args:
        rows: ``[M, V]`` int counts ``n(a_m, .)`` of each env's context (its act).
        ids: ``[M, L]`` heard ids (entries past a row's length are computed and ignored).
    """
    v = rows.shape[1]
    counts = np.take_along_axis(rows, np.asarray(ids, dtype=np.int64), axis=1)
    q = 0.5 * (counts + 1) / (rows.sum(1)[:, None] + v) + 0.5 / v
    return -np.log2(q)


def predictability_rows(bits: np.ndarray, lengths: np.ndarray, max_bits: float) -> np.ndarray:
    """``[M]`` ``predictability`` rewards: ``-mean(bits[m, :lengths[m]]) / max_bits`` (0 if empty).

    Equals :func:`babyworld.rewards.components.predictability` of each row.
    """
    n = np.asarray(lengths, dtype=np.int64)
    mean = sum_rows(bits, n) / np.maximum(n, 1)
    return np.where(n > 0, -mean / max_bits, 0.0)


def code_bits_rows(counts: np.ndarray, words: np.ndarray) -> np.ndarray:
    """``[M]`` bits of one word per env under its adaptive code (counts before the word).

    ``-log2 q(w)`` with ``q = 1/2 (n(w) + 1/2) / (N + K/2) + 1/2 1/K``, as
    :meth:`AdaptiveCode.code_length <babyworld.rewards.estimators.AdaptiveCode.code_length>` of
    a one-word utterance (``math.log2``, as there).

    Args:
        counts: ``[M, K]`` int counts of each env's past words.
        words: ``[M]`` the words.
    """
    k = counts.shape[1]
    w = np.asarray(words, dtype=np.int64)
    q = 0.5 * (counts[np.arange(len(w)), w] + 0.5) / (counts.sum(1) + k / 2) + 0.5 / k
    return np.array([-math.log2(x) for x in q.tolist()])


def count_rows(counts: np.ndarray, env: np.ndarray, index: tuple[np.ndarray, ...]) -> None:
    """Add 1 to ``counts[env[j], *index[j]]`` for every ``j`` (repeats add up), in place."""
    np.add.at(counts, (np.asarray(env, dtype=np.int64), *index), 1)
