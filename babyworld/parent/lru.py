"""The parents' in-memory answer cache: exact requests, bounded by entries and by bytes."""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

import numpy as np


def approx_bytes(obj: Any) -> int:
    """Approximate memory held by a cache key or answer (strings, arrays, tuples, numbers).

    Shared objects are counted in full, so the estimate errs on the large side.
    """
    if type(obj) is str:  # the most common case first (keys are tuples of texts)
        return sys.getsizeof(obj)
    if isinstance(obj, np.ndarray):
        return sys.getsizeof(obj) + (0 if obj.base is None else obj.nbytes)
    if isinstance(obj, tuple):
        return sys.getsizeof(obj) + sum(map(approx_bytes, obj))
    return sys.getsizeof(obj)


#: Bytes of one cache entry beyond its key and value (the ordered dict's slot and link).
_ENTRY_BYTES = 120


class LRUCache:
    """Exact-request cache bounded by entries (``size``) and approximate bytes (``max_bytes``)."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._d: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def get(self, key: Any) -> Any:
        """The value stored under ``key`` (now the most recent), or ``None``."""
        entry = self._d.get(key)
        if entry is None:
            return None
        self._d.move_to_end(key)
        return entry[0]

    def put(self, key: Any, value: Any) -> None:
        """Store ``value`` (skipped if it alone exceeds the budget), evicting the least recent."""
        if self.size <= 0:
            return
        cost = approx_bytes(key) + approx_bytes(value) + _ENTRY_BYTES
        if cost > self.max_bytes:
            return
        old = self._d.pop(key, None)
        if old is not None:
            self.nbytes -= old[1]
        self._d[key] = (value, cost)
        self.nbytes += cost
        while len(self._d) > self.size or self.nbytes > self.max_bytes:
            _, (_, freed) = self._d.popitem(last=False)
            self.nbytes -= freed

    def clear(self) -> None:
        """Forget every entry."""
        self._d.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._d)
