"""Checks of public arguments by type and range: every bad value is refused up front, named.

Small pure functions that constructors and configs call before they store or use a value. A
refused value raises :class:`ValidationError`, whose message names the argument, says what is
accepted and shows what was given. Sizes have upper bounds (:data:`LIMITS`) so that a typo such
as ``heard_length=10**12`` is refused instead of allocating memory the machine does not have.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


class ValidationError(ValueError, TypeError):
    """An argument of the wrong type or outside its accepted range.

    A ``ValueError`` (what babyworld documents for bad input) and, for code that catches wrong
    types, a ``TypeError`` too.
    """


#: The largest integer any count or size may take (so sums and products stay exact in int64).
INT_LIMIT = 2**53
#: The largest seed (NumPy's legacy seeding and ``torch.manual_seed`` need seeds below 2**32).
SEED_LIMIT = 2**32 - 1
#: Upper bounds of sizes, by argument (``section.field`` for configs). Larger values would need
#: more memory or threads than a machine holds; they are refused with this reason.
LIMITS: dict[str, int] = {
    "heard_length": 4096,
    "vocab_size": 1 << 20,
    "max_new_tokens": 4096,
    "exchanges": 1 << 20,
    "max_words": 1024,
    "num_envs": 4096,
    "threads": 256,
    "workers": 4096,
    "checkpoint_every": 1 << 30,
    "seed": SEED_LIMIT - 4096,
    "student.d_model": 4096,
    "student.n_layers": 64,
    "student.word_dim": 4096,
    "student.reader_hidden": 65536,
    "student.n_heads": 256,
    "student.history": 1024,
    "student.latent_dim": 4096,
    "ppo.rollout_steps": 1 << 16,
    "ppo.epochs": 10_000,
    "ppo.minibatches": 1 << 16,
    "modes.group_size": 4096,
    "modes.top_k": 4096,
    "eval.episodes": 1 << 20,
    "eval.num_envs": 4096,
    "curricula.window": 1 << 20,
    "curricula.every": 1 << 20,
}
_MEMORY = "larger values need more memory or threads than a machine holds"
_REASONS = {"seed": "seeding takes seeds below 2**32, and env i gets seed + i"}


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``.

    ``high`` defaults to :data:`LIMITS` ``[name]`` (if any), else :data:`INT_LIMIT`.

    Raises:
        ValidationError: another type (floats, strings and bools included) or out of range.
    """
    bound = LIMITS.get(name) if high is None else high
    top = INT_LIMIT if bound is None else bound
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValidationError(f"{name} must be an integer{_range(low, top)}, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or v > top:
        limited = bound is not None and high is None and v > top
        why = f" ({_REASONS.get(name, _MEMORY)})" if limited else ""
        raise ValidationError(f"{name} must be an integer{_range(low, top)}{why}, got {v}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (NumPy bools too); no truthy stand-ins.

    Raises:
        ValidationError: anything else (``0``, ``1``, ``"no"``, ``None`` included).
    """
    if not isinstance(value, bool | np.bool_):
        raise ValidationError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the given range (open ends with ``low_open``/``high_open``).

    Integers are accepted; bools, complex numbers, strings, NaN and infinities are not.

    Raises:
        ValidationError: another type, not finite, or out of range.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    v = float(value) if ok else math.nan
    span = _interval(low, high, low_open, high_open)
    if not ok or not math.isfinite(v):
        raise ValidationError(f"{name} must be a finite number{span}, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValidationError(f"{name} must be a finite number{span}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValidationError(f"{name} must be a finite number{span}, got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it equals one of ``choices`` (and has the same type)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValidationError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_seed(name: str, value: Any) -> int | None:
    """A seed: ``None`` or an integer in ``[0, 2**64)`` (NumPy's range; no bools).

    Raises:
        ValidationError: anything else.
    """
    if value is None:
        return None
    return check_int(name, value, 0, 2**64 - 1)


def check_seeds(seed: Any, n: int) -> list[int | None]:
    """The per-env seeds of a vector env's ``reset(seed=...)``: env ``i`` gets ``seed + i``.

    Args:
        seed: ``None``, one integer, or a sequence of ``n`` seeds (each ``None`` or an integer).
        n: the number of envs.

    Raises:
        ValidationError: a seed of another type or range, or a sequence of another length.
    """
    if seed is None or isinstance(seed, numbers.Integral):
        base = check_seed("seed", seed)
        if base is not None and base + n - 1 >= 2**64:
            raise ValidationError(f"seed must be below 2**64 - {n} for {n} envs, got {base}")
        return [None if base is None else base + i for i in range(n)]
    if isinstance(seed, str | bytes) or not isinstance(seed, Sequence | np.ndarray):
        raise ValidationError(
            f"seed must be None, an integer or a sequence of {n} seeds, got {seed!r}"
        )
    seeds = list(seed)
    if len(seeds) != n:
        raise ValidationError(f"got {len(seeds)} seeds for {n} envs")
    return [check_seed(f"seed[{i}]", s) for i, s in enumerate(seeds)]


def check_config(obj: Any, prefix: str = "") -> None:
    """Check every field of a config dataclass against its annotation, recursively.

    ``bool`` fields must hold bools, ``int`` fields integers (not bools) up to :data:`LIMITS`
    (or :data:`INT_LIMIT`), ``float`` fields finite real numbers, ``str`` fields strings,
    ``Literal`` fields a value of their values' type, ``Path`` fields paths or strings; ``None`` only where
    the annotation allows it. Nested config dataclasses are checked with their field name as
    prefix (``ppo.lr``). Range checks beyond these stay with the config's ``__post_init__``,
    which can then compare numbers safely (no NaN passes ``x <= 0`` unnoticed).

    Raises:
        ValidationError: the first field that does not fit, named ``prefix.field``.
    """
    for f, hint in _hints(type(obj)).items():
        name = f"{prefix}.{f}" if prefix else f
        value = getattr(obj, f)
        if dataclasses.is_dataclass(value):
            check_config(value, name)
            continue
        _check_hint(name, value, hint)


def build_config(cls: type, table: Any, where: str = "") -> Any:
    """``cls`` built from a table of its fields: a TOML table, or a saved ``config.json``.

    Nested config dataclasses are built from nested tables, a ``-`` in a key reads as ``_`` (the
    command line's spelling), a string as a path and an integer as a float where the field is one. Types and ranges are
    the class's own checks (:func:`check_config` in its ``__post_init__``): one schema for the
    command line, ablation configs and saved runs.

    Raises:
        ValidationError: an unknown key (the message lists the keys), a key given twice, a value
            that is not a table where one is expected, or the class's own error; each message
            starts with the field's dotted name under ``where``.
    """
    name = where or cls.__name__
    if not isinstance(table, Mapping):
        raise ValidationError(f"{name}: must be a table, got {table!r}")
    hints, kwargs = _hints(cls), {}
    for key, value in table.items():
        field, at = key.replace("-", "_"), f"{where}.{key}" if where else key
        if field not in hints:
            raise ValidationError(f"{at}: unknown key; {name} takes {sorted(hints)}")
        if field in kwargs:
            raise ValidationError(f"{at}: given twice (with '_' and with '-')")
        kind = _without_none(hints[field])
        if dataclasses.is_dataclass(kind):
            value = build_config(kind, value, at)
        elif kind is Path and isinstance(value, str):
            value = Path(value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # as the command line reads it: lr = 1 is 1.0
        kwargs[field] = value
    try:
        return cls(**kwargs)
    except ValueError as e:
        if not where:
            raise
        head, _, rest = str(e).partition(" ")  # "ppo.lr must be ..." names the field from its class
        leaf = where.rsplit(".", 1)[-1]
        text = (
            f"{where}{head[len(leaf) :]}: {rest}"
            if head.startswith(f"{leaf}.")
            else f"{where}: {e}"
        )
        raise ValidationError(text) from e


def _without_none(hint: Any) -> Any:
    """``X`` of ``X | None`` (else ``hint``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return hint


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Field annotations, resolved; a field whose annotation cannot be resolved is not checked."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # e.g. a name imported only for type checkers
        simple = {"bool": bool, "int": int, "float": float, "str": str}
        hints = {f.name: simple.get(f.type, f.type) for f in fields if isinstance(f.type, str)}
    return {f.name: hints.get(f.name, Any) for f in fields}


def _check_hint(name: str, value: Any, hint: Any) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            _check_hint(name, value, rest[0])
            return
        if value is None:
            raise ValidationError(f"{name} must not be None")
        return  # unions of several types: left to the config
    if origin is typing.Literal:  # the type here; the config names its own choices
        if not any(type(value) is type(a) for a in args):
            raise ValidationError(f"{name} must be one of {list(args)}, got {value!r}")
    elif hint is bool:
        check_bool(name, value)
    elif hint is int:
        check_int(name, value)
    elif hint is float:
        check_float(name, value)
    elif hint is str:
        if not isinstance(value, str):
            raise ValidationError(f"{name} must be a string, got {value!r}")
    elif hint is Path:
        if not isinstance(value, str | Path):
            raise ValidationError(f"{name} must be a path, got {value!r}")
    elif origin is tuple and not isinstance(value, tuple | list):
        raise ValidationError(f"{name} must be a sequence, got {value!r}")
    elif origin in (dict, Mapping) and not isinstance(value, Mapping):
        raise ValidationError(f"{name} must be a mapping, got {value!r}")


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    return "" if high is None else f" <= {high}"


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


__all__ = [
    "INT_LIMIT",
    "LIMITS",
    "SEED_LIMIT",
    "ValidationError",
    "check_bool",
    "check_choice",
    "build_config",
    "check_config",
    "check_float",
    "check_int",
    "check_seed",
    "check_seeds",
]
