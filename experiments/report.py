"""``babyworld report OUT``: the tables, per-seed file and plots of an ablation made by ``ablate``.

Writes ``OUT/report.md``, ``OUT/per_seed.csv`` (:mod:`babyworld.experiments.per_seed`: one row
per finished run, everything the tables are made of) and two PNGs. ``babyworld report --from-csv
per_seed.csv`` makes the same tables from the CSV alone. Per level, labels ranked by final greedy
success:

- **final greedy success** and, beside it, **final sampled success**: the run's last evaluation
  (``summary.json`` ``eval``: the verifier's success on held-out seeds, acting greedily and by
  sampling); IQM over seeds with a 95% stratified bootstrap CI (rliable).
- **reached**: seeds whose greedy success reached the threshold at an evaluation (``eval.csv``),
  out of the finished seeds; **steps to the threshold**: the median over seeds of the first such
  step, a seed that never got there counting as ``inf`` (censored, never averaged), with a
  seeded percentile bootstrap CI (:mod:`babyworld.experiments.stats`).
- **parent requests, hits, tokens computed, minutes**: mean per run (``parent_stats``).
- **supervision**: the mean over seeds of every number in the summaries' ``supervision`` block.

Intervals need at least 2 finished seeds in every cell that has any (``--no-intervals`` makes a
report without them).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.experiments.ablate import PLAN
from babyworld.experiments.per_seed import (
    PER_SEED,
    SUPERVISION,
    flatten_numbers,
    parent_columns,
    read_per_seed,
    write_per_seed,
)
from babyworld.experiments.stats import (
    bootstrap_inputs,
    censored,
    censored_median,
    iqm,
    iqm_curve_with_ci,
    iqm_with_ci,
    percentile_bootstrap,
    steps_to_threshold,
)

REPORT = "report.md"
FROM_CSV = "report_from_csv.md"
EVAL = "eval.csv"
PLOTS = ("greedy_vs_steps.png", "iqm_final.png")
#: The columns of ``eval.csv`` and the keys of ``summary.json`` ``eval`` the report reads.
EVAL_COLUMNS = ("step", "greedy_success", "sampled_success", "episodes")
EVAL_KEYS = ("greedy_success", "sampled_success", "episodes", "every")
TABLES_START = "<!-- tables -->"
TABLES_END = "<!-- /tables -->"


class ReportError(ValueError):
    """The directory is not an ablation, holds nothing to report, or too few seeds."""


@dataclass
class RunResult:
    """One run of the ablation as found on disk (``summary`` is ``None`` until it finished)."""

    level: str
    label: str
    mode: str
    seed: int
    path: Path
    summary: dict[str, Any] | None
    evals: list[dict[str, float]]

    @property
    def finished(self) -> bool:
        """The run reached the ablation's budget."""
        return self.summary is not None


# --- reading runs ------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, float]]:
    """The rows of a CSV of numbers (``eval.csv``, ``metrics.csv``) as dicts of floats.

    ``[]`` when the file does not exist.
    """
    if not path.is_file():
        return []
    with path.open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def load_ablation(out: Path) -> tuple[dict[str, Any], list[RunResult]]:
    """``ablation.json``'s config and every planned run as found on disk.

    Raises:
        ReportError: ``out`` holds no ``ablation.json``.
    """
    plan_path = Path(out) / PLAN
    if not plan_path.is_file():
        raise ReportError(
            f"{out} is not an ablation directory (no {PLAN}); run `babyworld ablate CONFIG` first"
        )
    plan = json.loads(plan_path.read_text())
    budgets = plan["config"]["steps"]
    runs = []
    for r in plan["runs"]:
        path = Path(out) / r["dir"]
        summary = None
        if (path / "summary.json").is_file():
            s = json.loads((path / "summary.json").read_text())
            summary = s if s.get("steps", 0) >= budgets[r["level"]] else None
        runs.append(
            RunResult(
                r["level"], r["label"], r["mode"], r["seed"], path, summary, read_rows(path / EVAL)
            )
        )
    return plan["config"], runs


