"""``babyworld train``: run directory, TensorBoard logging, checkpoints, resume, learning curve."""

from __future__ import annotations

import csv
import errno
import inspect
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from babyworld.agents.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    write_text_atomic,
)
from babyworld.agents.judge_watch import JudgeWatch
from babyworld.agents.ppo import PPOTrainer, success_rate
from babyworld.curricula import CURRICULA, Curriculum, make_curriculum
from babyworld.experiments.callbacks import (
    METRIC_FIELDS,
    Callback,
    Evaluation,
    Language,
    MetricsCSV,
    ModeDiagnostics,
    ProgressBar,
    Retention,
    Stages,
    TensorBoard,
    UpdateReport,
    Watch,
)
from babyworld.experiments.config import RUNTIME_KEY, TrainConfig
from babyworld.experiments.evaluation import Evaluator, make_eval_envs
from babyworld.experiments.language_log import (
    TRANSCRIPTS,
    LanguageLog,
    parse_milestones,
    trim_transcripts,
    words_checkpoint,
)
from babyworld.experiments.parent_use import ParentCounters, parent_counters, run_parent_stats
from babyworld.experiments.rundir import (
    CKPT,
    CONFIG,
    CURVE,
    EVAL,
    METRICS,
    RETENTION,
    SUMMARY,
    checked_metrics,
    exists_message,
    only_stale,
    only_train_files,
    remove_run,
    remove_stale,
    resolve_resume,
    run_dir_for,
    write_metrics,
)
from babyworld.parent import Parent, make_parent
from babyworld.parent.served import ParentServerError
from babyworld.task import Task
from babyworld.vector import make_envs

#: Write errors that mean "no room": a full disk, a quota, a file size limit.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def resumable(e: Exception, run: Path) -> Exception | None:
    """``e`` said with how to go on from the last checkpoint, or None.

    For a run stopped by the machine, not by its config: no room to write, or the parent's
    server gone after its retries.
    """
    go_on = f"the run's last checkpoint is intact: {{}} and continue with babyworld train --resume {run}"
    if isinstance(e, OSError) and e.errno in NO_ROOM:
        where = e.filename or f"a file of {run}"
        return OSError(e.errno, f"{e.strerror} writing {where}; " + go_on.format("make room"))
    if isinstance(e, ParentServerError):
        return ParentServerError(f"{e}; " + go_on.format("once the server answers again"))
    return None


def open_run(cfg: TrainConfig) -> tuple[TrainConfig, Path, dict | None, list | None]:
    """The run's config, directory, checkpoint and metrics rows (``None`` for a fresh run).

    A resumed run's checkpoint is read and checked against its config and ``--steps``; a fresh
    run's directory must not hold another run.
    """
    if cfg.resume is None:
        run = run_dir_for(cfg)
        if run.exists() and not (run.is_dir() and only_stale(run)):
            raise FileExistsError(exists_message(run))
        return cfg, run, None, None
    cfg = resolve_resume(cfg)
    run = Path(cfg.resume)  # type: ignore[arg-type]
    if not (run / CKPT).is_file() and only_train_files(run):
        return cfg, run, None, None  # stopped before its first checkpoint: starts again
    ckpt = load_checkpoint(
        run / CKPT, expect_config=cfg.to_dict(), upgrade=TrainConfig.with_defaults
    )
    done = ckpt["trainer"].get("global_step")
    if not isinstance(done, int):
        raise CheckpointError(f"checkpoint {run / CKPT} has no step count")
    if cfg.steps < done:
        raise ValueError(
            f"run {run} is already at {done} steps; pass --steps >= {done} to continue it"
        )
    per_update = cfg.num_envs * cfg.ppo.rollout_steps
    return cfg, run, ckpt, checked_metrics(run / METRICS, done, per_update, METRIC_FIELDS)


@dataclass
class RunParts:
    """What a run is built from, before its directory is touched."""

    parent: Parent | None
    envs: Any
    trainer: PPOTrainer
    eval_parent: Parent
    eval_envs: Any
    parent_start: dict[str, float]

    @property
    def parent_runtime(self) -> str:
        """How the envs' parent computes (here, or with --ray in the workers)."""
        return self.parent.runtime if self.parent is not None else self.envs.parent_runtime

    def close(self) -> None:
        self.envs.close()  # Ray workers, if any, must not outlive a refused run
        if self.eval_envs is not None:
            self.eval_envs.close()


