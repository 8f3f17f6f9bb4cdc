"""Shared-prefix reuse for transformer parents: group requests by token prefix, keep prefix KV.

The envs' prompts are long few-shot scripts that differ only in their last line, so most of each
prompt's keys and values are the same for every request of the same kind. :func:`prefix_groups`
partitions a batch of token sequences into groups sharing a long prefix (a pure function);
:class:`PrefixStore` keeps the past keys/values of a few recent prefixes. Because a causal model's
keys and values at position ``t`` depend only on tokens ``<= t``, the first ``L`` positions of any
stored prefix are exactly the keys and values of its first ``L`` tokens: a stored prefix serves
every later prefix it shares at least ``min_tokens`` tokens with, cropped, and only the rest is
computed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # torch-free at run time: the CTranslate2 parent groups prefixes too
    import torch

KV: TypeAlias = "list[tuple[torch.Tensor, torch.Tensor]]"
"""Per layer ``(keys, values)``, each ``[1, heads, length, head_dim]``."""


def common_prefix_length(a: Sequence[int], b: Sequence[int], limit: int | None = None) -> int:
    """Number of leading tokens ``a`` and ``b`` share (at most ``limit``)."""
    n = min(len(a), len(b)) if limit is None else min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def prefix_groups(
    seqs: Sequence[Sequence[int]], limits: Sequence[int], min_tokens: int
) -> list[tuple[int, list[int]]]:
    """Partition sequences into groups that share a token prefix.

    Sequences are sorted, so those with long common prefixes are neighbours; a sequence joins the
    current group while the group's common prefix stays at least ``min_tokens`` long.

    Args:
        seqs: N token sequences.
        limits: N caps: sequence ``i``'s prefix may cover at most its first ``limits[i]`` tokens
            (the model must still read the rest, e.g. the last prompt token whose logits predict
            the next one).
        min_tokens: a shared prefix shorter than this does not make a group.

    Returns:
        ``(prefix_length, indices)`` per group, covering every index once. A sequence that shares
        no prefix of ``min_tokens`` with its neighbours is a group of one whose prefix is its own
        first ``limits[i]`` tokens.
    """
    if len(seqs) != len(limits):
        raise ValueError(f"got {len(seqs)} sequences but {len(limits)} limits")
    if min_tokens < 1:
        raise ValueError(f"min_tokens must be >= 1, got {min_tokens}")
    order = sorted(range(len(seqs)), key=lambda i: tuple(seqs[i]))
    groups: list[tuple[int, list[int]]] = []
    members: list[int] = []
    length = 0
    for i in order:
        if members:
            shared = common_prefix_length(seqs[members[0]], seqs[i], min(length, limits[i]))
            if shared >= min_tokens:
                members.append(i)
                length = shared
                continue
            groups.append((length, members))
        members, length = [i], max(0, min(limits[i], len(seqs[i])))
    if members:
        groups.append((length, members))
    return groups


class PrefixStore:
    """An LRU store of prefix keys/values, looked up by the longest shared token prefix.

    Args:
        size: most prefixes kept (each costs ``layers * 2 * kv_heads * head_dim * length`` values).
        min_tokens: a stored prefix is reused only if it shares at least this many tokens.
    """

    def __init__(self, size: int, min_tokens: int) -> None:
        if size < 1:
            raise ValueError(f"prefix store size must be >= 1, got {size}")
        if min_tokens < 1:
            raise ValueError(f"min_tokens must be >= 1, got {min_tokens}")
        self.size, self.min_tokens = size, min_tokens
        self._d: OrderedDict[tuple[int, ...], KV] = OrderedDict()

    def __len__(self) -> int:
        return len(self._d)

    def clear(self) -> None:
        """Forget every stored prefix."""
        self._d.clear()

    def longest(self, tokens: Sequence[int]) -> tuple[int, KV | None]:
        """The stored keys/values sharing the longest prefix with ``tokens``, cropped to it.

        Returns:
            ``(length, kv)``; ``(0, None)`` when no stored prefix shares ``min_tokens`` tokens.
        """
        best, best_key = 0, None
        for key in self._d:
            n = common_prefix_length(key, tokens)
            if n > best:
                best, best_key = n, key
        if best_key is None or best < self.min_tokens:
            return 0, None
        self._d.move_to_end(best_key)
        kv = self._d[best_key]
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in kv]

    def put(self, tokens: Sequence[int], kv: KV) -> None:
        """Store the keys/values of ``tokens`` (evicting the least recently used)."""
        key = tuple(tokens)
        self._d[key] = kv
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)
