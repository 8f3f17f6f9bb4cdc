"""``babyworld ablate CONFIG``: every (level, mode, seed) of an ablation as one ``train()`` run.

The config is a TOML file; its format: :mod:`babyworld.experiments.ablation.ablation_config`.

Runs go to ``OUT/{level}/{label}/seed{n}``, one after another, in the config's order (levels,
then seeds, then labels; ``--levels`` runs some levels only, e.g. one process per level). The
harness is resumable: a run whose ``summary.json`` reports the budget is skipped, a run with a
checkpoint is resumed from it (also when the budget grew), a run directory interrupted before
its first checkpoint is started again. ``OUT/ablation.json`` records the config and the runs for
``babyworld report``. With ``--ray`` the runs are Ray tasks on a cluster instead, as many at once
as its CPUs allow (:mod:`~babyworld.experiments.ablation.cluster`). Every bad field fails before any run starts, with a message naming it.

Runs share the parent's answers through its persistent answer store (:mod:`babyworld.parent.store`;
with any process on the machine), and each run's ``summary.json`` counts its own cost: the
requests it asked, how many the memory cache and the store answered, and the tokens the model
computed for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babyworld.experiments.ablation.ablation_config import (  # noqa: F401 (the harness's public names)
    ABLATION_LEVELS,
    DEFAULT_SEEDS,
    MAX_SEEDS,
    AblationConfig,
    ConfigError,
    ModeSpec,
    load_config,
    parse_config,
    run_dir,
    tomllib,
)
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.rundir import TRAIN_FILES, remove_run

PLAN = "ablation.json"


@dataclass(frozen=True)
class PlannedRun:
    """One run of the ablation and what the harness will do with it.

    ``status``: ``"new"`` (train from scratch), ``"partial"`` (resume from its checkpoint),
    ``"stale"`` (interrupted before its first checkpoint: removed and trained from scratch) or
    ``"done"`` (its summary reports the budget: skipped).
    """

    level: str
    label: str
    seed: int
    path: Path
    status: str
    config: TrainConfig


@dataclass(frozen=True)
class RunRecord:
    """What :func:`run_ablation` did with one run: ``skipped``, ``trained`` or ``resumed``."""

    level: str
    label: str
    seed: int
    path: Path
    action: str


# --- planning and running ----------------------------------------------------------------------


def plan_runs(cfg: AblationConfig) -> list[PlannedRun]:
    """Every run of the ablation in order (levels, then seeds, then modes), with its status.

    Seeds before modes: an ablation stopped early holds the same seeds for every mode, which
    paired statistics need.

    Raises:
        ConfigError: an existing run directory was made with another config, holds more steps
            than the budget, or holds files ``train()`` does not write.
    """
    plan = []
    for level in cfg.levels:
        for seed in cfg.seeds:
            for spec in cfg.modes:
                if not spec.runs_on(level):
                    continue
                tc = cfg.train_config(level, spec, seed)
                path = Path(tc.out)  # type: ignore[arg-type]
                plan.append(PlannedRun(level, spec.label, seed, path, run_status(path, tc), tc))
    return plan


def run_status(path: Path, expected: TrainConfig) -> str:
    """``new``, ``done``, ``partial`` or ``stale`` (see :class:`PlannedRun`).

    Raises:
        ConfigError: the directory holds another config's run, more steps than the budget, or
            files that ``train()`` does not write.
    """
    if not path.exists():
        return "new"
    saved_path = path / "config.json"
    if saved_path.is_file():
        try:
            saved = json.loads(saved_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(
                f"{saved_path} is damaged ({e}); restore it, or use another out directory"
            ) from e
        if not isinstance(saved, dict):
            raise ConfigError(f"{saved_path} is not a run's config; restore it")
        want = expected.to_dict()
        diff = _config_diff(TrainConfig.with_defaults(saved), want)
        if diff:
            raise ConfigError(
                f"{path} holds a run of another config ({'; '.join(diff)}); the ablation's config "
                "changed for it. Restore the config, or use another out directory"
            )
        if saved.get("steps") is not None and saved["steps"] > expected.steps:  # type: ignore[operator]
            raise ConfigError(
                f"{path} is a run of {saved['steps']} steps, more than the budget of "
                f"{expected.steps}: budgets can grow, not shrink. Use another out directory"
            )
    summary = path / "summary.json"
    if summary.is_file() and json.loads(summary.read_text()).get("steps", 0) >= expected.steps:
        return "done"
    if (path / "checkpoint.pt").is_file():
        return "partial"
    strangers = sorted(p.name for p in path.iterdir() if not TRAIN_FILES.match(p.name))
    if strangers:
        raise ConfigError(
            f"{path} has no checkpoint and holds files babyworld train does not write "
            f"({', '.join(strangers)}); move them away so the run can start again"
        )
    return "stale"


def _config_diff(saved: Mapping[str, Any], want: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Fields that differ between two config dicts (``steps``, ``out``, ``resume`` ignored)."""
    out = []
    for key in sorted(set(saved) | set(want)):
        if not prefix and key in ("steps", "out", "resume"):
            continue
        a, b = saved.get(key), want.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: run has {a!r}, config says {b!r}")
    return out