def seed_row(run: RunResult, budget: int, threshold: float) -> dict[str, Any]:
    """The per-seed row of a finished run (:mod:`babyworld.experiments.per_seed`'s columns).

    Raises:
        ReportError: the run has no evaluation (``summary.json`` ``eval`` or ``eval.csv``).
    """
    s = run.summary or {}
    ev = s.get("eval")
    if not isinstance(ev, Mapping) or any(k not in ev for k in EVAL_KEYS[:3]):
        raise ReportError(
            f"{run.path}: summary.json has no evaluation ('eval' with {EVAL_KEYS}); the run was "
            "made by a babyworld without the evaluation protocol: train it again"
        )
    if not run.evals or any(k not in run.evals[0] for k in EVAL_COLUMNS):
        raise ReportError(f"{run.path}: no {EVAL} with the columns {EVAL_COLUMNS}")
    row: dict[str, Any] = {
        "level": run.level,
        "label": run.label,
        "mode": run.mode,
        "seed": run.seed,
        "budget": int(budget),
        "final_greedy_success": float(ev["greedy_success"]),
        "final_sampled_success": float(ev["sampled_success"]),
        "eval_episodes": int(ev["episodes"]),
        "threshold": float(threshold),
        "steps_to_threshold": steps_to_threshold(run.evals, threshold),
        "minutes": float(s.get("minutes", math.nan)),
        **parent_columns(s["parent_stats"]),
    }
    supervision = s.get("supervision")
    if isinstance(supervision, Mapping):
        row.update({SUPERVISION + k: v for k, v in flatten_numbers(supervision).items()})
    return row


# --- the tables --------------------------------------------------------------------------------


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
    threshold = rows[0]["threshold"]
    levels, labels = _order(rows, "level"), _order(rows, "label")
    sup_keys = sorted({k for r in rows for k in r if k.startswith(SUPERVISION)})
    t = f"{threshold:g}"
    headers = [
        "rank",
        "label",
        "mode",
        "seeds",
        "final greedy success, IQM" + (" [95% CI]" if intervals else ""),
        "final sampled success, IQM" + (" [95% CI]" if intervals else ""),
        f"reached {t}",
        f"steps to {t}, median" + (" [95% CI]" if intervals else ""),
        "parent requests",
        "parent hits",
        "parent tokens computed",
        "minutes",
        *[f"supervision: {k[len(SUPERVISION) :]}" for k in sup_keys],
    ]
    lines: list[str] = [TABLES_START, ""]
    ci: dict[str, dict[str, tuple[float, float, float]]] = {}

    def scores(key: str, level: str) -> dict[str, np.ndarray]:
        finals = {
            lb: {
                level: {r["seed"]: r[key] for r in rows if r["level"] == level and r["label"] == lb}
            }
            for lb in labels
        }
        return bootstrap_inputs(finals, [level])

    for level in levels:
        greedy, sampled = (
            scores("final_greedy_success", level),
            scores("final_sampled_success", level),
        )
        if intervals:
            g_ci, s_ci = iqm_with_ci(greedy, reps, seed), iqm_with_ci(sampled, reps, seed)
        else:
            g_ci = {k: (iqm(v),) * 3 for k, v in greedy.items()}
            s_ci = {k: (iqm(v),) * 3 for k, v in sampled.items()}
        ci[level] = g_ci
        ranked = sorted(g_ci, key=lambda lb: (-g_ci[lb][0], labels.index(lb)))
        table = []
        for rank, label in enumerate(ranked, start=1):
            mine = [r for r in rows if r["level"] == level and r["label"] == label]
            steps = [r["steps_to_threshold"] for r in mine]
            if intervals:
                steps_cell = format_steps_ci(
                    *percentile_bootstrap(censored(steps), reps=reps, seed=seed)
                )
            else:
                steps_cell = format_steps(censored_median(steps))
            fmt = format_ci if intervals else (lambda p, lo, hi: f"{p:.2f}")
            table.append(
                [
                    rank,
                    label,
                    mine[0]["mode"],
                    len(mine),
                    fmt(*g_ci[label]),
                    fmt(*s_ci[label]),
                    f"{sum(v is not None for v in steps)}/{len(mine)}",
                    steps_cell,
                    _mean([r["parent_requests"] for r in mine], ",.0f"),
                    _mean([r["parent_hits"] for r in mine], ",.0f"),
                    _mean([r["parent_computed_tokens"] for r in mine], ",.0f"),
                    _mean([r["minutes"] for r in mine], ".2f"),
                    *[_mean([r.get(k) for r in mine], ".3g") for k in sup_keys],
                ]
            )
        budgets = sorted({r["budget"] for r in rows if r["level"] == level})
        lines += [
            f"## {level}",
            "",
            f"Budget {', '.join(f'{b:,}' for b in budgets)} env steps per run.",
            "",
            markdown_table(headers, table),
            "",
        ]
    if len(levels) > 1:
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
            if len(v) >= 2 or not intervals
        }
        if both:
            agg = (
                iqm_with_ci(both, reps, seed)
                if intervals
                else {k: (iqm(v),) * 3 for k, v in both.items()}
            )
            ci["all levels"] = agg
            ranked = sorted(agg, key=lambda lb: (-agg[lb][0], labels.index(lb)))
            fmt = format_ci if intervals else (lambda p, lo, hi: f"{p:.2f}")
            lines += [
                "## All levels",
                "",
                f"Final greedy success, IQM over seeds × levels ({', '.join(levels)}), seeds "
                "resampled within each level; only seeds that finished on every level.",
                "",
                markdown_table(
                    [
                        "rank",
                        "label",
                        "seeds",
                        "final greedy success, IQM" + (" [95% CI]" if intervals else ""),
                    ],
                    [[i, lb, len(both[lb]), fmt(*agg[lb])] for i, lb in enumerate(ranked, start=1)],
                ),
                "",
            ]
    lines += [TABLES_END, ""]
    return lines, ci


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
        f"- Every row comes from `{PER_SEED}` beside this report (one row per finished run); "
        f"`babyworld report --from-csv {PER_SEED}` makes these tables from it alone.",
        "",
    ]


