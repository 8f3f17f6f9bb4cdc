"""The tables of an ablation report, made from per-seed rows alone.

:func:`tables` turns the rows of ``per_seed.csv`` (:mod:`babyworld.experiments.ablation.per_seed`) into
the report's Markdown: per level, labels ranked by the IQM of final greedy success with
bootstrap intervals, steps to the threshold (censored median), parent costs, supervision, and the
emergent-language table; then the aggregate over levels. Both ``babyworld report OUT`` and
``babyworld report --from-csv`` call it, so their tables agree (:func:`table_section`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from babyworld.experiments.ablation.per_seed import (
    CURVE,
    DIAGNOSTICS,
    HELD_OUT,
    LANGUAGE,
    PER_SEED,
    SUPERVISION,
)
from babyworld.experiments.ablation.stats import (
    bootstrap_inputs,
    censored,
    censored_median,
    iqm,
    iqm_with_ci,
    percentile_bootstrap,
)

TABLES_START = "<!-- tables -->"
TABLES_END = "<!-- /tables -->"


class ReportError(ValueError):
    """The directory is not an ablation, holds nothing to report, or too few seeds."""


def check_seeds(rows: Sequence[Mapping[str, Any]], intervals: bool) -> None:
    """Refuse intervals over fewer than 2 seeds.

    Raises:
        ReportError: ``intervals`` and a (level, label) cell holds exactly one finished run.
    """
    if not intervals:
        return
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[r["level"], r["label"]] = counts.get((r["level"], r["label"]), 0) + 1
    thin = [f"{lv}/{lb}" for (lv, lb), n in counts.items() if n < 2]
    if thin:
        raise ReportError(
            f"a confidence interval needs at least 2 seeds, and {', '.join(thin)} "
            f"{'has' if len(thin) == 1 else 'have'} 1 finished run: run more seeds (or wait for "
            "them to finish), or pass --no-intervals"
        )


def _order(rows: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    return list(dict.fromkeys(r[key] for r in rows))


def format_ci(point: float, low: float, high: float) -> str:
    """``"0.95 [0.90, 0.98]"``."""
    return f"{point:.2f} [{low:.2f}, {high:.2f}]"


def format_steps(value: float) -> str:
    """``"12,288"``, or ``"not reached"`` for ``inf``."""
    return "not reached" if math.isinf(value) else f"{value:,.0f}"


def format_steps_ci(point: float, low: float | None = None, high: float | None = None) -> str:
    """``"12,288 [10,240, 16,384]"``; an ``inf`` end reads ``not reached``."""
    if low is None or high is None:
        return format_steps(point)
    return f"{format_steps(point)} [{format_steps(low)}, {format_steps(high)}]"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (``|`` in a cell escaped)."""

    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def _mean(values: Sequence[Any], fmt: str) -> str:
    vals = [float(v) for v in values if v is not None]
    return format(float(np.mean(vals)), fmt) if vals else "–"


def tables(
    rows: Sequence[Mapping[str, Any]], reps: int = 10_000, seed: int = 0, intervals: bool = True
) -> tuple[list[str], dict[str, dict[str, tuple[float, float, float]]]]:
    """The report's tables (Markdown lines) from per-seed rows alone, and the greedy IQMs.

    Levels and labels appear in the order of the rows; within a level, labels are ranked by
    IQM final greedy success (ties in row order).

    Returns:
        ``(lines, ci)`` with ``ci[level or "all levels"][label] = (iqm, low, high)`` of final
        greedy success (``low = high = iqm`` without intervals).

    Raises:
        ReportError: no row, or intervals over fewer than 2 seeds (:func:`check_seeds`).
    """
    if not rows:
        raise ReportError("no finished run to report")
    check_seeds(rows, intervals)
    levels, labels = _order(rows, "level"), _order(rows, "label")
    lines: list[str] = [TABLES_START, ""]
    ci: dict[str, dict[str, tuple[float, float, float]]] = {}
    stats = _Stats(reps, seed, intervals)
    sup_keys = sorted(  # every level's supervision and mode diagnostics
        {k for r in rows for k in r if k.startswith((SUPERVISION, DIAGNOSTICS))}
    )
    for level in levels:
        mine = [r for r in rows if r["level"] == level]
        section, ci[level] = _level_section(mine, level, labels, sup_keys, stats)
        lines += section
    if len(levels) > 1:
        section, agg = _all_levels_section(rows, levels, labels, stats)
        lines += section
        if agg:
            ci["all levels"] = agg
    lines += [TABLES_END, ""]
    return lines, ci


