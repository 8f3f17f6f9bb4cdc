"""``babyworld train``: run directory, TensorBoard logging, checkpoints, resume, learning curve."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babyworld.agents.checkpoint import (
    RUN_ONLY,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    write_text_atomic,
)
from babyworld.agents.judge_watch import JudgeWatch
from babyworld.agents.ppo import LOSS_KEYS, PPOTrainer, make_envs, success_rate
from babyworld.curricula import Curriculum, make_curriculum
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.evaluation import Evaluator, make_eval_envs
from babyworld.experiments.language_log import (
    TRANSCRIPTS,
    LanguageLog,
    json_measures,
    log_language,
    parse_milestones,
    trim_transcripts,
    words_checkpoint,
)
from babyworld.experiments.rundir import (
    CKPT,
    CONFIG,
    CURVE,
    EVAL,
    METRICS,
    SUMMARY,
    checked_metrics,
    exists_message,
    only_stale,
    only_train_files,
    read_config,
    remove_run,
    remove_stale,
    write_metrics,
)
from babyworld.parent import Parent, ParentStats, make_parent
from babyworld.task import Task

#: ``success_*`` is true success (the world's verifier), ``proxy_success_*`` the verdict the rewards
#: read (the same unless ``--env.reward-source parent``), ``judge_alert`` the judge watch (0 / 1).
METRIC_FIELDS = (
    "step",
    "seconds",
    "episodes",
    "success_100",
    "success_500",
    "return_100",
    "proxy_success_100",
    "proxy_success_500",
    "judge_alert",
)


def resolve_resume(cli: TrainConfig) -> TrainConfig:
    """The config of a resumed run: the saved one, with ``--steps`` from the command line.

    Raises:
        FileNotFoundError: the directory or its config is missing.
        ValueError: a flag given on the command line contradicts the saved config.
    """
    run = Path(cli.resume)  # type: ignore[arg-type]
    if not (run / CONFIG).is_file():
        if run.is_dir() and only_stale(run):
            raise FileNotFoundError(
                f"cannot resume: {run} holds no {CONFIG}, so the run was stopped before it began; "
                f"start it again in place with babyworld train --out {run} and its flags"
            )
        raise FileNotFoundError(f"cannot resume: {run / CONFIG} does not exist")
    saved = read_config(run / CONFIG)
    defaults = TrainConfig()
    clashes = [
        f"--{f.name.replace('_', '-')} {getattr(cli, f.name)!r} (run has {getattr(saved, f.name)!r})"
        for f in dataclasses.fields(TrainConfig)
        if f.name not in RUN_ONLY
        and getattr(cli, f.name) != getattr(defaults, f.name)
        and getattr(cli, f.name) != getattr(saved, f.name)
    ]
    if clashes:
        raise ValueError(
            f"run {run} was made with another config: {'; '.join(clashes)}. Drop those flags to "
            "continue it, or start a new run without --resume"
        )
    steps = cli.steps if cli.steps is not None else saved.steps
    return dataclasses.replace(
        saved, steps=steps, resume=run, out=run, ray=cli.ray, workers=cli.workers
    )


def run_dir_for(cfg: TrainConfig) -> Path:
    """``runs/{level}__{mode}__{seed}__{time}`` unless ``--out`` says otherwise."""
    if cfg.out is not None:
        return Path(cfg.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.run_level}__{cfg.mode}__{cfg.seed}__{stamp}"


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
    ckpt, metrics_rows = None, None
    if cfg.resume is not None:
        cfg = resolve_resume(cfg)
        run = Path(cfg.resume)  # type: ignore[arg-type]
        if (run / CKPT).is_file() or not only_train_files(run):
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
            metrics_rows = checked_metrics(run / METRICS, done, per_update, METRIC_FIELDS)
    else:
        run = run_dir_for(cfg)
        if run.exists() and not (run.is_dir() and only_stale(run)):
            raise FileExistsError(exists_message(run))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # Build everything that can fail on bad input before the run directory is created.
    # With --ray the envs' parents live in the workers; this process needs one only to let the
    # parent design the curriculum.
    distributed = cfg.ray is not None
    parent = make_parent(cfg.parent) if not distributed or cfg.curriculum == "parent" else None
    curriculum = build_curriculum(cfg, parent)
    envs = make_envs(
        cfg.envs_level,
        cfg.num_envs,
        cfg.parent if distributed else parent,
        ray=cfg.ray,
        workers=cfg.workers,
        **cfg.env.env_kwargs(),
    )
    label = parent.label if parent is not None else envs.parent_label
    # The parent instance is shared by every run of the process: count only this run's use.
    stats_start = parent_counters(parent, envs)
    stats_carried = ckpt["trainer"].get("parent_stats") if ckpt else None
    try:
        trainer = PPOTrainer(
            envs, cfg.student, cfg.ppo, cfg.seed, cfg.steps, curriculum, cfg.mode, cfg.modes
        )
        local = parent is not None or not cfg.eval.enabled
        eval_parent = parent if local else make_parent(cfg.parent)  # with --ray: one here
        eval_envs = make_eval_envs(cfg.eval, cfg.envs_level, eval_parent, cfg.env.env_kwargs())
    except BaseException:
        envs.close()  # Ray workers, if any, must not outlive a refused run
        raise
    if ckpt is None and cfg.init_from is not None:
        try:
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
            envs.close()
            if eval_envs is not None:
                eval_envs.close()
            raise CheckpointError(
                f"checkpoint {run / CKPT} does not fit this run ({type(e).__name__}: {e}); "
                "restore it from a copy or start the run again in another directory"
            ) from e
    lang = LanguageLog(cfg.num_envs, cfg.lang, cfg.seed)
    if ckpt is not None and "language" in ckpt["trainer"]:
        lang.load_state_dict(ckpt["trainer"]["language"])
    elif ckpt is None:
        lang.start(trainer.reset_infos)
    trainer.listeners.append(lang)
    milestones = parse_milestones(cfg.checkpoint_at_words)
    fresh = not run.exists()
    if cfg.resume is not None and ckpt is None and progress:
        print(
            f"babyworld: {run} has no checkpoint yet: the run starts again from step 0",
            file=sys.stderr,
        )
    run.mkdir(parents=True, exist_ok=True)  # an existing one is resumed or restarted in place
    remove_stale(run, restart=ckpt is None)
    if ckpt is not None:
        trim_transcripts(run / TRANSCRIPTS, trainer.updates)
    write_text_atomic(json.dumps(cfg.to_dict(), indent=2) + "\n", run / CONFIG)
    evaluator = Evaluator(
        cfg.eval,
        eval_envs,
        cfg.seed,
        run / EVAL,
        eval_parent,
        shared=eval_parent is parent,
        held_out=cfg.env.split == "train",
    )
    if ckpt is not None:
        evaluator.load_state_dict(ckpt["trainer"].get("eval"), trainer.global_step)
    if metrics_rows is not None:
        write_metrics(run / METRICS, metrics_rows, METRIC_FIELDS)
    elapsed0 = float(ckpt["trainer"].get("seconds", 0.0)) if ckpt else 0.0

    from torch.utils.tensorboard import SummaryWriter

    # On resume, drop any events logged after the checkpoint (they are produced again).
    writer = SummaryWriter(str(run), purge_step=trainer.global_step if ckpt else None)
    if ckpt is None:
        writer.add_text("hyperparameters", _hparam_table(cfg))
    t0 = time.perf_counter()
    stages = StageLog.from_state(ckpt["trainer"].get("stages") if ckpt else None)
    watch = JudgeWatch(cfg.watch)
    if ckpt is not None and "judge_watch" in ckpt["trainer"]:
        watch.load_state_dict(ckpt["trainer"]["judge_watch"])
    done_updates = 0
    bar = _Progress(cfg.steps, trainer.global_step, enabled=progress)
    failed_fresh = False
    try:
        while trainer.global_step < cfg.steps:
            step0, s0 = trainer.global_step, time.perf_counter()
            stats0 = parent_counters(parent, envs)
            collect = trainer.collect()
            metrics = trainer.update()
            sps = (trainer.global_step - step0) / (time.perf_counter() - s0)
            seconds = elapsed0 + time.perf_counter() - t0
            _log(writer, trainer, metrics, collect, parent_counters(parent, envs), stats0, sps)
            alert = watch_update(watch, trainer, step0)
            writer.add_scalar("judge/alert", float(alert), trainer.global_step)
            stages.observe(trainer, seconds)
            log_language(writer, lang, trainer, run)
            _append_metrics(run / METRICS, trainer, seconds, alert)
            bar.update(trainer.global_step, success_rate(trainer.episodes, 100), sps)
            done_updates += 1
            last = trainer.global_step >= cfg.steps or done_updates == stop_after_updates
            if evaluator.due(trainer, final=trainer.global_step >= cfg.steps):
                evaluator.evaluate(trainer, writer)
            due = lang.due_milestones(milestones)
            if trainer.updates % cfg.checkpoint_every == 0 or last or due:
                state = trainer.state_dict()
                state["seconds"] = seconds
                state["stages"] = stages.state()
                state["judge_watch"] = watch.state_dict()
                state["eval"] = evaluator.state_dict()
                state["parent_stats"] = run_parent_stats(
                    evaluator.without_eval(parent_counters(parent, envs)),
                    stats_start,
                    stats_carried,
                )
                state["language"] = lang.state_dict()
                if trainer.updates % cfg.checkpoint_every == 0 or last:
                    save_checkpoint(run / CKPT, cfg.to_dict(), state)
                for words in due:  # BabyLM-style milestones of words heard
                    save_checkpoint(run / words_checkpoint(words), cfg.to_dict(), state)
            if on_update is not None:
                on_update(trainer.global_step, success_rate(trainer.episodes, 100))
            if done_updates == stop_after_updates:
                break
        stats_end = evaluator.without_eval(parent_counters(parent, envs))
    except Exception:
        failed_fresh = fresh and not (run / CKPT).exists()
        raise
    finally:
        bar.close()
        writer.close()
        envs.close()
        evaluator.close()
        if failed_fresh:  # nothing to resume: leave no directory behind
            remove_run(run)
    reached = _first_reach(run / METRICS, "success_500", 0.9)
    summary = {
        "run": str(run),
        "level": cfg.run_level,
        "parent": label,
        "curriculum": {"kind": cfg.curriculum, **stages.summary(trainer)},
        "steps": trainer.global_step,
        "minutes": round((elapsed0 + time.perf_counter() - t0) / 60, 2),
        "episodes": trainer.episodes_total,
        "success_last_500": success_rate(trainer.episodes, 500),
        "reward_source": cfg.env.reward_source,
        "reward_weights": dict(zip(trainer.reward_names, trainer.weights.tolist(), strict=True)),
        "judge": {
            "true_success_last_500": success_rate(trainer.episodes, 500),
            "proxy_success_last_500": success_rate(trainer.episodes, 500, "proxy_success"),
            "gap_last_500": success_rate(trainer.episodes, 500, "proxy_success")
            - success_rate(trainer.episodes, 500),
            "alert_updates": watch.alerts,
            "first_alert_step": watch.first_alert_step,
        },
        "eval": evaluator.summary(),
        "supervision": trainer.supervision_summary(),
        "steps_to_90": reached and reached[0],
        "minutes_to_90": reached and round(reached[1] / 60, 2),
        "parent_stats": run_parent_stats(stats_end, stats_start, stats_carried),
        "student": cfg.student.kind,
        "words": lang.budgets(),
        "words_checkpoints": {str(w): words_checkpoint(w) for w in lang.milestones_done},
        "language": json_measures(lang.measures()),
    }
    write_text_atomic(json.dumps(summary, indent=2) + "\n", run / SUMMARY)
    plot_curve(run)
    return run


def watch_update(watch: JudgeWatch, trainer: PPOTrainer, step0: int) -> bool:
    """Show the watch the proxy and true success of the episodes that ended since ``step0``."""
    new = [e for e in trainer.episodes if e["step"] > step0]
    return watch.observe(
        success_rate(new, len(new), "proxy_success"),
        success_rate(new, len(new)),
        trainer.global_step,
    )


def parent_counters(parent: Parent | None, envs: Any) -> dict[str, float]:
    """:meth:`ParentStats.as_dict` of every parent the run uses.

    Locally that is the one shared parent; with Ray rollout workers it is the sum of the workers'
    parents (``envs.parent_stats()``) and of this process's parent, if it has one.
    """
    raw = dataclasses.asdict(parent.stats) if parent is not None else {}
    if hasattr(envs, "parent_stats"):
        for k, v in envs.parent_stats().items():
            raw[k] = raw.get(k, 0) + v
    return ParentStats(**raw).as_dict()


def run_parent_stats(
    now: dict[str, float], start: dict[str, float], carried: dict[str, float] | None = None
) -> dict[str, float]:
    """The parent's counters for one run: ``now - start`` plus what earlier sessions carried.

    A parent instance is shared by every run of a process (``babyworld ablate`` runs many) and a
    resumed run starts a fresh process, so neither the instance's cumulative counters nor a
    session's own delta is the run's total.

    Args:
        now: ``parent.stats.as_dict()`` at the end.
        start: the same when this session of the run started.
        carried: the run's counters saved in its checkpoint by earlier sessions (``None``: none).

    Returns:
        :meth:`ParentStats.as_dict` of the run's counters (derived figures recomputed).
    """
    raw = {}
    for f in dataclasses.fields(ParentStats):
        raw[f.name] = now[f.name] - start[f.name] + (carried or {}).get(f.name, 0)
    return ParentStats(**raw).as_dict()


def _log(writer, trainer, metrics, collect, now, stats0, sps) -> None:
    step = trainer.global_step
    eps = list(trainer.episodes)[-100:]
    if eps:
        true, proxy = success_rate(eps, 100), success_rate(eps, 100, "proxy_success")
        writer.add_scalar("charts/success_rate", true, step)
        writer.add_scalar("judge/true_success", true, step)
        writer.add_scalar("judge/proxy_success", proxy, step)
        writer.add_scalar("judge/gap", proxy - true, step)
        writer.add_scalar("charts/episodic_return", np.mean([e["return"] for e in eps]), step)
        writer.add_scalar("charts/episode_length", np.mean([e["length"] for e in eps]), step)
    writer.add_scalar("charts/learning_rate", metrics["lr"], step)
    for k in LOSS_KEYS:
        writer.add_scalar(f"losses/{k}", metrics[k], step)
    writer.add_scalar("charts/phase", metrics["phase"], step)
    for k, v in metrics.items():  # a mode's own diagnostics (e.g. sd/kl)
        if k.startswith("sd/"):
            writer.add_scalar(k, v, step)
    writer.add_scalar("losses/explained_variance", metrics["explained_variance"], step)
    for i, name in enumerate(trainer.reward_names):
        student_side = trainer.cfg.student_rewards and name in ("predictability", "mdl")
        key = f"rewards/{name}_student" if student_side else f"rewards/{name}"
        writer.add_scalar(key, metrics[f"reward/{name}"], step)
        writer.add_scalar(f"rewards/env_{name}", float(collect["env_reward"][i]), step)
    writer.add_scalar("parent/tokens", now["tokens"] - stats0["tokens"], step)
    writer.add_scalar("parent/cache_hits", now["cache_hits"] - stats0["cache_hits"], step)
    writer.add_scalar("parent/hit_rate", now["hit_rate"], step)
    writer.add_scalar("parent/seconds", now["seconds"] - stats0["seconds"], step)
    calls = now["calls"] - stats0["calls"]
    if calls:  # mean wall-clock seconds of one batched model call over this update
        writer.add_scalar("parent/latency", (now["seconds"] - stats0["seconds"]) / calls, step)
    writer.add_scalar(
        "parent/computed_tokens", now["computed_tokens"] - stats0["computed_tokens"], step
    )
    writer.add_scalar("perf/steps_per_sec", sps, step)
    for k, v in trainer.curriculum.log().items():
        writer.add_scalar(f"curriculum/{k}", v, step)


def build_curriculum(cfg: TrainConfig, parent) -> Curriculum:
    """The run's curriculum: one fixed level, the ladder from Point upwards, or its stages."""
    kwargs = cfg.curricula.kwargs_for(cfg.curriculum)
    if cfg.curriculum == "fixed":
        return make_curriculum("fixed", tasks=[Task.make(cfg.level)], **kwargs)
    tasks = cfg.curricula.tasks() or None
    if cfg.curriculum == "parent":
        return make_curriculum("parent", tasks=tasks, parent=parent, **kwargs)
    return make_curriculum(cfg.curriculum, tasks=tasks, **kwargs)