def write_plan(cfg: AblationConfig, plan: Sequence[PlannedRun]) -> Path:
    """Write ``OUT/ablation.json``: the config and every run (paths relative to ``OUT``)."""
    from babyworld.agents.checkpoint import write_text_atomic

    cfg.out.mkdir(parents=True, exist_ok=True)
    runs = [
        {
            "level": r.level,
            "label": r.label,
            "mode": r.config.mode,
            "seed": r.seed,
            "dir": str(r.path.relative_to(cfg.out)),
        }
        for r in plan
    ]
    path = cfg.out / PLAN
    write_text_atomic(json.dumps({"config": cfg.to_dict(), "runs": runs}, indent=2) + "\n", path)
    return path


def run_ablation(
    cfg: AblationConfig,
    *,
    progress: bool = True,
    max_runs: int | None = None,
    levels: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    on_update: Callable[[PlannedRun, int, float], None] | None = None,
    ray: str | None = None,
) -> list[RunRecord]:
    """Run (or continue) every run of the ablation: one after another, or on a Ray cluster.

    Args:
        cfg: the validated config.
        progress: show the overall progress bar (runs done / total, and the current run's steps).
        max_runs: stop after training (or resuming) this many runs in this call; skipped runs
            do not count (``None``: all).
        levels: train only the runs of these levels of the config (``None``: all). Processes
            given different levels can share ``cfg.out``: each writes the same plan file.
        shard: ``(k, n)``: train only every n-th run from the k-th (1-based) of those
            ``levels`` selects, so that n processes with ``k = 1..n`` share a level's runs
            without ever running the same one (:func:`shard_of`).
        on_update: called after every update of a run with the run, its env steps and its
            success over the last 100 episodes.
        ray: run the runs as Ray tasks on this cluster (``"local"``: a cluster started on this
            machine; else its address), all at once as its CPUs allow
            (:mod:`~babyworld.experiments.ablation.cluster`); ``on_update`` is then not called.

    Returns:
        What was done with each run visited, in order.

    Raises:
        ConfigError: see :func:`plan_runs`, or ``levels`` names a level the config lacks (raised
            before any run starts).
        FileNotFoundError / OSError: the parent's model is missing (raised before anything is
            written).
        ImportError / ConnectionError: ``ray`` is given and Ray is missing or nothing answers at
            the address (raised before anything is written).
        ClusterError: a run failed on the cluster (the others stopped; rerun to resume).
    """
    from babyworld.parent import make_parent

    full = plan_runs(cfg)
    plan = select_runs(cfg, full, levels, shard)
    make_parent(cfg.parent)  # a missing model fails here, before anything is written
    todo = [r for r in plan if r.status != "done"][:max_runs]
    if ray is not None:
        from babyworld.experiments.ablation.cluster import run_on_ray
        from babyworld.vector.cluster import check_address

        check_address(ray)  # before anything is written
    write_plan(cfg, full)
    records = {r.path: RunRecord(r.level, r.label, r.seed, r.path, "skipped") for r in plan}
    bar = _AblationProgress(len(plan), len(plan) - len(todo), progress)
    try:
        if ray is not None and todo:
            runs = run_on_ray(todo, train_run, ray, cfg.threads or 1)
        else:
            runs = _train_here(todo, cfg.steps, bar, on_update)
        for run, action in runs:
            records[run.path] = RunRecord(run.level, run.label, run.seed, run.path, action)
            bar.end_run(one_line(run.path, action))
    finally:
        bar.close()
    done = {r.path for r in todo} | {r.path for r in plan if r.status == "done"}
    return [records[r.path] for r in plan if r.path in done]


def _train_here(
    todo: Sequence[PlannedRun],
    steps: Mapping[str, int],
    bar: _AblationProgress,
    on_update: Callable[[PlannedRun, int, float], None] | None,
) -> Iterator[tuple[PlannedRun, str]]:
    """Train ``todo`` one after another in this process; yield each run and what was done."""
    for run in todo:
        bar.start_run(f"{run.level}/{run.label}/seed{run.seed}", steps[run.level])

        def hook(step: int, success: float, run: PlannedRun = run) -> None:
            bar.step(step, success)
            if on_update is not None:
                on_update(run, step, success)

        yield run, train_run(run.config, hook)


