"""Searches in an ablation: a label's grid of settings, and the choice of its best trial.

A label with a ``search`` table (``search.ppo.lr = [1e-4, 3e-4]``, ``search.modes.group_size =
[2, 4]``) becomes one label per point of the grid (:func:`expand_searches`, read by the ablation
config); ``babyworld report`` then picks each searched label's best trial (:func:`choose`) and
writes ``search.md`` and ``chosen.toml``, the settings to write into the main config.

The best trial is chosen among those whose runs all finished: the highest mean over its runs
(every level and seed of the search) of the greedy success averaged over the run's evaluations
(the area under its learning curve: at a budget where several trials end near 1, it prefers the
one that got there first), then the highest mean final greedy success, then sampled, then the
first in grid order.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from babyworld.experiments.ablation.controls import CONTROLS

#: The tables a search axis may set: --modes.*, --ppo.*, --env.*.
TABLES = ("modes", "ppo", "env")
#: What a label may be (it names a directory).
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CHOSEN = "chosen.toml"
SEARCH = "search.md"


def expand_searches(
    table: Mapping[str, Any], fail: Callable[[str, str], Exception]
) -> dict[str, tuple[Any, tuple[str, tuple[tuple[str, Any], ...]] | None]]:
    """Every label with its search trial (``None``): a label with ``search`` becomes its grid.

    Raises (through ``fail``): an axis outside ``modes``/``ppo``/``env``, a value list that is
    empty, repeats a value or holds a non-scalar, a setting both searched and set, a trial named
    like another label, or searched labels with different numbers of trials.
    """
    out: dict[str, tuple[Any, Any]] = {}
    trials: dict[str, int] = {}
    for label, entry in table.items():
        if not isinstance(entry, dict) or "search" not in entry:
            out[label] = (entry, None)
            continue
        where = f"modes.{label}.search"
        axes = list(_axes(label, entry, fail))
        base = {k: v for k, v in entry.items() if k != "search"}
        if "mode" not in base and "control" not in base:  # the trials are named otherwise
            base["control" if label in CONTROLS else "mode"] = label
        for point in itertools.product(*(values for _, _, values in axes)):
            trial = {**base, **{t: dict(base.get(t, {})) for t in TABLES}}
            for (name, key, _), value in zip(axes, point, strict=True):
                trial[name][key] = value
            settings = tuple((f"{n}.{k}", v) for (n, k, _), v in zip(axes, point, strict=True))
            name = "-".join([label, *(f"{k.split('.')[-1]}{v}" for k, v in settings)])
            if name in out or name in table:
                raise fail(where, f"makes a trial {name!r}, the name of another label")
            if not LABEL.match(name):
                raise fail(where, f"makes a trial {name!r}: values must spell a directory name")
            out[name] = (trial, (label, settings))
            trials[label] = trials.get(label, 0) + 1
    if len(set(trials.values())) > 1:
        raise fail(
            "modes",
            f"every searched label needs the same number of trials (equal cost), got {trials}",
        )
    return out


def _axes(label: str, entry: dict, fail: Callable[[str, str], Exception]) -> Iterator[tuple]:
    """``(table, key, values)`` of each axis of a label's search, checked."""
    where = f"modes.{label}.search"
    space = entry["search"]
    if not isinstance(space, dict) or not space:
        raise fail(
            where, f"must be a table of axes, e.g. search.ppo.lr = [1e-4, 3e-4]; got {space!r}"
        )
    for name, sub in space.items():
        if name not in TABLES or not isinstance(sub, dict):
            raise fail(
                f"{where}.{name}",
                "a search axis is a --modes.*, --ppo.* or --env.* setting with a list of "
                "values, e.g. search.ppo.lr = [1e-4, 3e-4]",
            )
        own = entry.get(name, {})
        if not isinstance(own, dict):
            raise fail(f"modes.{label}.{name}", f"must be a table, got {own!r}")
        for key, values in sub.items():
            at = f"{where}.{name}.{key}"
            if not isinstance(values, list) or not values:
                raise fail(at, f"must be a non-empty list of values, got {values!r} (no trial)")
            scalar = all(isinstance(v, bool | int | float | str) for v in values)
            if not scalar or len({f"{v}" for v in values}) != len(values):
                raise fail(at, f"must list distinct numbers, strings or booleans, got {values!r}")
            if key in own:
                raise fail(at, "is also set in the label: set it once")
            yield name, key, values


def choose(
    specs: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    planned: Mapping[str, int],
) -> list[dict]:
    """Each searched label's trials, scored on ``rows`` (per-seed rows).

    Args:
        specs: the ablation's labels as ``ablation.json`` records them (``search``: the searched
            label and the trial's settings, or ``None``).
        rows: per-seed rows (``label``, ``curve.greedy_auc``, ``final_greedy_success``,
            ``final_sampled_success``).
        planned: runs planned per trial label (a trial is scored once all of them finished).

    Returns:
        One dict per searched label: ``label``, ``trials`` (each ``label``, ``settings``, ``runs``,
        ``planned``, ``auc``, ``greedy``, ``sampled``; in grid order) and ``best`` (the best of the
        trials whose runs all finished, or ``None`` while none has).
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
            "planned": planned.get(spec["label"], 0),
            "auc": _mean(r.get("curve.greedy_auc", float("nan")) for r in mine),
            "greedy": _mean(r["final_greedy_success"] for r in mine),
            "sampled": _mean(r["final_sampled_success"] for r in mine),
        }
        out.setdefault(family, {"label": family, "trials": []})["trials"].append(trial)
    for entry in out.values():
        ran = [t for t in entry["trials"] if 0 < t["planned"] <= t["runs"]]
        entry["best"] = max(ran, key=lambda t: (t["auc"], t["greedy"], t["sampled"]), default=None)
    return list(out.values())


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def search_lines(choices: Sequence[dict]) -> list[str]:
    """``search.md``: every trial's mean success, the chosen one in bold."""
    lines = [
        "# Search",
        "",
        "Each searched label's trials, means over the finished runs: greedy success averaged over "
        "each run's evaluations (the area under its curve), final greedy and sampled success; "
        "the best of the trials whose runs all finished (by that order, then grid order) in "
        f"bold, its settings in [{CHOSEN}]({CHOSEN}).",
        "",
        "| label | trial | settings | runs | area under the curve | final greedy | final sampled |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in choices:
        for t in c["trials"]:
            bold = "**" if t is c["best"] else ""
            settings = ", ".join(f"{k} = {_toml(v)}" for k, v in t["settings"])
            lines.append(
                f"| {c['label']} | {bold}{t['label']}{bold} | {settings} | "
                f"{t['runs']} of {t['planned']} | {t['auc']:.3f} | {t['greedy']:.3f} | "
                f"{t['sampled']:.3f} |"
            )
    return [*lines, ""]


def chosen_toml(choices: Sequence[dict], source: str) -> str:
    """``chosen.toml``: each searched label's best settings, as tables of an ablation config."""
    lines = [
        f"# The best trial of each searched label of {source}",
        "# (mean area under the greedy curve, then final greedy, then sampled success, over its",
        "# runs): write these settings into the main config's tables, beside each label's own.",
    ]
    for c in choices:
        if c["best"] is None:
            lines += ["", f"# {c['label']}: no trial has finished all its runs yet"]
            continue
        lines += ["", f"[modes.{c['label']}]                # {c['best']['label']}"]
        lines += [f"{k} = {_toml(v)}" for k, v in c["best"]["settings"]]
    return "\n".join(lines) + "\n"