class StageLog:
    """Per task: when the run first finished an episode of it, and its recent success.

    Steps are exact; minutes are measured at the end of that update.
    """

    def __init__(self, first: dict[str, tuple[int, float]]) -> None:
        self.first = first

    @classmethod
    def from_state(cls, state: dict | None) -> StageLog:
        """Restore :meth:`state` (a fresh log for ``None``)."""
        return cls({k: (int(v[0]), float(v[1])) for k, v in (state or {}).items()})

    def state(self) -> dict[str, list]:
        """For checkpoints."""
        return {k: list(v) for k, v in self.first.items()}

    def observe(self, trainer: PPOTrainer, seconds: float) -> None:
        """Note the tasks of the episodes finished so far (at the step their first one ended)."""
        for e in trainer.episodes:
            if e["task"] not in self.first:
                self.first[e["task"]] = (int(e["step"]), seconds)

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """Per task: when it was first played, and its recent success.

        First step and minute played, episodes and success over its last 100, and its episodes
        among the run's last 500 and their success (``last_500_*``).
        """
        out: dict[str, Any] = {"log": trainer.curriculum.log(), "tasks": {}}
        eps = list(trainer.episodes)
        for name, (step, secs) in sorted(self.first.items(), key=lambda kv: kv[1]):
            all_mine = [e["success"] for e in eps if e.get("task") == name]
            mine = all_mine[-100:]
            out["tasks"][name] = {
                "first_step": step,
                "first_minute": round(secs / 60, 2),
                "recent_episodes": len(mine),
                "recent_success": float(np.mean(mine)) if mine else None,
                "last_500_episodes": len(all_mine),
                "last_500_success": float(np.mean(all_mine)) if all_mine else None,
            }
        return out


