"""``babyworld report OUT``: the comparison table and plots of an ablation made by ``babyworld ablate``.

Writes ``OUT/report.md`` and three PNGs beside it. Per level and mode:

- **IQM final success** with a 95% stratified bootstrap confidence interval (rliable's
  ``get_interval_estimates`` with ``aggregate_iqm``, percentile method): a run's final success is
  its success over the last 500 episodes (``summary.json``); across levels, the bootstrap
  resamples seeds within each level (the strata).
- **steps to reach a threshold** of ``success_500`` (first ``metrics.csv`` row at or above it):
  the median over seeds, a seed that never reached it counting as infinitely slow, and how many
  seeds reached it.
- **wall-clock minutes** and **parent tokens** per run (``summary.json``), mean over seeds.
- **supervision bits per step** the policy receives from the parent or the world (see
  :func:`supervision`).
- **retention** of earlier curriculum stages, when runs used a curriculum that re-tests them.

Curves (``success_vs_steps.png``, ``success_vs_minutes.png``): success over the last 100 episodes,
the IQM across seeds with a 95% stratified bootstrap band, at the steps every seed logged; versus
wall-clock, the same points placed at the median over seeds of the minute each seed logged that
step. ``iqm_final.png``: the IQM bars with their intervals.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.agents.losses import supervision_bits
from babyworld.experiments.ablate import LEVEL_FACTS, PLAN

REPORT = "report.md"
PLOTS = ("success_vs_steps.png", "success_vs_minutes.png", "iqm_final.png")
#: Components of the reward vector (babyworld.rewards.REWARD_NAMES).
N_COMPONENTS = 5


class ReportError(ValueError):
    """The directory is not an ablation, or holds nothing to report."""


@dataclass
class RunResult:
    """One run of the ablation as found on disk (``summary`` is ``None`` until it finished)."""

    level: str
    label: str
    mode: str
    seed: int
    path: Path
    summary: dict[str, Any] | None
    metrics: list[dict[str, float]]

    @property
    def finished(self) -> bool:
        """The run reached the ablation's budget."""
        return self.summary is not None


# --- pure functions ----------------------------------------------------------------------------


