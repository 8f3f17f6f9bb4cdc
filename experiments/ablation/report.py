"""``babyworld report OUT``: the tables, per-seed file and plots of an ablation made by ``ablate``.

Writes ``OUT/report.md``, ``OUT/per_seed.csv`` (:mod:`babyworld.experiments.ablation.per_seed`: one row
per finished run, everything the tables are made of) and two PNGs. ``babyworld report --from-csv
per_seed.csv`` makes the same tables from the CSV alone. Per level, labels ranked by final greedy
success:

- **final greedy success** and, beside it, **final sampled success**: the run's last evaluation
  (``summary.json`` ``eval``: the verifier's success on held-out seeds, acting greedily and by
  sampling); IQM over seeds with a 95% stratified bootstrap CI (rliable); when every run
  trained without the held-out toys, the same on scenes of those toys beside them;
- **reached**: seeds whose greedy success reached the threshold at an evaluation (``eval.csv``),
  out of the finished seeds; **steps to the threshold**: the median over seeds of the first such
  step, a seed that never got there counting as ``inf`` (censored, never averaged), with a
  seeded percentile bootstrap CI (:mod:`babyworld.experiments.ablation.stats`).
- **parent requests, hits, tokens computed, minutes**: mean per run (``parent_stats``).
- **supervision**: the mean over seeds of every number in the summaries' ``supervision`` block.
- **language**, a second table per level: the mean over seeds of each emergent-language measure
  in the summaries' ``language`` block (:mod:`babyworld.language`: topographic similarity,
  message entropy, vocabulary in use, mean length, posdis, bosdis, per stage), seeds where a
  measure is undefined left out.

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

from babyworld.agents.checkpoint import write_text_atomic
from babyworld.experiments.ablation.ablate import PLAN
from babyworld.experiments.ablation.per_seed import (
    CURVE,
    DIAGNOSTICS,
    HELD_OUT,
    LANGUAGE,
    PER_SEED,
    SUPERVISION,
    flatten_numbers,
    parent_columns,
    read_per_seed,
    write_per_seed,
)
from babyworld.experiments.ablation.report_tables import (
    ReportError,
    format_steps_ci,
    markdown_table,
    moving_section,
    notes,
    table_section,
    tables,
)
from babyworld.experiments.ablation.search import CHOSEN, SEARCH, choose, chosen_toml, search_lines
from babyworld.experiments.ablation.stats import iqm_curve_with_ci, steps_to_threshold

__all__ = [
    "ReportError",
    "RunResult",
    "format_steps_ci",
    "load_ablation",
    "seed_row",
    "table_section",
    "tables",
    "write_report",
    "write_report_from_csv",
]

REPORT = "report.md"
FROM_CSV = "report_from_csv.md"
EVAL = "eval.csv"
PLOTS = ("greedy_vs_steps.png", "iqm_final.png")
#: The columns of ``eval.csv`` and the keys of ``summary.json`` ``eval`` the report reads.
EVAL_COLUMNS = ("step", "greedy_success", "sampled_success", "episodes")
EVAL_KEYS = ("greedy_success", "sampled_success", "episodes", "every")


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
    """The per-seed row of a finished run (:mod:`babyworld.experiments.ablation.per_seed`'s columns).

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
    for kind in ("greedy", "sampled"):
        if f"held_out_{kind}_success" in ev:
            row[f"{HELD_OUT}{kind}_success"] = float(ev[f"held_out_{kind}_success"])
    for name, d in (s.get("mode_diagnostics") or {}).items():
        if d.get("mean") is not None:
            row[f"{DIAGNOSTICS}{name}"] = float(d["mean"])
    greedy = [e["greedy_success"] for e in run.evals]
    row[f"{CURVE}greedy_auc"] = float(np.mean(greedy))
    if len(greedy) >= 3:
        row[f"{CURVE}last3_greedy_span"] = max(greedy[-3:]) - min(greedy[-3:])
    for prefix, key in ((SUPERVISION, "supervision"), (LANGUAGE, "language")):
        block = s.get(key)
        if isinstance(block, Mapping):
            row.update({prefix + k: v for k, v in flatten_numbers(block).items()})
    return row


# --- writing -----------------------------------------------------------------------------------


def write_report(
    out: Path,
    threshold: float = 0.9,
    reps: int = 10_000,
    curve_reps: int = 2000,
    seed: int = 0,
    intervals: bool = True,
    levels: Sequence[str] = (),
) -> Path:
    """Write ``OUT/report.md``, ``OUT/per_seed.csv`` and the PNGs; returns the report's path.

    Args:
        out: the ablation's output directory.
        threshold: greedy success that counts as reached, in (0, 1].
        reps: bootstrap resamples of the tables' intervals.
        curve_reps: bootstrap resamples of the curves' bands.
        seed: seeds the bootstraps.
        intervals: compute confidence intervals (needs >= 2 finished seeds per cell).
        levels: report only these of the ablation's levels (e.g. while the others still run);
            empty: all of them.

    Raises:
        ReportError: not an ablation, a level it does not have, no finished run, a run without
            evaluation, or intervals over fewer than 2 seeds; raised before anything is written.
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
    unknown = [lv for lv in levels if lv not in cfg["levels"]]
    if unknown:
        raise ReportError(
            f"the ablation in {out} has no level {unknown[0]!r}; its levels are {cfg['levels']}"
        )
    levels = list(levels) or list(cfg["levels"])
    runs = [r for r in runs if r.level in levels]
    done = [r for r in runs if r.finished]
    if not done:
        raise ReportError(
            f"no run of the ablation in {out} ({', '.join(levels)}) has finished yet; "
            "nothing to report"
        )
    rows = [seed_row(r, cfg["steps"][r.level], threshold) for r in done]
    table_lines, ci = tables(rows, reps, seed, intervals)
    specs = {m["label"]: m for m in cfg["modes"]}
    subset = "" if levels == list(cfg["levels"]) else " --levels " + " ".join(levels)
    lines = [
        "# Ablation report",
        "",
        f"`{out}`: parent `{cfg['parent']}`, env steps per run "
        + ", ".join(f"{lv} {cfg['steps'][lv]:,}" for lv in levels)
        + f", {cfg['num_envs']} envs, seeds {list(cfg['seeds'])}, {len(done)} of {len(runs)} "
        f"runs finished. Reproduce with `babyworld ablate {cfg.get('source') or 'CONFIG'}` then "
        f"`babyworld report {out}{subset}`; per-seed results: [{PER_SEED}]({PER_SEED}).",
        "",
        "Settings per label (what each changes from its mode's defaults): "
        + "; ".join(f"`{lb}` {_settings(specs[lb])}" for lb in specs)
        + ".",
        "",
    ]
    lines += table_lines
    lines += notes(threshold, reps, intervals)
    lines += retention_section(done, list(specs), levels)
    lines += moving_section(rows)
    lines += _search(out, cfg, rows, [r.label for r in runs])
    write_per_seed(out / PER_SEED, rows)
    plots = _plots(out, levels, list(specs), done, ci, curve_reps, seed, threshold)
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / REPORT
    write_text_atomic("\n".join(lines), path)
    return path


def _search(out: Path, cfg: Mapping[str, Any], rows: list, planned: list[str]) -> list[str]:
    """``search.md`` and ``chosen.toml`` for an ablation with searches; the report's lines."""
    choices = choose(cfg["modes"], rows, {lb: planned.count(lb) for lb in set(planned)})
    if not choices:
        return []
    write_text_atomic("\n".join(search_lines(choices)), out / SEARCH)
    write_text_atomic(chosen_toml(choices, cfg.get("source") or str(out)), out / CHOSEN)
    return [
        f"Searches: each trial in [{SEARCH}]({SEARCH}), the best settings in [{CHOSEN}]({CHOSEN}).",
        "",
    ]


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
    from babyworld.experiments.ablation.per_seed import PerSeedError

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
        *moving_section(rows),
    ]
    path = Path(out) if out is not None else Path(csv_path).parent / FROM_CSV
    write_text_atomic("\n".join(lines), path)
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

    # one colour per label (tab20 beyond 10 labels), and a dashed line for every second one
    palette = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20").colors
    colours = {lb: palette[i % len(palette)] for i, lb in enumerate(labels)}
    styles = {lb: "-" if i % 2 == 0 else "--" for i, lb in enumerate(labels)}
    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels) + 2.2, 3.8), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        for label in labels:
            mine = [r for r in done if r.level == level and r.label == label and r.evals]
            if len(mine) < 2:
                continue
            steps, ys = common_curve(mine)
            if steps.size == 0:
                continue
            mid, lo, hi = iqm_curve_with_ci(ys, reps=curve_reps, seed=seed)
            ax.plot(steps, mid, styles[label], color=colours[label], label=label)
            ax.fill_between(steps, lo, hi, color=colours[label], alpha=0.2, lw=0)
        ax.axhline(threshold, color="grey", ls=":", lw=1)
        ax.set_title(level)
        ax.set_xlabel("env steps")
        ax.set_ylim(0, 1)
        ax.set_ylabel("greedy success, held-out seeds")
    legend: dict[str, Any] = {}  # label -> its line, first level first
    for ax in axes[0]:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(name, handle)
    if legend:
        fig.legend(list(legend.values()), list(legend), loc="center right", fontsize="small")
    fig.suptitle("IQM across seeds, 95% stratified bootstrap band")
    fig.tight_layout(rect=(0, 0, 1 - 2.2 / fig.get_figwidth(), 1))
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