# --- writing -----------------------------------------------------------------------------------


def write_report(
    out: Path,
    threshold: float = 0.9,
    reps: int = 10_000,
    curve_reps: int = 2000,
    seed: int = 0,
    intervals: bool = True,
) -> Path:
    """Write ``OUT/report.md``, ``OUT/per_seed.csv`` and the PNGs; returns the report's path.

    Args:
        out: the ablation's output directory.
        threshold: greedy success that counts as reached, in (0, 1].
        reps: bootstrap resamples of the tables' intervals.
        curve_reps: bootstrap resamples of the curves' bands.
        seed: seeds the bootstraps.
        intervals: compute confidence intervals (needs >= 2 finished seeds per cell).

    Raises:
        ReportError: not an ablation, no finished run, a run without evaluation, or intervals
            over fewer than 2 seeds; raised before anything is written.
    """
    import importlib.util

    if importlib.util.find_spec("rliable") is None:
        raise ReportError(
            "babyworld report needs rliable (confidence intervals): pip install 'babyworld[report]'"
        )
    out = Path(out)
    cfg, runs = load_ablation(out)
    if intervals and len(cfg["seeds"]) < 2:
        raise ReportError(
            f"the ablation in {out} has {len(cfg['seeds'])} seed: a confidence interval needs at "
            "least 2; add seeds to the config, or pass --no-intervals"
        )
    done = [r for r in runs if r.finished]
    if not done:
        raise ReportError(f"no run of the ablation in {out} has finished yet; nothing to report")
    rows = [seed_row(r, cfg["steps"][r.level], threshold) for r in done]
    table_lines, ci = tables(rows, reps, seed, intervals)
    levels = list(cfg["levels"])
    specs = {m["label"]: m for m in cfg["modes"]}
    lines = [
        "# Ablation report",
        "",
        f"`{out}`: parent `{cfg['parent']}`, env steps per run "
        + ", ".join(f"{lv} {cfg['steps'][lv]:,}" for lv in levels)
        + f", {cfg['num_envs']} envs, seeds {list(cfg['seeds'])}, {len(done)} of {len(runs)} "
        f"runs finished. Reproduce with `babyworld ablate {cfg.get('source') or 'CONFIG'}` then "
        f"`babyworld report {out}`; per-seed results: [{PER_SEED}]({PER_SEED}).",
        "",
        "Settings per label (what each changes from its mode's defaults): "
        + "; ".join(f"`{lb}` {_settings(specs[lb])}" for lb in specs)
        + ".",
        "",
    ]
    lines += table_lines
    lines += notes(threshold, reps, intervals)
    lines += retention_section(done, list(specs), levels)
    write_per_seed(out / PER_SEED, rows)
    plots = _plots(out, levels, list(specs), done, ci, curve_reps, seed, threshold)
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / REPORT
    path.write_text("\n".join(lines))
    return path