def train_run(config: TrainConfig, on_update: Callable[[int, float], None] | None = None) -> str:
    """Bring one run of an ablation to its budget, deciding from its directory as it is now.

    A finished run is left (``"skipped"``), a run with a checkpoint resumes from it
    (``"resumed"``), a directory interrupted before its first checkpoint is removed and the run
    trained from scratch, as is a new one (``"trained"``). Deciding here, not when the plan was
    made, lets a run started again (by Ray, after its node died) resume what its first attempt
    saved.
    """
    from babyworld.experiments.train import train

    path = Path(config.out)  # type: ignore[arg-type]
    status = run_status(path, config)
    if status == "done":
        return "skipped"
    if status == "stale":
        remove_run(path)
    if status == "partial":
        train(TrainConfig(resume=path, steps=config.steps), progress=False, on_update=on_update)
        return "resumed"
    train(config, progress=False, on_update=on_update)
    return "trained"


def select_runs(
    cfg: AblationConfig,
    plan: Sequence[PlannedRun],
    levels: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
) -> list[PlannedRun]:
    """The runs of ``plan`` on ``levels``, then shard ``shard`` of those: one call's runs.

    Args:
        cfg: the ablation (its levels check ``levels``).
        plan: its runs, as :func:`plan_runs` lists them.
        levels: the levels to keep (``None``: all).
        shard: ``(k, n)``: keep the ``k``-th of every ``n`` runs (``None``: all).

    Returns:
        The selected runs, in plan order (done ones included).

    Raises:
        ConfigError: ``levels`` is empty or names a level the config lacks; a bad shard.
    """
    if levels is not None:
        unknown = sorted(set(levels) - set(cfg.levels))
        if unknown or not levels:
            raise ConfigError(
                f"--levels {' '.join(levels) or '(none)'}: the config's levels are "
                f"{list(cfg.levels)}; name one or more of them"
            )
        plan = [r for r in plan if r.level in levels]
    return shard_of(plan, *shard) if shard is not None else list(plan)


def shard_of(plan: Sequence[PlannedRun], k: int, n: int) -> list[PlannedRun]:
    """The runs ``k, k + n, k + 2n, ...`` (1-based) of ``plan``: shard ``k`` of ``n``.

    Raises:
        ConfigError: ``n < 1`` or ``k`` outside ``1..n``.
    """
    if n < 1 or not 1 <= k <= n:
        raise ConfigError(f"--shard {k}/{n}: use K/N with 1 <= K <= N, e.g. 1/2 and 2/2")
    return list(plan[k - 1 :: n])


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/2"`` -> ``(1, 2)``.

    Raises:
        ConfigError: not of the form ``K/N`` with ``1 <= K <= N``.
    """
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--shard {text}: use K/N with 1 <= K <= N, e.g. 1/2 and 2/2")
    k, n = int(parts[0]), int(parts[1])
    shard_of([], k, n)  # the range check
    return k, n


def one_line(path: Path, action: str) -> str:
    """What was done with a run, its budget, time, success and parent cost, in one line."""
    s = json.loads((path / "summary.json").read_text())
    p = s["parent_stats"]
    hits = p["cache_hits"] + p.get("store_hits", 0)
    return (
        f"{action} {path}: {s['steps']} steps, {s['minutes']} min, success over the last 500 "
        f"episodes {s['success_last_500']:.2f}; parent: {p['requests']:,} requests, "
        f"{hits:,} answered from memory or the store, {p['computed_tokens']:,} tokens computed"
    )


class _AblationProgress:
    """Runs done / total, plus the current run's steps (a rich progress display)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.runs = self.p.add_task("ablation runs", total=total, completed=done, note="")
        self.steps = self.p.add_task("current run", total=1, completed=0, note="", visible=False)
        self.p.start()

    def start_run(self, name: str, total: int) -> None:
        if self.enabled:
            self.p.reset(self.steps, total=total, completed=0, note=name, visible=True)

    def step(self, step: int, success: float) -> None:
        if self.enabled:
            self.p.update(self.steps, completed=step, note=f"success {success:.2f}")

    def end_run(self, line: str) -> None:
        if self.enabled:
            self.p.advance(self.runs)
            self.p.console.print(line)

    def close(self) -> None:
        if self.enabled:
            self.p.stop()


def describe_plan(plan: Sequence[PlannedRun]) -> str:
    """One line: how many runs are new, partial, stale and done."""
    counts = {s: sum(r.status == s for r in plan) for s in ("new", "partial", "stale", "done")}
    return f"{len(plan)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items())
