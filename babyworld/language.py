"""Emergent-language measures (EGG's definitions), as pure functions on meanings and messages.

A *message* is a sequence of symbols (the baby's words in one utterance, or one Point symbol); a
*meaning* is a tuple of categorical attributes (e.g. the wanted toy's ``(colour, shape)``). The
definitions follow EGG's ``egg/core/language_analysis.py`` (Chaabouni et al., ACL 2020):

- **topographic similarity**: Spearman correlation between the pairwise Hamming distances of the
  meanings and the pairwise edit distances of the messages, each divided by the pair's mean length;
- **message entropy**: entropy in bits of the distribution of whole messages;
- **vocabulary in use**: distinct symbols in the messages;
- **mean utterance length**: symbols per message;
- **positional disentanglement** (posdis): for each message position ``j`` (messages padded with
  an end symbol), the gap between the highest and second-highest mutual information of the symbol
  at ``j`` with one attribute, divided by the entropy of that symbol; averaged over the positions
  whose symbol is not constant;
- **bag-of-symbols disentanglement** (bosdis): the same with, in place of positions, the count of
  each symbol in the message.

Mutual information and entropies are plug-in estimates in bits. No torch, no scipy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import combinations
from typing import Any

import numpy as np

#: The symbol that pads a message to the longest one (EGG's end-of-sequence symbol, 0).
PAD: str = "<eos>"

Message = Sequence[Hashable]
Meaning = Sequence[Hashable]


def entropy(items: Sequence[Hashable]) -> float:
    """Plug-in entropy in bits of the empirical distribution of ``items`` (0 for none)."""
    n = len(items)
    if n == 0:
        return 0.0
    p = np.array(list(Counter(items).values()), dtype=float) / n
    return float(-(p * np.log2(p)).sum())


def mutual_info(xs: Sequence[Hashable], ys: Sequence[Hashable]) -> float:
    """``I[x; y] = H[x] + H[y] - H[x, y]`` in bits, from paired samples."""
    if len(xs) != len(ys):
        raise ValueError(f"mutual_info needs paired samples, got {len(xs)} and {len(ys)}")
    return entropy(xs) + entropy(ys) - entropy(list(zip(xs, ys, strict=True)))


def message_entropy(messages: Sequence[Message]) -> float:
    """Entropy in bits of the distribution of whole messages."""
    return entropy([tuple(m) for m in messages])


def vocabulary_in_use(messages: Sequence[Message]) -> int:
    """Number of distinct symbols the messages use."""
    return len({s for m in messages for s in m})


def mean_length(messages: Sequence[Message]) -> float:
    """Mean symbols per message (``nan`` for no message)."""
    return float(np.mean([len(m) for m in messages])) if len(messages) else math.nan


def edit_distance(a: Message, b: Message) -> int:
    """Levenshtein distance between two symbol sequences (insert, delete, substitute: cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties getting their average rank (as ``scipy.stats.rankdata``)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson on average ranks); ``nan`` if either side is constant."""
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / den) if den > 0 else math.nan


def topographic_similarity(meanings: Sequence[Meaning], messages: Sequence[Message]) -> float:
    """Spearman between meaning distances and message distances over all pairs.

    Meaning distance: Hamming (fraction of differing attributes). Message distance: edit distance
    divided by the pair's mean length (0 for two empty messages). ``nan`` when fewer than two
    pairs or either distance is constant.
    """
    _check_pairs(meanings, messages)
    dm, dx = [], []
    for i, j in combinations(range(len(messages)), 2):
        a, b = meanings[i], meanings[j]
        if len(a) != len(b):
            raise ValueError(f"meanings must have one length, got {len(a)} and {len(b)}")
        dm.append(sum(u != v for u, v in zip(a, b, strict=True)) / max(len(a), 1))
        mean_len = (len(messages[i]) + len(messages[j])) / 2
        dx.append(edit_distance(messages[i], messages[j]) / mean_len if mean_len else 0.0)
    return spearman(dm, dx) if len(dm) > 1 else math.nan


def _gap_mi(attributes: Sequence[Meaning], columns: list[list[Hashable]]) -> float:
    """EGG's ``gap_mi_first_second``.

    The mean over non-constant columns of ``(I_first - I_second) / H(column)``, where ``I`` are
    the column's mutual informations with each attribute.
    """
    n_attr = len(attributes[0])
    if n_attr < 2:
        raise ValueError("disentanglement needs meanings of at least two attributes")
    attrs = [[m[i] for m in attributes] for i in range(n_attr)]
    gaps = []
    for col in columns:
        h = entropy(col)
        if h > 0:
            mi = sorted((mutual_info(a, col) for a in attrs), reverse=True)
            gaps.append((mi[0] - mi[1]) / h)
    return float(np.mean(gaps)) if gaps else math.nan


def posdis(attributes: Sequence[Meaning], messages: Sequence[Message]) -> float:
    """Positional disentanglement; messages are padded with :data:`PAD` to the longest.

    ``nan`` when every position is constant.
    """
    _check_pairs(attributes, messages)
    width = max((len(m) for m in messages), default=0)
    padded = [list(m) + [PAD] * (width - len(m)) for m in messages]
    return _gap_mi(attributes, [[m[j] for m in padded] for j in range(width)])


def bosdis(attributes: Sequence[Meaning], messages: Sequence[Message]) -> float:
    """Bag-of-symbols disentanglement: the columns are each symbol's count per message.

    ``nan`` when every count is constant.
    """
    _check_pairs(attributes, messages)
    symbols = sorted({s for m in messages for s in m}, key=repr)
    counts = [Counter(m) for m in messages]
    return _gap_mi(attributes, [[c[s] for c in counts] for s in symbols])


def language_measures(meanings: Sequence[Meaning], messages: Sequence[Message]) -> dict[str, Any]:
    """Every measure of this module on one sample (the disentanglements need two attributes).

    Returns:
        ``{"messages", "topsim", "entropy", "vocabulary", "mean_length", "posdis", "bosdis"}``
        (``nan`` where a measure is undefined on the sample).
    """
    _check_pairs(meanings, messages)
    two = len(meanings) > 0 and len(meanings[0]) >= 2
    return {
        "messages": len(messages),
        "topsim": topographic_similarity(meanings, messages) if messages else math.nan,
        "entropy": message_entropy(messages),
        "vocabulary": vocabulary_in_use(messages),
        "mean_length": mean_length(messages),
        "posdis": posdis(meanings, messages) if two else math.nan,
        "bosdis": bosdis(meanings, messages) if two else math.nan,
    }


def _check_pairs(meanings: Sequence[Any], messages: Sequence[Any]) -> None:
    if len(meanings) != len(messages):
        raise ValueError(
            f"got {len(meanings)} meanings for {len(messages)} messages; pass one meaning per "
            "message"
        )