def write_report_from_csv(
    csv_path: Path,
    out: Path | None = None,
    threshold: float | None = None,
    reps: int = 10_000,
    seed: int = 0,
    intervals: bool = True,
) -> Path:
    """Write the report's tables made from a ``per_seed.csv`` alone; returns the written path.

    Args:
        csv_path: the per-seed file (written by :func:`write_report`).
        out: the Markdown file to write (default: ``report_from_csv.md`` beside the CSV).
        threshold: must be the CSV's (``None``: the CSV's).
        reps: bootstrap resamples of the intervals.
        seed: seeds the bootstraps.
        intervals: compute confidence intervals.

    Raises:
        ReportError: the CSV is missing or malformed, ``threshold`` differs from the one its
            steps were computed at, or intervals over fewer than 2 seeds.
    """
    from babyworld.experiments.per_seed import PerSeedError

    try:
        rows = read_per_seed(csv_path)
    except PerSeedError as e:
        raise ReportError(str(e)) from None
    have = rows[0]["threshold"]
    if threshold is not None and threshold != have:
        raise ReportError(
            f"{csv_path}: its steps to threshold were computed at {have:g}, not {threshold:g}; "
            "make the report of another threshold from the ablation directory"
        )
    table_lines, _ = tables(rows, reps, seed, intervals)
    lines = [
        "# Ablation report (from the per-seed file)",
        "",
        f"Made from `{csv_path}` alone ({len(rows)} runs).",
        "",
        *table_lines,
        *notes(have, reps, intervals),
    ]
    path = Path(out) if out is not None else Path(csv_path).parent / FROM_CSV
    path.write_text("\n".join(lines))
    return path