class _Stats:
    """How the report summarises seeds: an IQM with a bootstrap CI, or the IQM alone."""

    def __init__(self, reps: int, seed: int, intervals: bool) -> None:
        self.reps, self.seed, self.intervals = reps, seed, intervals
        self.ci = " [95% CI]" if intervals else ""

    def iqms(self, scores: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
        """``label -> (iqm, low, high)`` (``low = high = iqm`` without intervals)."""
        if self.intervals:
            return iqm_with_ci(scores, self.reps, self.seed)
        return {k: (iqm(v),) * 3 for k, v in scores.items()}

    def cell(self, point: float, low: float, high: float) -> str:
        """An IQM, with its interval when there are intervals."""
        return format_ci(point, low, high) if self.intervals else f"{point:.2f}"

    def steps(self, steps: list[float | None]) -> str:
        """Median steps to the threshold (censored), with its interval."""
        if self.intervals:
            boot = percentile_bootstrap(censored(steps), reps=self.reps, seed=self.seed)
            return format_steps_ci(*boot)
        return format_steps(censored_median(steps))


def _level_section(
    rows: Sequence[Mapping[str, Any]],
    level: str,
    labels: list[str],
    sup_keys: list[str],
    stats: _Stats,
) -> tuple[list[str], dict[str, tuple[float, float, float]]]:
    """One level's table (labels ranked by IQM final greedy success) and its greedy IQMs."""
    t = f"{rows[0]['threshold']:g}"
    # runs trained without the held-out toys (env.split = "train") were also evaluated on them
    unseen = {kind: f"{HELD_OUT}{kind}_success" for kind in ("greedy", "sampled")}
    if not all(r.get(k) is not None for r in rows for k in unseen.values()):
        unseen = {}
    headers = [
        "rank", "label", "mode", "seeds",
        f"final greedy success, IQM{stats.ci}", f"final sampled success, IQM{stats.ci}",
        *[f"held-out toys, {kind}, IQM{stats.ci}" for kind in unseen],
        f"reached {t}", f"steps to {t}, median{stats.ci}",
        "parent requests", "parent hits", "parent tokens computed", "minutes",
        *[k.replace(".", ": ", 1) for k in sup_keys],
    ]  # fmt: skip

    def scores(key: str) -> dict[str, np.ndarray]:
        finals = {
            lb: {level: {r["seed"]: r[key] for r in rows if r["label"] == lb}} for lb in labels
        }
        return bootstrap_inputs(finals, [level])

    g_ci = stats.iqms(scores("final_greedy_success"))
    s_ci = stats.iqms(scores("final_sampled_success"))
    u_ci = [stats.iqms(scores(k)) for k in unseen.values()]
    ranked = sorted(g_ci, key=lambda lb: (-g_ci[lb][0], labels.index(lb)))
    table = []
    for rank, label in enumerate(ranked, start=1):
        mine = [r for r in rows if r["label"] == label]
        steps = [r["steps_to_threshold"] for r in mine]
        table.append(
            [
                rank, label, mine[0]["mode"], len(mine),
                stats.cell(*g_ci[label]), stats.cell(*s_ci[label]),
                *[stats.cell(*u[label]) for u in u_ci],
                f"{sum(v is not None for v in steps)}/{len(mine)}", stats.steps(steps),
                _mean([r["parent_requests"] for r in mine], ",.0f"),
                _mean([r["parent_hits"] for r in mine], ",.0f"),
                _mean([r["parent_computed_tokens"] for r in mine], ",.0f"),
                _mean([r["minutes"] for r in mine], ".2f"),
                *[_mean([r.get(k) for r in mine], ".3g") for k in sup_keys],
            ]
        )  # fmt: skip
    budgets = sorted({r["budget"] for r in rows})
    lines = [
        f"## {level}",
        "",
        f"Budget {', '.join(f'{b:,}' for b in budgets)} env steps per run.",
        "",
        markdown_table(headers, table),
        "",
        *language_table(rows, ranked),
    ]
    return lines, g_ci


def _all_levels_section(
    rows: Sequence[Mapping[str, Any]], levels: list[str], labels: list[str], stats: _Stats
) -> tuple[list[str], dict[str, tuple[float, float, float]]]:
    """IQM final greedy success over seeds x levels (only seeds that finished every level)."""
    finals = {
        lb: {
            lv: {
                r["seed"]: r["final_greedy_success"]
                for r in rows
                if r["level"] == lv and r["label"] == lb
            }
            for lv in levels
        }
        for lb in labels
    }
    both = {
        k: v
        for k, v in bootstrap_inputs(finals, levels).items()
        if len(v) >= 2 or not stats.intervals
    }
    if not both:
        return [], {}
    agg = stats.iqms(both)
    ranked = sorted(agg, key=lambda lb: (-agg[lb][0], labels.index(lb)))
    lines = [
        "## All levels",
        "",
        f"Final greedy success, IQM over seeds × levels ({', '.join(levels)}), seeds "
        "resampled within each level; only seeds that finished on every level.",
        "",
        markdown_table(
            ["rank", "label", "seeds", f"final greedy success, IQM{stats.ci}"],
            [[i, lb, len(both[lb]), stats.cell(*agg[lb])] for i, lb in enumerate(ranked, start=1)],
        ),
        "",
    ]
    return lines, agg


def language_table(rows: Sequence[Mapping[str, Any]], ranked: Sequence[str]) -> list[str]:
    """A level's emergent-language table (Markdown lines; none when no row has a measure).

    One row per label in ``ranked`` order; a cell is the mean over the label's seeds of one
    ``language.<stage>.<measure>`` column, seeds where it is undefined left out (``–`` if all).
    """
    keys = sorted({k for r in rows for k in r if k.startswith(LANGUAGE)})
    if not keys:
        return []
    body = [
        [label, *[_mean([r.get(k) for r in rows if r["label"] == label], ".3g") for k in keys]]
        for label in ranked
    ]
    return [
        "Emergent language at the end of training (mean over seeds; "
        "`babyworld.language`, EGG's measures):",
        "",
        markdown_table(["label", *[k[len(LANGUAGE) :] for k in keys]], body),
        "",
    ]


def table_section(text: str) -> str:
    """The tables of a report (between its table markers): what both paths must agree on."""
    return text[text.index(TABLES_START) : text.index(TABLES_END) + len(TABLES_END)]


def notes(threshold: float, reps: int, intervals: bool) -> list[str]:
    """How to read the tables (Markdown lines)."""
    t = f"{threshold:g}"
    ci = (
        f"[low, high]: 95% interval — for success rliable's stratified bootstrap of the IQM "
        f"(percentile, {reps:,} resamples, seeds resampled within each level); for steps a seeded "
        f"percentile bootstrap of the median over seeds ({reps:,} resamples, order statistics). "
        if intervals
        else "No intervals (--no-intervals). "
    )
    return [
        "## How to read the tables",
        "",
        "- Final greedy / sampled success: the verifier's success at the run's last evaluation, "
        "on held-out seeds, acting greedily / by sampling (summary.json `eval`). Labels are "
        "ranked by the IQM (interquartile mean over seeds) of final greedy success. " + ci,
        "- Held-out toys (columns only when every run of a level trained without them, "
        '`env.split = "train"`): the '
        "same last evaluation on scenes of the held-out toys alone, situations never seen in "
        "training; the success columns before them play the training toys on held-out seeds.",
        f"- Reached {t}: seeds whose greedy success reached {t} at an evaluation, of the "
        f"finished seeds. Steps to {t}: the first evaluation step at or above it; a seed that "
        "never got there is censored (it needs more than its budget) and counts as infinitely "
        "slow, so the median is `not reached` unless more than half the seeds got there, and no "
        "censored run is averaged as if it had; an interval end `not reached` means the "
        "resampled median did not either.",
        "- Parent requests count the prompts and scored (context, continuation) pairs a run "
        "asked the parent for; hits, those answered from its memory cache or the persistent "
        "answer store; tokens computed, what the model ran for the run. Runs share the store, so "
        "a later run of a level computes little: compare modes by requests. Minutes: wall-clock "
        "on whatever machine ran it. All are means per run.",
        "- Supervision columns: the mean over seeds of each number in the runs' summary.json "
        "`supervision` block (the mode's own accounting).",
        "- Emergent-language table: per stage, on the run's last window of exchanges, the "
        "topographic similarity between meanings (the wanted toy's attributes) and the baby's "
        "messages (`topsim`), the entropy in bits of whole messages, the symbols in use, the "
        "mean message length, and positional / bag-of-symbols disentanglement (`posdis`, "
        "`bosdis`; undefined with one attribute); means over the seeds where defined.",
        f"- Every row comes from `{PER_SEED}` beside this report (one row per finished run); "
        f"`babyworld report --from-csv {PER_SEED}` makes these tables from it alone.",
        "",
    ]


#: A curve whose last three evaluations span this much still moves at the budget (up or down).
MOVING = 0.02


def moving_section(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Which cells still move at the budget (their last three evaluations span >= MOVING)."""
    cells: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        span = r.get(f"{CURVE}last3_greedy_span")
        if span is not None and not math.isnan(span):
            cells.setdefault((r["level"], r["label"]), []).append(span)
    if not cells:
        return []
    moving = [
        f"`{label}` on {level} {sum(s >= MOVING for s in spans)} of {len(spans)}"
        for (level, label), spans in cells.items()
        if any(s >= MOVING for s in spans)
    ]
    return [
        "## At the budget",
        "",
        f"Seeds whose greedy success still moved at the budget (its last three evaluations span "
        f">= {MOVING}): " + ("; ".join(moving) if moving else "none") + ".",
        "",
    ]