def build_run(cfg: TrainConfig, ckpt: dict | None, run: Path) -> RunParts:
    """Build everything that can fail on bad input before the run directory is created.

    With --ray the envs' parents live in the workers; this process needs one only to let the
    parent design the curriculum (and, with --eval, to evaluate).
    """
    distributed = cfg.ray is not None
    parent = make_parent(cfg.parent) if not distributed or cfg.curriculum == "parent" else None
    curriculum = build_curriculum(cfg, parent)
    kwargs = cfg.env.env_kwargs()
    envs = make_envs(
        cfg.envs_level, cfg.num_envs, cfg.parent if distributed else parent,
        ray=cfg.ray, workers=cfg.workers, **kwargs,
    )  # fmt: skip
    start, eval_envs = parent_counters(parent, envs), None
    try:
        trainer = PPOTrainer(
            envs, cfg.student, cfg.ppo, cfg.seed, cfg.steps, curriculum, cfg.mode, cfg.modes
        )
        local = parent is not None or not cfg.eval.enabled
        eval_parent = parent if local else make_parent(cfg.parent)  # with --ray: one here
        eval_envs = make_eval_envs(cfg.eval, cfg.envs_level, eval_parent, kwargs)
        parts = RunParts(parent, envs, trainer, eval_parent, eval_envs, start)
        if ckpt is None and cfg.init_from is not None:
            trainer.warm_start(load_checkpoint(cfg.init_from)["trainer"]["model"])
    except BaseException:
        envs.close()
        if eval_envs is not None:
            eval_envs.close()
        raise
    if ckpt is not None:
        try:
            trainer.load_state_dict(ckpt["trainer"])
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            parts.close()
            raise CheckpointError(
                f"checkpoint {run / CKPT} does not fit this run ({type(e).__name__}: {e}); "
                "restore it from a copy or start the run again in another directory"
            ) from e
    return parts


def prepare_dir(
    cfg: TrainConfig, run: Path, ckpt: dict | None, rows: list | None, parts: RunParts
) -> None:
    """Create (or clear for a restart) the run directory; cut its logs back to the checkpoint.

    ``config.json`` is the config plus how the envs' parent computes (:data:`RUNTIME_KEY`).
    """
    run.mkdir(parents=True, exist_ok=True)  # an existing one is resumed or restarted in place
    remove_stale(run, restart=ckpt is None)
    if ckpt is not None:
        trim_transcripts(run / TRANSCRIPTS, parts.trainer.updates)
    saved = cfg.to_dict() | {RUNTIME_KEY: parts.parent_runtime}
    write_text_atomic(json.dumps(saved, indent=2) + "\n", run / CONFIG)
    if rows is not None:
        write_metrics(run / METRICS, rows, METRIC_FIELDS)


def make_callbacks(
    cfg: TrainConfig, run: Path, parts: RunParts, resumed: bool, progress: bool
) -> list[Callback]:
    """The run's companions, in the order they see an update (the watch first)."""
    trainer = parts.trainer
    tb = TensorBoard(
        run, trainer.global_step if resumed else None, None if resumed else _hparam_table(cfg)
    )
    lang = LanguageLog(cfg.num_envs, cfg.lang, cfg.seed)
    trainer.listeners.append(lang)
    evaluator = Evaluator(
        cfg.eval, parts.eval_envs, cfg.seed, run / EVAL, parts.eval_parent,
        shared=parts.eval_parent is parts.parent, held_out=cfg.env.split == "train",
    )  # fmt: skip
    stages = Stages(cfg.curriculum)
    out: list[Callback] = [
        Watch(JudgeWatch(cfg.watch)),
        tb,
        stages,
        Language(lang, tb.writer, run),
        MetricsCSV(run / METRICS),
        ModeDiagnostics(),
        Evaluation(evaluator, tb.writer, cfg.steps, trainer.global_step),
        Retention(evaluator, stages, lang, run / RETENTION, tb.writer, trainer.global_step),
        ParentCounters(parts.parent, parts.envs, evaluator, parts.parent_start),
    ]
    return out + [ProgressBar(cfg.steps, trainer.global_step)] if progress else out