def _settings(spec: Mapping[str, Any]) -> str:
    """``mode distill, env consistency_temperature=0.1`` — what a label sets beyond defaults."""
    from babyworld.agents.modes import ModeConfig
    from babyworld.agents.ppo import PPOConfig

    parts = [f"mode {spec['mode']}"]
    defaults = {
        "env": {
            "reward_weights": None,
            "reward_source": "verifier",
            "consistency_temperature": None,
        },
        "modes": dataclasses.asdict(ModeConfig()),
        "ppo": dataclasses.asdict(PPOConfig()),
    }
    for key, default in defaults.items():
        mine = spec.get(key) or {}
        changed = {k: v for k, v in mine.items() if k in default and v != default[k]}
        if changed:
            parts.append(f"{key} " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    return ", ".join(parts)


def retention_values(summary: Mapping[str, Any]) -> dict[str, float]:
    """``retention/<task>`` entries of a run's curriculum log (``{}`` without a curriculum)."""
    log = (summary.get("curriculum") or {}).get("log") or {}
    return {k.split("/", 1)[1]: float(v) for k, v in log.items() if k.startswith("retention/")}


def retention_section(done: Sequence[RunResult], labels: list[str], levels: list[str]) -> list[str]:
    """The report's retention section (Markdown lines).

    A table of the ``retention/<task>`` means over seeds per level and mode, or a sentence saying
    that no run re-tested earlier stages.
    """
    rows = []
    for level in levels:
        for label in labels:
            vals: dict[str, list[float]] = {}
            for r in done:
                if r.level == level and r.label == label:
                    for task, v in retention_values(r.summary or {}).items():
                        vals.setdefault(task, []).append(v)
            rows += [
                [level, label, task, f"{np.mean(v):.2f}", len(v)]
                for task, v in sorted(vals.items())
            ]
    if not rows:
        return [
            "## Retention of earlier stages",
            "",
            "None: no run of this ablation used a curriculum that re-tests earlier stages (each "
            "run trains on one level), so there is no earlier stage to retain.",
            "",
        ]
    return [
        "## Retention of earlier stages",
        "",
        "Success on re-test episodes of earlier stages at the end of the run (the curriculum's "
        "`retention/<task>` windows), mean over seeds.",
        "",
        markdown_table(["level", "label", "earlier stage", "retention", "seeds"], rows),
        "",
    ]


def common_curve(
    runs: Sequence[RunResult], key: str = "greedy_success"
) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation steps every run has, and per run ``key`` there (``[n_runs, n_steps]``)."""
    steps = sorted(set.intersection(*({int(r["step"]) for r in run.evals} for run in runs)))
    ys = []
    for run in runs:
        by_step = {int(r["step"]): r for r in run.evals}
        ys.append([by_step[s][key] for s in steps])
    return np.array(steps, float), np.array(ys, float)


def _plots(
    out: Path,
    levels: list[str],
    labels: list[str],
    done: Sequence[RunResult],
    ci: Mapping[str, Mapping[str, tuple[float, float, float]]],
    curve_reps: int,
    seed: int,
    threshold: float,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {lb: f"C{i % 10}" for i, lb in enumerate(labels)}
    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 3.8), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        for label in labels:
            mine = [r for r in done if r.level == level and r.label == label and r.evals]
            if len(mine) < 2:
                continue
            steps, ys = common_curve(mine)
            if steps.size == 0:
                continue
            mid, lo, hi = iqm_curve_with_ci(ys, reps=curve_reps, seed=seed)
            ax.plot(steps, mid, color=colours[label], label=f"{label} ({len(mine)})")
            ax.fill_between(steps, lo, hi, color=colours[label], alpha=0.2, lw=0)
        ax.axhline(threshold, color="grey", ls=":", lw=1)
        ax.set_title(level)
        ax.set_xlabel("env steps")
        ax.set_ylim(0, 1)
        ax.set_ylabel("greedy success, held-out seeds")
        if ax.lines[1:]:
            ax.legend(loc="lower right", fontsize="small", title="label (seeds)")
    fig.suptitle("IQM across seeds, 95% stratified bootstrap band")
    fig.tight_layout()
    fig.savefig(out / PLOTS[0], dpi=100)
    plt.close(fig)

    panels = [p for p in [*levels, "all levels"] if ci.get(p)]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(1.2 + 0.9 * len(labels) * len(panels), 3.8), squeeze=False
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        shown = [lb for lb in labels if lb in ci[panel]]
        vals = np.array([ci[panel][lb] for lb in shown])
        ax.bar(
            range(len(shown)),
            vals[:, 0],
            yerr=[vals[:, 0] - vals[:, 1], vals[:, 2] - vals[:, 0]],
            color=[colours[lb] for lb in shown],
            capsize=4,
        )
        ax.set_xticks(range(len(shown)), shown, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(panel)
        ax.set_ylabel("IQM final greedy success")
    fig.suptitle("IQM final greedy success, 95% stratified bootstrap CI")
    fig.tight_layout()
    fig.savefig(out / PLOTS[1], dpi=100)
    plt.close(fig)
    return [out / p for p in PLOTS]
