"""Searches in an ablation: a label's grid of settings, and the choice of its best trial.

A label with a ``search`` table (``search.ppo.lr = [1e-4, 3e-4]``, ``search.modes.group_size =
[2, 4]``) becomes one label per point of the grid (:func:`expand_searches`, read by the ablation
config); ``babyworld report`` then picks each searched label's best trial (:func:`choose`) and
writes ``search.md`` and ``chosen.toml``, the settings to write into the main config.

The best trial has the highest mean final greedy success over its finished runs (every level and
seed of the search), then the highest mean sampled success, then the first in grid order.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from babyworld.experiments.ablation.controls import CONTROLS

#: The tables a search axis may set: --modes.*, --ppo.*, --env.*.
TABLES = ("modes", "ppo", "env")
CHOSEN = "chosen.toml"
SEARCH = "search.md"


def expand_searches(
    table: Mapping[str, Any], fail: Callable[[str, str], Exception]
) -> dict[str, tuple[Any, tuple[str, tuple[tuple[str, Any], ...]] | None]]:
    """Every label with its search trial (``None``): a label with ``search`` becomes its grid."""
    out: dict[str, tuple[Any, Any]] = {}
    trials: dict[str, int] = {}
    for label, entry in table.items():
        if not isinstance(entry, dict) or "search" not in entry:
            out[label] = (entry, None)
            continue
        where = f"modes.{label}.search"
        axes = []
        for name, sub in _table(entry["search"], where, fail).items():
            if name not in TABLES or not isinstance(sub, dict):
                raise fail(
                    f"{where}.{name}",
                    "a search axis is a --modes.*, --ppo.* or --env.* setting with a list of "
                    "values, e.g. search.ppo.lr = [1e-4, 3e-4]",
                )
            for key, values in sub.items():
                if not isinstance(values, list) or not values:
                    raise fail(
                        f"{where}.{name}.{key}",
                        f"must be a non-empty list of values, got {values!r} (no trial)",
                    )
                if key in entry.get(name, {}):
                    raise fail(f"{where}.{name}.{key}", "is also set in the label: set it once")
                axes.append((name, key, values))
        if not axes:
            raise fail(where, "has no axis, so no trial: e.g. search.ppo.lr = [1e-4, 3e-4]")
        base = {k: v for k, v in entry.items() if k != "search"}
        if "mode" not in base and "control" not in base:  # the trials are named otherwise
            base["control" if label in CONTROLS else "mode"] = label
        grid = list(itertools.product(*(values for _, _, values in axes)))
        trials[label] = len(grid)
        for point in grid:
            trial = {**base, **{t: dict(base.get(t, {})) for t in TABLES}}
            for (name, key, _), value in zip(axes, point, strict=True):
                trial[name][key] = value
            settings = tuple((f"{n}.{k}", v) for (n, k, _), v in zip(axes, point, strict=True))
            name = "-".join([label, *(f"{k.split('.')[-1]}{v}" for k, v in settings)])
            out[name] = (trial, (label, settings))
    if len(set(trials.values())) > 1:
        raise fail(
            "modes",
            f"every searched label needs the same number of trials (equal cost), got {trials}",
        )
    return out


def _table(value: Any, where: str, fail: Callable[[str, str], Exception]) -> dict:
    if not isinstance(value, dict):
        raise fail(where, f"must be a table, got {value!r}")
    return value


def choose(specs: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Each searched label's trials, scored on ``rows`` (per-seed rows), best first.

    Args:
        specs: the ablation's labels as ``ablation.json`` records them (``search``: the searched
            label and the trial's settings, or ``None``).
        rows: per-seed rows (``label``, ``final_greedy_success``, ``final_sampled_success``).

    Returns:
        One dict per searched label: ``label``, ``trials`` (each ``label``, ``settings``, ``runs``,
        ``greedy``, ``sampled``; in grid order) and ``best`` (a trial with runs, or ``None``).
    """
    out: dict[str, dict] = {}
    for spec in specs:
        if not spec.get("search"):
            continue
        family, settings = spec["search"]
        mine = [r for r in rows if r["label"] == spec["label"]]
        trial = {
            "label": spec["label"],
            "settings": [tuple(kv) for kv in settings],
            "runs": len(mine),
            "greedy": _mean(r["final_greedy_success"] for r in mine),
            "sampled": _mean(r["final_sampled_success"] for r in mine),
        }
        out.setdefault(family, {"label": family, "trials": []})["trials"].append(trial)
    for entry in out.values():
        ran = [t for t in entry["trials"] if t["runs"]]
        entry["best"] = max(ran, key=lambda t: (t["greedy"], t["sampled"]), default=None)
    return list(out.values())


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def search_lines(choices: Sequence[dict], planned: Mapping[str, int]) -> list[str]:
    """``search.md``: every trial's mean success, the chosen one in bold."""
    lines = [
        "# Search",
        "",
        "Each searched label's trials: mean final greedy (and sampled) success over the finished "
        "runs; the best (greedy, then sampled, then grid order) in bold, its settings in "
        f"[{CHOSEN}]({CHOSEN}).",
        "",
        "| label | trial | settings | runs | greedy | sampled |",
        "|---|---|---|---|---|---|",
    ]
    for c in choices:
        for t in c["trials"]:
            bold = "**" if t is c["best"] else ""
            settings = ", ".join(f"{k} = {_toml(v)}" for k, v in t["settings"])
            lines.append(
                f"| {c['label']} | {bold}{t['label']}{bold} | {settings} | "
                f"{t['runs']} of {planned.get(t['label'], 0)} | {t['greedy']:.3f} | "
                f"{t['sampled']:.3f} |"
            )
    return [*lines, ""]


def chosen_toml(choices: Sequence[dict], source: str) -> str:
    """``chosen.toml``: each searched label's best settings, as tables of an ablation config."""
    lines = [
        f"# The best trial of each searched label of {source} (mean final greedy success, then",
        "# sampled, over its finished runs): write these settings into the main config's tables,",
        "# beside each label's own.",
    ]
    for c in choices:
        if c["best"] is None:
            lines += ["", f"# {c['label']}: no finished trial"]
            continue
        lines += ["", f"[modes.{c['label']}]                # {c['best']['label']}"]
        lines += [f"{k} = {_toml(v)}" for k, v in c["best"]["settings"]]
    return "\n".join(lines) + "\n"
