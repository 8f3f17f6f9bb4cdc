"""``per_seed.csv``: one row per finished run of an ablation, everything its report is made of.

``babyworld report OUT`` writes it beside ``report.md``; ``babyworld report --from-csv
per_seed.csv`` makes the same tables from it alone. Columns:

- ``level``, ``label``, ``mode``, ``seed``, ``budget`` (the run's env steps);
- ``final_greedy_success``, ``final_sampled_success``, ``eval_episodes``: the run's last
  evaluation (``summary.json`` ``eval``: the verifier's success on held-out seeds, acting
  greedily and by sampling, over that many episodes);
- ``threshold``, ``steps_to_threshold``: the first evaluation step (``eval.csv``) whose greedy
  success reached the threshold; empty when the run never did (censored at ``budget``);
- ``minutes``, ``parent_requests``, and when the summary has them ``parent_hits`` and
  ``parent_computed_tokens``;
- ``supervision.<key>``: every number of the summary's ``supervision`` block (nested keys
  joined by ``.``), empty where a run's summary lacks it;
- ``language.<stage>.<key>``: every number of the summary's ``language`` block (the
  emergent-language measures of :mod:`babyworld.language` on the stage's last window of
  exchanges), empty where a measure is undefined (``null``) or the summary lacks it;
- ``held_out.greedy_success``, ``held_out.sampled_success``: for a run trained without the
  held-out toys (``env.split = "train"``), its last evaluation on scenes of those toys alone;
- ``diagnostics.<name>``: the mean over the run's updates of each of its mode's own diagnostics
  (``summary.json`` ``mode_diagnostics``, e.g. ``diagnostics.sd/hindsight_gain_right``);
- ``curve.greedy_auc``: the greedy success averaged over the run's evaluations (the area under
  its learning curve, per evaluation); ``curve.last3_greedy_span``: its range (max - min) over
  the last three evaluations (empty with fewer): a curve that still moves at the budget.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PER_SEED = "per_seed.csv"
#: The fixed columns, in order (``supervision.*`` then ``language.*`` columns follow, sorted).
COLUMNS = (
    "level",
    "label",
    "mode",
    "seed",
    "budget",
    "final_greedy_success",
    "final_sampled_success",
    "eval_episodes",
    "threshold",
    "steps_to_threshold",
    "minutes",
    "parent_requests",
    "parent_hits",
    "parent_computed_tokens",
)
_INTS = ("seed", "budget", "eval_episodes", "steps_to_threshold", "parent_requests")
_INTS_OPTIONAL = ("parent_hits", "parent_computed_tokens")
_TEXT = ("level", "label", "mode")
SUPERVISION = "supervision."
LANGUAGE = "language."
HELD_OUT = "held_out."
CURVE = "curve."
DIAGNOSTICS = "diagnostics."
#: Prefixes of the optional columns a row may have (an empty cell is a missing value).
OPTIONAL_PREFIXES = (HELD_OUT, CURVE, SUPERVISION, DIAGNOSTICS, LANGUAGE)


class PerSeedError(ValueError):
    """A per-seed CSV is missing, malformed or inconsistent (the message names the row)."""


def flatten_numbers(block: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number in a nested dict, keyed by its path joined with ``.`` (bools left out)."""
    out: dict[str, float] = {}
    for key, value in block.items():
        if isinstance(value, Mapping):
            out.update(flatten_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def parent_columns(stats: Mapping[str, Any]) -> dict[str, int | None]:
    """The parent columns of a summary's ``parent_stats``.

    ``parent_requests``, ``parent_hits`` (memory cache + answer store) and
    ``parent_computed_tokens`` (``None`` where the summary lacks them).
    """
    hits = stats.get("cache_hits")
    if hits is not None:
        hits = int(hits) + int(stats.get("store_hits", 0))
    computed = stats.get("computed_tokens")
    return {
        "parent_requests": int(stats["requests"]),
        "parent_hits": hits,
        "parent_computed_tokens": None if computed is None else int(computed),
    }


def columns_of(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fixed columns, then every optional column (:data:`OPTIONAL_PREFIXES`) a row has."""
    extra = [
        c
        for prefix in OPTIONAL_PREFIXES
        for c in sorted({k for r in rows for k in r if k.startswith(prefix)})
    ]
    return [*COLUMNS, *extra]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def write_per_seed(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts with :data:`COLUMNS`, ``supervision.*`` and ``language.*`` keys)."""
    from babyworld.agents.checkpoint import write_text_atomic

    cols = columns_of(rows)
    lines = [",".join(cols)]
    for r in rows:
        lines.append(",".join(_csv_escape(_cell(r.get(c))) for c in cols))
    write_text_atomic("\n".join(lines) + "\n", Path(path))
    return Path(path)


def _csv_escape(text: str) -> str:
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def read_per_seed(path: Path) -> list[dict[str, Any]]:
    """Read a per-seed CSV written by :func:`write_per_seed` back into typed rows.

    Raises:
        PerSeedError: a missing file or column, a malformed number, a duplicate run, or a
            threshold that differs between rows.
    """
    path = Path(path)
    if not path.is_file():
        raise PerSeedError(f"{path} does not exist; `babyworld report OUT` writes {PER_SEED}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PerSeedError(f"{path}: no column {missing[0]!r}; the columns are {COLUMNS}")
        rows = []
        for n, raw in enumerate(reader, start=2):
            try:
                rows.append(_typed_row(raw))
            except ValueError as e:
                raise PerSeedError(f"{path}, line {n}: {e}") from None
    if not rows:
        raise PerSeedError(f"{path} holds no run")
    seen = set()
    for r in rows:
        key = (r["level"], r["label"], r["seed"])
        if key in seen:
            raise PerSeedError(f"{path}: run {key} is listed twice")
        seen.add(key)
    thresholds = {r["threshold"] for r in rows}
    if len(thresholds) > 1:
        raise PerSeedError(f"{path}: rows use different thresholds {sorted(thresholds)}")
    return rows


def _typed_row(raw: Mapping[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, text in raw.items():
        if key in _TEXT:
            if not text:
                raise ValueError(f"{key} is empty")
            row[key] = text
        elif key in _INTS or key in _INTS_OPTIONAL:
            optional = key == "steps_to_threshold" or key in _INTS_OPTIONAL
            row[key] = None if text == "" and optional else _int(key, text)
        elif text == "" and key.startswith(OPTIONAL_PREFIXES):
            continue
        else:
            row[key] = _float(key, text)
    return row


def _int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {text!r}") from None


def _float(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{key} must be finite, got {text!r}")
    return value
