"""A run's companions as callbacks: each sees every update, keeps its own checkpoint state.

``babyworld train`` (:func:`~babyworld.experiments.train.train`) runs the trainer's updates and
hands each :class:`UpdateReport` to its callbacks in order (the judge watch first: the others
log its alert). A callback with a ``key`` is saved in the checkpoint under that key
(``state_dict``) and restored from it (``load_state_dict``); its ``summary`` goes into
``summary.json``. The companions: the judge watch, TensorBoard, the language log, the metrics
CSV, the stage log, the held-out evaluation, the mode's diagnostics, the parent's counters
(:mod:`~babyworld.experiments.parent_use`) and the progress bar.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from babyworld.agents.checkpoint import CheckpointError
from babyworld.agents.judge_watch import JudgeWatch
from babyworld.agents.ppo import LOSS_KEYS, PPOTrainer, success_rate
from babyworld.experiments.evaluation import Evaluator
from babyworld.experiments.language_log import (
    LanguageLog,
    json_measures,
    log_language,
    words_checkpoint,
)

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


@dataclass
class UpdateReport:
    """What one update of a run did, as its callbacks read it."""

    step0: int
    """env steps before the update"""
    step: int
    """env steps after it"""
    seconds: float = 0.0
    """the run's wall-clock seconds so far, over every session"""
    sps: float = 0.0
    """env steps per second of this update"""
    losses: dict[str, float] = field(default_factory=dict)
    """:meth:`PPOTrainer.update`'s losses and diagnostics"""
    collect: dict[str, Any] = field(default_factory=dict)
    """:meth:`PPOTrainer.collect`'s rollout statistics"""
    parent_before: dict[str, float] = field(default_factory=dict)
    """the parents' counters before the update (:func:`parent_counters`)"""
    parent_now: dict[str, float] = field(default_factory=dict)
    """and after it"""
    alert: bool = False
    """the judge watch's verdict on this update (set by :class:`Watch`)"""


class Callback:
    """A run companion; override what it needs."""

    key: ClassVar[str | None] = None
    """its entry in the checkpoint (``None``: it keeps nothing)"""

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """After every update."""

    def state_dict(self) -> Any:
        """What the checkpoint keeps under :attr:`key`."""
        return None

    def load_state_dict(self, state: Any) -> None:
        """Restore :meth:`state_dict`."""

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """Entries of ``summary.json`` (asked once, at the end, before :meth:`close`)."""
        return {}

    def close(self) -> None:
        """Release what it holds (files, envs)."""


class Watch(Callback):
    """The judge watch over the proxy and true success of each update's episodes."""

    key = "judge_watch"

    def __init__(self, watch: JudgeWatch) -> None:
        self.watch = watch

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        new = [e for e in trainer.episodes if e["step"] > report.step0]
        report.alert = self.watch.observe(
            success_rate(new, len(new), "proxy_success"), success_rate(new, len(new)), report.step
        )

    def state_dict(self) -> Any:
        """See :meth:`Callback.state_dict`."""
        return self.watch.state_dict()

    def load_state_dict(self, state: Any) -> None:
        """See :meth:`Callback.load_state_dict`."""
        if state is not None:
            self.watch.load_state_dict(state)

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """See :meth:`Callback.summary`."""
        true = success_rate(trainer.episodes, 500)
        proxy = success_rate(trainer.episodes, 500, "proxy_success")
        return {
            "judge": {
                "true_success_last_500": true,
                "proxy_success_last_500": proxy,
                "gap_last_500": proxy - true,
                "alert_updates": self.watch.alerts,
                "first_alert_step": self.watch.first_alert_step,
            }
        }