def train(
    cfg: TrainConfig,
    *,
    progress: bool = True,
    stop_after_updates: int | None = None,
    on_update: Callable[[int, float], None] | None = None,
) -> Path:
    """Train (or resume) a run; returns its directory.

    Args:
        cfg: the run's config (``cfg.resume`` set: continue that run).
        progress: show a progress bar.
        stop_after_updates: end early after this many updates of this call (simulates an
            interruption; the checkpoint is written as at any end).
        on_update: called after every update (and its checkpoint, if any) with the run's env
            steps so far and its success over the last 100 episodes (e.g. an outer progress bar).
    """
    cfg, run, ckpt, rows = open_run(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    parts = build_run(cfg, ckpt, run)
    trainer, saved = parts.trainer, (ckpt or {}).get("trainer", {})
    if cfg.resume is not None and ckpt is None and progress:
        print(
            f"babyworld: {run} has no checkpoint yet: the run starts again from step 0",
            file=sys.stderr,
        )
    if progress:
        print(f"babyworld: parent {cfg.parent}: {parts.parent_runtime}", file=sys.stderr)
    fresh, callbacks = not run.exists(), []
    milestones = parse_milestones(cfg.checkpoint_at_words)
    clock, done = RunClock(float(saved.get("seconds", 0.0))), 0
    try:
        prepare_dir(cfg, run, ckpt, rows, parts)
        callbacks = make_callbacks(cfg, run, parts, ckpt is not None, progress)
        lang = next(cb.lang for cb in callbacks if isinstance(cb, Language))
        if ckpt is None:
            lang.start(trainer.reset_infos)
        for cb in callbacks if ckpt is not None else ():
            if cb.key is not None:
                cb.load_state_dict(saved.get(cb.key))
        while trainer.global_step < cfg.steps:
            report = clock.update(trainer, parts)
            for cb in callbacks:
                cb.on_update(trainer, report)
            done += 1
            last = trainer.global_step >= cfg.steps or done == stop_after_updates
            regular = trainer.updates % cfg.checkpoint_every == 0 or last
            paths = [run / CKPT] if regular else []
            paths += [run / words_checkpoint(w) for w in lang.due_milestones(milestones)]
            if paths:
                state = trainer.state_dict() | {"seconds": report.seconds}
                state |= {cb.key: cb.state_dict() for cb in callbacks if cb.key is not None}
                for path in paths:  # the run's checkpoint; BabyLM-style milestones of words heard
                    save_checkpoint(path, cfg.to_dict(), state)
            if on_update is not None:
                on_update(trainer.global_step, success_rate(trainer.episodes, 100))
            if done == stop_after_updates:
                break
        ends = {k: v for cb in callbacks for k, v in cb.summary(trainer).items()}
    except BaseException as e:
        close_all(parts, callbacks, quiet=True)  # a close that fails too must not hide ``e``
        if isinstance(e, Exception) and fresh and not (run / CKPT).exists():
            remove_run(run)  # nothing to resume: leave no directory behind
        elif isinstance(e, Exception) and (hint := resumable(e, run)) is not None:
            raise hint from e
        raise
    close_all(parts, callbacks)
    write_summary(cfg, run, trainer, parts, clock.seconds(), ends)
    plot_curve(run)
    if (run / RETENTION).exists():
        plot_retention(run / RETENTION)
    return run


def close_all(parts: RunParts, callbacks: list[Callback], quiet: bool = False) -> None:
    """Close the envs first (Ray workers must not outlive a run), then every callback.

    Each is closed whatever the others do; the first error is raised unless ``quiet`` (the run
    already failed: its own error is the one to report).
    """
    errors = []
    for close in (parts.close, *(cb.close for cb in callbacks)):
        try:
            close()
        except Exception as e:  # noqa: PERF203 - each close must run
            errors.append(e)
    if errors and not quiet:
        raise errors[0]


def train_or_resume(cfg: TrainConfig) -> Path:
    """Bring the run in ``cfg.out`` to ``cfg.steps`` (a study's runs).

    A run at its budget is skipped, an interrupted one resumed (from step 0 if it stopped before
    its first checkpoint), a new one started.
    """
    run = Path(cfg.out)  # type: ignore[arg-type]
    if (run / SUMMARY).exists() and json.loads((run / SUMMARY).read_text())["steps"] >= cfg.steps:
        return run
    if (run / CONFIG).exists():
        return train(TrainConfig(resume=run, steps=cfg.steps), progress=False)
    return train(cfg, progress=False)


class RunClock:
    """Runs one update and reports it: env steps, the run's seconds over sessions, steps/s."""

    def __init__(self, elapsed: float) -> None:
        self.elapsed, self.t0 = elapsed, time.perf_counter()

    def seconds(self) -> float:
        """The run's wall-clock seconds so far, earlier sessions included."""
        return self.elapsed + time.perf_counter() - self.t0

    def update(self, trainer: PPOTrainer, parts: RunParts) -> UpdateReport:
        """One collect and update of ``trainer``."""
        step0, s0 = trainer.global_step, time.perf_counter()
        before = parent_counters(parts.parent, parts.envs)
        collect = trainer.collect()
        losses = trainer.update()
        sps = (trainer.global_step - step0) / (time.perf_counter() - s0)
        now = parent_counters(parts.parent, parts.envs)
        return UpdateReport(
            step0, trainer.global_step, self.seconds(), sps, losses, collect, before, now
        )


def write_summary(
    cfg: TrainConfig, run: Path, trainer: PPOTrainer, parts: RunParts, seconds: float, ends: dict
) -> None:
    """``summary.json``: the run's figures, and what each callback reported at the end."""
    reached = _first_reach(run / METRICS, "success_500", 0.9)
    label = parts.parent.label if parts.parent is not None else parts.envs.parent_label
    summary = {
        "run": str(run),
        "level": cfg.run_level,
        "parent": label,
        "steps": trainer.global_step,
        "minutes": round(seconds / 60, 2),
        "episodes": trainer.episodes_total,
        "success_last_500": success_rate(trainer.episodes, 500),
        "reward_source": cfg.env.reward_source,
        "reward_weights": dict(zip(trainer.reward_names, trainer.weights.tolist(), strict=True)),
        "supervision": trainer.supervision_summary(),
        "steps_to_90": reached and reached[0],
        "minutes_to_90": reached and round(reached[1] / 60, 2),
        "student": cfg.student.kind,
        **ends,
    }
    write_text_atomic(json.dumps(summary, indent=2) + "\n", run / SUMMARY)


def build_curriculum(cfg: TrainConfig, parent) -> Curriculum:
    """The run's curriculum: one fixed level, the ladder from Point upwards, or its stages."""
    kwargs = cfg.curricula.kwargs_for(cfg.curriculum)
    if cfg.curriculum == "fixed":
        return make_curriculum("fixed", tasks=[Task.make(cfg.level)], **kwargs)
    tasks = cfg.curricula.tasks() or None
    if "parent" in inspect.signature(CURRICULA[cfg.curriculum]).parameters:
        kwargs["parent"] = parent
    return make_curriculum(cfg.curriculum, tasks=tasks, **kwargs)


def _first_reach(path: Path, key: str, level: float) -> tuple[int, float] | None:
    """``(step, seconds)`` of the first metrics row with ``key >= level`` (None if never)."""
    for r in csv.DictReader(path.open()):
        if float(r[key]) >= level:
            return int(r["step"]), float(r["seconds"])
    return None


def plot_curve(run: Path) -> Path:
    """Write ``curve.png``: true success over the last 100 / 500 episodes versus env steps.

    The proxy success (the verdict the rewards read: the parent's with ``--env.reward-source
    parent``) is drawn dashed; it lies on the true curve when the verifier is the source.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader((run / METRICS).open()))
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("success_100", "last 100 episodes"), ("success_500", "last 500 episodes")):
        ax.plot(steps, [float(r[key]) for r in rows], label=f"true, {label}")
    if rows and "proxy_success_500" in rows[0]:  # the verdict the rewards read (dashed)
        proxy = [float(r["proxy_success_500"]) for r in rows]
        ax.plot(steps, proxy, ls="--", color="black", lw=1, label="proxy, last 500 episodes")
    ax.axhline(0.9, color="grey", ls=":", lw=1)
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1)
    ax.set_title(run.name)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(run / CURVE, dpi=100)
    plt.close(fig)
    return run / CURVE


def plot_retention(path: Path) -> Path:
    """``retention.png`` beside ``retention.csv``: each stage's greedy success against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(path.open()))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        ax.plot(
            [int(r["step"]) for r in mine], [float(r["greedy_success"]) for r in mine], label=task
        )
    ax.set_xlabel("env steps")
    ax.set_ylabel("greedy held-out success")
    ax.set_ylim(0, 1)
    ax.set_title("retention: every stage at every evaluation")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _hparam_table(cfg: TrainConfig) -> str:
    flat: dict[str, Any] = {}
    for k, v in cfg.to_dict().items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in flat.items())


__all__ = [
    "METRIC_FIELDS",
    "CheckpointError",
    "plot_curve",
    "resolve_resume",
    "run_parent_stats",
    "train",
]