def _append_metrics(path: Path, trainer: PPOTrainer, seconds: float, alert: bool) -> None:
    eps = list(trainer.episodes)
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(METRIC_FIELDS)
        ret = np.mean([e["return"] for e in eps[-100:]]) if eps else float("nan")
        w.writerow(
            [
                trainer.global_step,
                f"{seconds:.2f}",
                trainer.episodes_total,
                f"{success_rate(eps, 100):.4f}",
                f"{success_rate(eps, 500):.4f}",
                f"{ret:.4f}",
                f"{success_rate(eps, 100, 'proxy_success'):.4f}",
                f"{success_rate(eps, 500, 'proxy_success'):.4f}",
                int(alert),
            ]
        )


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


def _hparam_table(cfg: TrainConfig) -> str:
    flat: dict[str, Any] = {}
    for k, v in cfg.to_dict().items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in flat.items())


class _Progress:
    """A rich progress bar with steps/s, success and ETA (silent when disabled)."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[sps]:.0f} steps/s  success {task.fields[success]:.2f}"),
            TimeRemainingColumn(),
        )
        self.task = self.p.add_task("train", total=total, completed=start, sps=0.0, success=0.0)
        self.p.start()

    def update(self, step: int, success: float, sps: float) -> None:
        if self.enabled:
            self.p.update(self.task, completed=step, sps=sps, success=np.nan_to_num(success))

    def close(self) -> None:
        if self.enabled:
            self.p.stop()


__all__ = ["CheckpointError", "plot_curve", "resolve_resume", "run_parent_stats", "train"]