class TensorBoard(Callback):
    """Scalars of every update: success, losses, rewards, parent counters, speed, curriculum."""

    def __init__(self, run: Path, resumed_at: int | None, hparams: str | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # On resume, drop any events logged after the checkpoint (they are produced again).
        self.writer = SummaryWriter(str(run), purge_step=resumed_at)
        if hparams is not None:
            self.writer.add_text("hyperparameters", hparams)

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        w, step, metrics = self.writer, report.step, report.losses
        eps = list(trainer.episodes)[-100:]
        if eps:
            true, proxy = success_rate(eps, 100), success_rate(eps, 100, "proxy_success")
            w.add_scalar("charts/success_rate", true, step)
            w.add_scalar("judge/true_success", true, step)
            w.add_scalar("judge/proxy_success", proxy, step)
            w.add_scalar("judge/gap", proxy - true, step)
            w.add_scalar("charts/episodic_return", np.mean([e["return"] for e in eps]), step)
            w.add_scalar("charts/episode_length", np.mean([e["length"] for e in eps]), step)
        w.add_scalar("charts/learning_rate", metrics["lr"], step)
        for k in LOSS_KEYS:
            w.add_scalar(f"losses/{k}", metrics[k], step)
        w.add_scalar("charts/phase", metrics["phase"], step)
        for k, v in metrics.items():  # a mode's own diagnostics (e.g. sd/kl)
            if k.startswith(ModeDiagnostics.PREFIXES):
                w.add_scalar(k, v, step)
        w.add_scalar("losses/explained_variance", metrics["explained_variance"], step)
        for i, name in enumerate(trainer.reward_names):
            student_side = trainer.cfg.student_rewards and name in ("predictability", "mdl")
            key = f"rewards/{name}_student" if student_side else f"rewards/{name}"
            w.add_scalar(key, metrics[f"reward/{name}"], step)
            w.add_scalar(f"rewards/env_{name}", float(report.collect["env_reward"][i]), step)
        now, before = report.parent_now, report.parent_before
        for k in ("tokens", "cache_hits", "seconds", "computed_tokens"):
            w.add_scalar(f"parent/{k}", now[k] - before[k], step)
        w.add_scalar("parent/hit_rate", now["hit_rate"], step)
        calls = now["calls"] - before["calls"]
        if calls:  # mean wall-clock seconds of one batched model call over this update
            w.add_scalar("parent/latency", (now["seconds"] - before["seconds"]) / calls, step)
        w.add_scalar("perf/steps_per_sec", report.sps, step)
        for k, v in trainer.curriculum.log().items():
            w.add_scalar(f"curriculum/{k}", v, step)
        w.add_scalar("judge/alert", float(report.alert), step)

    def close(self) -> None:
        """See :meth:`Callback.close`."""
        self.writer.close()


class Language(Callback):
    """The language log: word budgets every update, transcripts and measures every few."""

    key = "language"

    def __init__(self, lang: LanguageLog, writer: Any, run: Path) -> None:
        self.lang, self.writer, self.run = lang, writer, run

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        log_language(self.writer, self.lang, trainer, self.run)

    def state_dict(self) -> Any:
        """See :meth:`Callback.state_dict`."""
        return self.lang.state_dict()

    def load_state_dict(self, state: Any) -> None:
        """See :meth:`Callback.load_state_dict`."""
        if state is not None:
            self.lang.load_state_dict(state)

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """See :meth:`Callback.summary`."""
        return {
            "words": self.lang.budgets(),
            "words_checkpoints": {str(w): words_checkpoint(w) for w in self.lang.milestones_done},
            "language": json_measures(self.lang.measures()),
        }


class MetricsCSV(Callback):
    """One row of :data:`METRIC_FIELDS` per update in ``metrics.csv``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        eps = list(trainer.episodes)
        new = not self.path.exists()
        ret = np.mean([e["return"] for e in eps[-100:]]) if eps else float("nan")
        row = [report.step, f"{report.seconds:.2f}", trainer.episodes_total]
        row += [f"{success_rate(eps, n):.4f}" for n in (100, 500)] + [f"{ret:.4f}"]
        row += [f"{success_rate(eps, n, 'proxy_success'):.4f}" for n in (100, 500)]
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(METRIC_FIELDS)
            w.writerow([*row, int(report.alert)])


class ModeDiagnostics(Callback):
    """A mode's own per-update diagnostics, kept for ``summary.json``.

    They are the update's metrics under a mode's own prefix (SDPO's and SDFT's ``sd/*``; a mode
    adding diagnostics under another prefix adds it to :attr:`PREFIXES`); a non-finite value is
    kept as ``None``.

    ``summary["mode_diagnostics"][name]`` is ``{"mean": ..., "per_update": [[step, value], ...]}``
    (e.g. ``sd/teacher_minus_student_right``: is the self-distillation teacher informed?); modes
    without diagnostics add nothing.
    """

    key = "mode_diagnostics"
    PREFIXES = ("sd/",)

    def __init__(self) -> None:
        self.rows: dict[str, list[list[float]]] = {}

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        for k, v in report.losses.items():
            if k.startswith(self.PREFIXES):
                value = round(float(v), 6) if np.isfinite(v) else None
                self.rows.setdefault(k, []).append([report.step, value])

    def state_dict(self) -> Any:
        """See :meth:`Callback.state_dict`."""
        return self.rows

    def load_state_dict(self, state: Any) -> None:
        """See :meth:`Callback.load_state_dict`."""
        self.rows = dict(state or {})

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """See :meth:`Callback.summary`."""
        if not self.rows:
            return {}
        return {
            self.key: {
                k: {"mean": _mean_or_none([v for _, v in r]), "per_update": r}
                for k, r in self.rows.items()
            }
        }


def _mean_or_none(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


class Stages(Callback):
    """Per task: when the run first finished an episode of it, and its recent success.

    Steps are exact; minutes are measured at the end of that update.
    """

    key = "stages"

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.first: dict[str, tuple[int, float]] = {}

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        for e in trainer.episodes:
            if e["task"] not in self.first:
                self.first[e["task"]] = (int(e["step"]), report.seconds)

    def state_dict(self) -> dict[str, list]:
        """See :meth:`Callback.state_dict`."""
        return {k: list(v) for k, v in self.first.items()}

    def load_state_dict(self, state: Any) -> None:
        """See :meth:`Callback.load_state_dict`."""
        self.first = {k: (int(v[0]), float(v[1])) for k, v in (state or {}).items()}

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """Per task: when it was first played, and its recent success.

        First step and minute, episodes and success over its last 100, and its episodes among
        the run's last 500 and their success (``last_500_*``).
        """
        out: dict[str, Any] = {"kind": self.kind, "log": trainer.curriculum.log(), "tasks": {}}
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
        return {"curriculum": out}


class Evaluation(Callback):
    """The held-out evaluation when due (and at the run's last step)."""

    key = "eval"

    def __init__(self, evaluator: Evaluator, writer: Any, total_steps: int, step: int) -> None:
        self.evaluator, self.writer, self.total, self.step = evaluator, writer, total_steps, step

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        if self.evaluator.due(trainer, final=report.step >= self.total):
            self.evaluator.evaluate(trainer, self.writer)

    def state_dict(self) -> Any:
        """See :meth:`Callback.state_dict`."""
        return self.evaluator.state_dict()

    def load_state_dict(self, state: Any) -> None:
        """See :meth:`Callback.load_state_dict`."""
        self.evaluator.load_state_dict(state, self.step)

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """See :meth:`Callback.summary`."""
        return {"eval": self.evaluator.summary()}

    def close(self) -> None:
        """See :meth:`Callback.close`."""
        self.evaluator.close()


class Retention(Callback):
    """Each stage's greedy held-out success at every evaluation: what a ladder run keeps.

    The evaluation's greedy episodes cycle through the curriculum's tasks (episode ``j`` plays
    task ``j mod K``), so each task's share of them is its stage's score, at no extra cost.
    ``retention.csv`` gets a row per stage and evaluation (``step, task, reached,
    greedy_success, episodes, words_heard, words_produced``: ``reached`` 1 once the run has
    played the stage, the words those heard and said so far), TensorBoard ``retention/<task>``,
    the summary the last evaluation's scores and their mean; the run's end draws ``retention.png``.
    """

    key = "retention"
    FIELDS = (
        "step", "task", "reached", "greedy_success", "episodes", "words_heard", "words_produced"
    )  # fmt: skip

    def __init__(
        self, evaluator: Evaluator, stages: Stages, lang: LanguageLog, path: Path, writer: Any,
        step: int,
    ) -> None:  # fmt: skip
        self.evaluator, self.stages, self.lang, self.path = evaluator, stages, lang, path
        self.writer, self.step = writer, step

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """After an evaluation of this update: a row per stage."""
        last = self.evaluator.last
        if last is None or last["step"] != report.step or len(last.get("per_task", ())) < 2:
            return  # one stage: eval.csv says it all
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(self.FIELDS)
            heard, said = self.lang.words_heard, self.lang.words_produced
            for task, (success, n) in last["per_task"].items():
                reached = int(task in self.stages.first)
                w.writerow([report.step, task, reached, f"{success:.4f}", n, heard, said])
                self.writer.add_scalar(f"retention/{task}", success, report.step)

    def load_state_dict(self, state: Any) -> None:
        """On resume: cut ``retention.csv`` back to the checkpoint's step.

        The file is the state: its rows after the checkpoint are made again.
        """
        if not self.path.exists():
            return
        rows = list(csv.reader(self.path.open()))
        try:
            keep = [r for r in rows[1:] if int(r[0]) <= self.step]
        except (ValueError, IndexError) as e:
            raise CheckpointError(
                f"{self.path} is damaged ({e}); delete it (the next evaluations write it again)"
            ) from e
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerows([list(self.FIELDS), *keep])

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """The last evaluation's score per stage and their mean."""
        last = self.evaluator.last
        if last is None or "per_task" not in last or len(last["per_task"]) < 2:
            return {}
        scores = {task: score for task, (score, _) in last["per_task"].items()}
        return {
            "retention": {
                "step": last["step"],
                **scores,
                "mean": float(np.mean(list(scores.values()))),
            }
        }


class ProgressBar(Callback):
    """A rich progress bar with steps/s, success and ETA."""

    def __init__(self, total: int, start: int) -> None:
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

    def on_update(self, trainer: PPOTrainer, report: UpdateReport) -> None:
        """See :meth:`Callback.on_update`."""
        success = np.nan_to_num(success_rate(trainer.episodes, 100))
        self.p.update(self.task, completed=report.step, sps=report.sps, success=success)

    def close(self) -> None:
        """See :meth:`Callback.close`."""
        self.p.stop()