def read_metrics(path: Path) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.csv`` as dicts of floats (``[]`` when it does not exist)."""
    if not path.is_file():
        return []
    with path.open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def steps_to_threshold(
    rows: Sequence[Mapping[str, float]], threshold: float = 0.9, key: str = "success_500"
) -> int | None:
    """Env steps of the first row whose ``key`` is at least ``threshold`` (``None``: never)."""
    for row in rows:
        if row[key] >= threshold:
            return int(row["step"])
    return None


def median_steps(values: Sequence[int | None]) -> float:
    """Median over seeds, a seed that never reached the threshold (``None``) counting as ``inf``."""
    if not values:
        return math.nan
    return float(np.median([math.inf if v is None else float(v) for v in values]))


def bootstrap_inputs(
    finals: Mapping[str, Mapping[str, Mapping[int, float]]], levels: Sequence[str]
) -> dict[str, np.ndarray]:
    """Score matrices for rliable: per mode label, ``(n_seeds, n_levels)`` final scores.

    Args:
        finals: ``finals[label][level][seed]``, the final score of each finished run.
        levels: the levels (columns, the bootstrap's strata), in order.

    Returns:
        Per label, the scores of the seeds that finished on every one of ``levels`` (rows in
        seed order); labels with no such seed are left out.
    """
    out = {}
    for label, by_level in finals.items():
        seeds = sorted(set.intersection(*(set(by_level.get(lv, {})) for lv in levels)))
        if seeds:
            out[label] = np.array([[by_level[lv][s] for lv in levels] for s in seeds], float)
    return out


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over every run and task (rliable's ``aggregate_iqm``)."""
    from rliable import metrics

    return float(metrics.aggregate_iqm(scores))


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (rliable's resampling draws from it), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_with_ci(
    score_dict: Mapping[str, np.ndarray], reps: int = 10_000, seed: int = 0, size: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """IQM and its stratified bootstrap CI per key: ``(iqm, low, high)``.

    ``rliable.library.get_interval_estimates`` with ``rliable.metrics.aggregate_iqm``, percentile
    method, resampling runs (seeds) within each task (level); reproducible for a ``seed``.
    """
    from rliable import library, metrics

    with _numpy_seed(seed):
        points, intervals = library.get_interval_estimates(
            dict(score_dict),
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps,
            confidence_interval_size=size,
        )
    return {
        k: (float(points[k][0]), float(intervals[k][0, 0]), float(intervals[k][1, 0]))
        for k in score_dict
    }


def iqm_curve_with_ci(
    curves: np.ndarray, reps: int = 2000, seed: int = 0, size: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM across seeds at every point of ``curves`` (``[n_seeds, n_points]``) and its CI band.

    One stratified bootstrap (rliable) over seeds for all points at once: the same seeds are
    resampled at every point. Returns ``(iqm, low, high)``, each ``[n_points]``.
    """
    import scipy.stats
    from rliable import library

    def per_point(x: np.ndarray) -> np.ndarray:  # x: [n_seeds, 1, n_points]
        return scipy.stats.trim_mean(x.reshape(x.shape[0], -1), 0.25, axis=0)

    with _numpy_seed(seed):
        points, intervals = library.get_interval_estimates(
            {"c": np.asarray(curves, float)[:, None, :]},
            per_point,
            reps=reps,
            confidence_interval_size=size,
        )
    return points["c"], intervals["c"][0], intervals["c"][1]


def supervision(
    mode: str, modes: Mapping[str, Any], level: str, steps: int, precision_bits: int = 8
) -> tuple[list[tuple[str, float, int]], float]:
    """Bits of feedback per step that drive the policy in ``mode``, phase by phase.

    Uses :func:`babyworld.agents.losses.supervision_bits` with ``levels = 2**precision_bits``
    for every number (so the ratios between modes do not depend on the precision):

    - ``baby``: the reward vector (5 numbers) every step;
    - ``sparse``: one scalar (the summed task reward) per episode, spread over its steps;
    - ``distill``: the parent's distribution over the ``n`` actions (``n - 1`` numbers) every
      step; offline, one sampled action (one number) per step;
    - ``self_distill``: none with the ``feedback`` context (the teacher reads the parent's
      reaction, which every mode hears anyway); with ``demonstration``, the right act (one
      number) per step;
    - ``predict_first``: none (world-model training on random acts) for ``switch_steps``, then
      ``baby``; ``hybrid``: ``distill`` for ``switch_steps``, then ``baby``.

    Every mode also hears the parent's words, and in every mode the critic learns the reward
    vector; neither drives the policy, so neither is counted.

    Args:
        mode: the mode.
        modes: its ``--modes.*`` settings (``offline``, ``context``, ``switch_steps``).
        level: a level of :data:`LEVEL_FACTS`.
        steps: the run's budget (weights the phases).
        precision_bits: bits per number.

    Returns:
        ``([(kind, bits per step, steps of the phase), ...], mean bits per step over the run)``.
    """
    n_actions, episode = LEVEL_FACTS[level]
    levels = 2**precision_bits

    def bits(kind: str, per: int = 1) -> float:
        return supervision_bits(
            kind, n_actions, n_components=N_COMPONENTS, levels=levels, steps_per_signal=per
        )

    distill = (
        ("scalar", bits("scalar"))
        if modes.get("offline")
        else ("distribution", bits("distribution"))
    )
    single = {
        "baby": ("vector", bits("vector")),
        "sparse": ("scalar/episode", bits("scalar", episode)),
        # the registry's names of the group and end-of-episode modes (agents/modes.py); the
        # bits definition of issue 15 is each run's summary.json "supervision" block
        "sparse_ppo": ("scalar/episode", bits("scalar", episode)),
        "grpo": ("scalar/episode", bits("scalar", episode)),
        "distill": distill,
        "self_distill": ("scalar", bits("scalar"))
        if modes.get("context") == "demonstration"
        else ("none", bits("none")),
    }
    if mode in single:
        kind, b = single[mode]
        return [(kind, b, steps)], b
    if mode not in ("predict_first", "hybrid"):
        raise ValueError(f"unknown mode {mode!r}")
    switch = min(int(modes.get("switch_steps", 0)), steps)
    first = ("none", bits("none")) if mode == "predict_first" else distill
    phases = [(first[0], first[1], switch), ("vector", bits("vector"), steps - switch)]
    return phases, sum(b * n for _, b, n in phases) / steps


def format_bits(phases: Sequence[tuple[str, float, int]], mean: float) -> str:
    """``"40"``, or ``"0 → 40 (mean 30)"`` for a mode with phases."""
    if len(phases) == 1:
        return f"{mean:g}"
    return " → ".join(f"{b:g}" for _, b, _ in phases) + f" (mean {mean:.3g})"


def format_ci(point: float, low: float, high: float) -> str:
    """``"0.95 [0.90, 0.98]"``."""
    return f"{point:.2f} [{low:.2f}, {high:.2f}]"


def format_steps(median: float, reached: int, n: int) -> str:
    """``"12,288 (4/5)"``, or ``"not reached (1/5)"`` when the median seed did not reach it."""
    if math.isnan(median):
        return "–"
    if math.isinf(median):
        return f"not reached ({reached}/{n})"
    return f"{median:,.0f} ({reached}/{n})"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (``|`` in a cell escaped)."""

    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def common_curve(
    runs: Sequence[RunResult], key: str = "success_100"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps every run logged, and per run ``key`` and minutes there (``[n_runs, n_steps]``)."""
    steps = sorted(set.intersection(*({int(r["step"]) for r in run.metrics} for run in runs)))
    ys, mins = [], []
    for run in runs:
        by_step = {int(r["step"]): r for r in run.metrics}
        ys.append([by_step[s][key] for s in steps])
        mins.append([by_step[s]["seconds"] / 60 for s in steps])
    return np.array(steps, float), np.array(ys, float), np.array(mins, float)


# --- reading and writing -----------------------------------------------------------------------


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
                r["level"],
                r["label"],
                r["mode"],
                r["seed"],
                path,
                summary,
                read_metrics(path / "metrics.csv"),
            )
        )
    return plan["config"], runs


def write_report(
    out: Path,
    threshold: float = 0.9,
    key: str = "success_500",
    reps: int = 10_000,
    curve_reps: int = 2000,
    seed: int = 0,
    precision_bits: int = 8,
) -> Path:
    """Write ``OUT/report.md`` and the PNGs; returns the report's path.

    Args:
        out: the ablation's output directory.
        threshold: success level for "steps to reach".
        key: metrics column the threshold applies to.
        reps: bootstrap replications of the table's intervals.
        curve_reps: bootstrap replications of the curves' bands.
        seed: seeds the bootstrap.
        precision_bits: bits per number in the supervision column.

    Raises:
        ReportError: not an ablation, or no run has finished.
    """
    import importlib.util

    if importlib.util.find_spec("rliable") is None:
        raise ReportError(
            "babyworld report needs rliable (confidence intervals): pip install 'babyworld[report]'"
        )
    out = Path(out)
    cfg, runs = load_ablation(out)
    done = [r for r in runs if r.finished]
    if not done:
        raise ReportError(f"no run of the ablation in {out} has finished yet; nothing to report")
    levels = list(cfg["levels"])
    specs = {m["label"]: m for m in cfg["modes"]}
    labels = list(specs)
    finals: dict[str, dict[str, dict[int, float]]] = {lb: {} for lb in labels}
    for r in done:
        finals[r.label].setdefault(r.level, {})[r.seed] = float(r.summary["success_last_500"])  # type: ignore[index]

    lines = [
        "# Ablation report",
        "",
        f"`{out}`: parent `{cfg['parent']}`, env steps per run "
        + ", ".join(f"{lv} {cfg['steps'][lv]:,}" for lv in levels)
        + ", "
        f"{cfg['num_envs']} envs, seeds {list(cfg['seeds'])}, "
        f"{len(done)} of {len(runs)} runs finished. Reproduce with "
        f"`babyworld ablate {cfg.get('source') or 'CONFIG'}` then `babyworld report {out}`.",
        "",
        f"Final success: success over each run's last 500 episodes. IQM: interquartile mean over "
        f"seeds; [low, high]: 95% stratified bootstrap CI (rliable, percentile, {reps:,} "
        f"resamples). Steps to {threshold:g}: first logged step with {key} ≥ {threshold:g}, median "
        "over seeds (a seed that never got there counts as infinitely slow), (seeds that got "
        "there/seeds). Minutes, parent requests, hits and tokens computed: mean per run. Supervision: bits per step that "
        f"drive the policy, {precision_bits} bits per number (see the notes below).",
        "",
    ]
    lines += [
        "Env settings per label (`--env.*`): "
        + "; ".join(
            f"`{lb}` reward source {specs[lb].get('env', {}).get('reward_source', 'verifier')}, "
            f"weights {specs[lb].get('env', {}).get('reward_weights') or 'default'}"
            for lb in labels
        )
        + ".",
        "",
    ]
    ci = {}
    for level in levels:
        scores = bootstrap_inputs(finals, [level])
        ci[level] = iqm_with_ci(scores, reps=reps, seed=seed) if scores else {}
        rows = []
        for label in labels:
            mine = [r for r in done if r.level == level and r.label == label]
            planned = sum(r.level == level and r.label == label for r in runs)
            if not mine:
                rows.append([label, specs[label]["mode"], f"0/{planned}"] + ["–"] * 7)
                continue
            reached = [steps_to_threshold(r.metrics, threshold, key) for r in mine]
            phases, mean = supervision(
                specs[label]["mode"],
                specs[label]["modes"],
                level,
                cfg["steps"][level],
                precision_bits,
            )
            rows.append(
                [
                    label,
                    specs[label]["mode"],
                    f"{len(mine)}/{planned}",
                    format_ci(*ci[level][label]),
                    format_steps(
                        median_steps(reached), sum(v is not None for v in reached), len(mine)
                    ),
                    f"{np.mean([r.summary['minutes'] for r in mine]):.2f}",  # type: ignore[index]
                    f"{np.mean([r.summary['parent_stats']['requests'] for r in mine]):,.0f}",  # type: ignore[index]
                    f"{np.mean([_hits(r.summary['parent_stats']) for r in mine]):,.0f}",  # type: ignore[index]
                    f"{np.mean([_computed(r.summary['parent_stats']) for r in mine]):,.0f}",  # type: ignore[index]
                    format_bits(phases, mean),
                ]
            )
        lines += [
            f"## {level}",
            "",
            markdown_table(
                [
                    "label",
                    "mode",
                    "seeds",
                    "IQM final success [95% CI]",
                    f"steps to {threshold:g}",
                    "minutes",
                    "parent requests",
                    "parent hits",
                    "parent tokens computed",
                    "supervision bits/step",
                ],
                rows,
            ),
            "",
        ]
    if len(levels) > 1:
        scores = bootstrap_inputs(finals, levels)
        if scores:
            agg = iqm_with_ci(scores, reps=reps, seed=seed)
            ci["all levels"] = agg
            lines += [
                "## All levels",
                "",
                f"IQM over seeds × levels ({', '.join(levels)}), seeds resampled within each "
                "level; only seeds that finished on every level.",
                "",
                markdown_table(
                    ["label", "seeds", "IQM final success [95% CI]"],
                    [[lb, len(scores[lb]), format_ci(*agg[lb])] for lb in labels if lb in scores],
                ),
                "",
            ]
    lines += retention_section(done, labels, levels)
    lines += _notes(precision_bits, fresh_cache=cfg.get("fresh_parent_cache"))
    plots = _plots(out, levels, labels, done, ci, curve_reps, seed)
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / REPORT
    path.write_text("\n".join(lines))
    return path


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


def _hits(stats: Mapping[str, Any]) -> float:
    """Requests a run's parent answered without the model (memory cache or answer store)."""
    return stats["cache_hits"] + stats.get("store_hits", 0)


def _computed(stats: Mapping[str, Any]) -> float:
    """Tokens the model ran for a run (older summaries: every token it processed)."""
    return stats.get("computed_tokens", stats["tokens"])


def _notes(precision_bits: int, fresh_cache: bool | None = None) -> list[str]:
    """The report's notes; ``fresh_cache`` is an older ablation's setting (``None``: the store)."""
    b = precision_bits
    if fresh_cache is None:
        cache = (
            "Runs share the parent's persistent answer store (with each other and with every "
            "process on the machine): the parent is frozen and greedy, so a stored answer is the "
            "answer the model would compute (up to float rounding in a different batch). A run "
            "that follows another of the same level finds most answers stored and computes "
            "little: tokens computed and minutes say what each run cost in the order the runs "
            "ran. Compare modes by parent requests, which do not depend on the store."
        )
    elif fresh_cache:
        cache = (
            "With `fresh_parent_cache` (the default) every run starts with an empty cache, so "
            "runs are comparable whatever their order; a resumed run re-warms the cache and "
            "spends more than an uninterrupted one."
        )
    else:
        cache = (
            "This ablation set `fresh_parent_cache = false`: the runs of one process share the "
            "parent's answer cache, so the first run of a level pays for most of the level's "
            "parent tokens and minutes, and later runs read what it computed. Compare modes by "
            "parent requests (the prompts a run asked for, cached or not), which do not depend "
            "on the cache; tokens and minutes here are not per-run costs."
        )
    return [
        "## Notes",
        "",
        f"- Supervision bits per step (`babyworld.agents.losses.supervision_bits`, {b} bits per "
        "number; a capacity, not an entropy): `baby` the reward vector, 5 numbers per step "
        f"({5 * b} bits); `sparse` one number per 4-step episode ({b / 4:g} bits); `distill` the "
        f"parent's distribution over the n actions, n − 1 numbers per step ({2 * b} bits on "
        f"Point, {11 * b} on Name; offline: one sampled action, {b} bits); `self_distill` 0 "
        "with the feedback context (its teacher reads the parent's reaction, which every mode "
        f"hears anyway; with a demonstration, the right act: {b} bits); `predict_first` 0 "
        "(world-model training on random acts) then `baby`'s; `hybrid` `distill`'s then "
        "`baby`'s, the mean weighted by the phases' steps. The parent's words, heard in every "
        "mode, and the critic's reward vector, learnt in every mode, are not counted.",
        "- Parent requests count the prompts (generations) and (context, continuation) pairs "
        "(scores) the run asked the parent for; parent hits, those answered from its memory "
        "cache or its answer store. Parent tokens computed count the model tokens the parent "
        "ran for the run (prompt, generated and scored, less prefixes reused; answers from the "
        f"cache or the store cost none). {cache}",
        "- Minutes are the run's wall-clock, parent included, on whatever machine ran it.",
        "",
    ]


def _plots(
    out: Path,
    levels: list[str],
    labels: list[str],
    done: Sequence[RunResult],
    ci: Mapping[str, Mapping[str, tuple[float, float, float]]],
    curve_reps: int,
    seed: int,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {lb: f"C{i % 10}" for i, lb in enumerate(labels)}
    paths = []
    for name, xlabel, use_minutes in (
        (PLOTS[0], "env steps", False),
        (PLOTS[1], "wall-clock minutes (median over seeds)", True),
    ):
        fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 3.8), squeeze=False)
        for ax, level in zip(axes[0], levels, strict=True):
            for label in labels:
                mine = [r for r in done if r.level == level and r.label == label and r.metrics]
                if not mine:
                    continue
                steps, ys, mins = common_curve(mine)
                if steps.size == 0:
                    continue
                mid, lo, hi = iqm_curve_with_ci(ys, reps=curve_reps, seed=seed)
                x = np.median(mins, axis=0) if use_minutes else steps
                ax.plot(x, mid, color=colours[label], label=f"{label} ({len(mine)})")
                ax.fill_between(x, lo, hi, color=colours[label], alpha=0.2, lw=0)
            ax.axhline(0.9, color="grey", ls=":", lw=1)
            ax.set_title(level)
            ax.set_xlabel(xlabel)
            ax.set_ylim(0, 1)
            ax.set_ylabel("success, last 100 episodes")
            if ax.lines[1:]:  # a mode's curve besides the 0.9 line
                ax.legend(loc="lower right", fontsize="small", title="mode (seeds)")
        fig.suptitle("IQM across seeds, 95% stratified bootstrap band")
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)

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
        ax.set_ylabel("IQM final success")
    fig.suptitle("IQM final success, 95% stratified bootstrap CI")
    fig.tight_layout()
    fig.savefig(out / PLOTS[2], dpi=100)
    plt.close(fig)
    paths.append(out / PLOTS[2])
    return paths
