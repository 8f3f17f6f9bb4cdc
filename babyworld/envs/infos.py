"""Infos of N envs batched column by column (Gymnasium's vector-info layout, built at once).

Gymnasium's ``VectorEnv._add_info`` merges one env's info dict at a time, creating and growing
each key's array as it goes. :func:`batch_infos` builds the same dict from all N infos in one
pass per key: every key becomes an array over the N envs (dtype from the first env that has it:
Python ``int``/``float``/``bool`` and NumPy scalars give that dtype, arrays a ``[N, *shape]``
array, anything else an object array; nested dicts recursively) plus a boolean ``_key`` mask of
the envs that have it. ``final_obs`` stays an object array of per-env observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _empty(value: Any, n: int) -> np.ndarray:
    if type(value) in (int, float, bool) or issubclass(type(value), np.number):
        return np.zeros(n, dtype=type(value))
    if isinstance(value, np.ndarray):
        return np.zeros((n, *value.shape), dtype=value.dtype)
    return np.full(n, fill_value=None, dtype=object)


def batch_infos(items: Sequence[tuple[int, dict[str, Any]]], num_envs: int) -> dict[str, Any]:
    """The vector info of ``items``, pairs ``(env index, info)`` in the order Gymnasium adds them.

    Equals folding ``VectorEnv._add_info`` over ``items`` (a test checks it), one array per key.
    """
    columns = _columns(items)
    out: dict[str, Any] = {}
    for key, (idx, values) in columns.items():
        first = values[0]
        if key == "final_obs":
            array: Any = np.full(num_envs, fill_value=None, dtype=object)
            for i, v in zip(idx, values, strict=True):
                array[i] = v
        elif isinstance(first, dict):
            if not all(isinstance(v, dict) for v in values):
                raise TypeError(f"info key {key!r} holds a dict in some envs and not in others")
            array = batch_infos(list(zip(idx, values, strict=True)), num_envs)
        else:
            array = _empty(first, num_envs)
            unique = len(set(idx)) == len(idx)
            if array.dtype == object:
                if unique and all(type(v) is str for v in values):
                    array[idx] = values
                else:
                    for i, v in zip(idx, values, strict=True):
                        array[i] = v
            elif unique:
                array[idx] = np.asarray(values) if array.ndim == 1 else np.stack(values)
            else:  # an env listed twice: the later value wins, as with _add_info
                for i, v in zip(idx, values, strict=True):
                    array[i] = v
        mask = np.zeros(num_envs, dtype=np.bool_)
        mask[idx] = True
        out[key], out[f"_{key}"] = array, mask
    return out


def _columns(items: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, tuple[list, list]]:
    """Per key (in order of first appearance), the env indices that have it and their values."""
    if items and all(info.keys() == items[0][1].keys() for _, info in items):
        idx = [i for i, _ in items]  # the common case: every env has the same keys
        return {k: (idx, [info[k] for _, info in items]) for k in items[0][1]}
    columns: dict[str, tuple[list, list]] = {}
    for i, info in items:
        for key, value in info.items():
            col = columns.setdefault(key, ([], []))
            col[0].append(i)
            col[1].append(value)
    return columns
