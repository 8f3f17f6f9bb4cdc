"""The training run's evaluation protocol: ``--eval.*``, ``eval.csv`` and the summary's ``eval``.

Every ``--eval.every`` updates, and once more at the end of the run if its last update was not
one of those, the student plays ``--eval.episodes`` held-out episodes
(:mod:`babyworld.agents.evaluate`) twice: greedily (the most probable act) and sampling its
policy. Both success rates are the verifier's. They go to TensorBoard (``eval/greedy_success``,
``eval/sampled_success``), to ``eval.csv`` (``step,greedy_success,sampled_success,episodes``)
and, for the last evaluation, to ``summary.json`` (``"eval"``).

The sampled evaluation after update ``u`` draws from a generator seeded with ``(seed, u)``, so an
evaluation depends only on the weights it evaluates: a resumed run evaluates exactly as an
uninterrupted one, and the training run's own random streams are never drawn from.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babyworld.agents.evaluate import play_episodes
from babyworld.agents.ppo import PPOTrainer
from babyworld.validation import check_config
from babyworld.vector import make_envs

EVAL_FIELDS = ("step", "greedy_success", "sampled_success", "episodes")
#: Added to ``eval.csv`` and the summary when the run trained without the held-out toys.
HELD_OUT_FIELDS = ("held_out_greedy_success", "held_out_sampled_success")
#: Mixed with the run's seed into the sampling generator of every evaluation.
_SAMPLE_SALT = 0x5EED_E7A1


@dataclass
class EvalConfig:
    """When and how much a run is evaluated on held-out episodes (``--eval.*``)."""

    every: int = 20
    """updates between evaluations (a positive whole number of updates; one update is
    num_envs x ppo.rollout_steps env steps); the run's end is always evaluated"""
    episodes: int = 64
    """held-out episodes per evaluation, each played greedily and sampled (0 = no evaluation)"""
    num_envs: int = 16
    """evaluation envs stepped together (one batched parent call per phase)"""

    def __post_init__(self) -> None:
        whole = isinstance(self.every, int) and not isinstance(self.every, bool)
        if not whole or self.every < 1:
            raise ValueError(
                "eval.every counts updates (one update is num_envs x ppo.rollout_steps env "
                f"steps) and must be a positive whole number of them, got {self.every!r}"
            )
        check_config(self, "eval")
        if self.episodes < 0:
            raise ValueError(f"eval.episodes must be >= 0 (0: no evaluation), got {self.episodes}")
        if self.num_envs < 1:
            raise ValueError(f"eval.num_envs must be >= 1, got {self.num_envs}")

    @property
    def enabled(self) -> bool:
        """Whether the run evaluates at all."""
        return self.episodes > 0


def make_eval_envs(cfg: EvalConfig, level: str, parent: Any, env_kwargs: dict[str, Any]) -> Any:
    """The evaluation vector env of a run (None when the run does not evaluate).

    Args:
        cfg: the protocol.
        level: the level the run's envs are (``"Ladder"`` for curriculum runs).
        parent: the parent instance of this process (evaluation runs here, also with ``--ray``).
        env_kwargs: the run's env settings (reward weights and source; success is the
            verifier's whatever they are).
    """
    if not cfg.enabled:
        return None
    return make_envs(level, min(cfg.num_envs, cfg.episodes), parent, **env_kwargs)


def on_split(tasks: Any, split: str = "held_out") -> list[Any]:
    """``tasks`` on scenes of ``split`` (by default the held-out toys alone).

    The tasks of levels without a split (Chat) are left out; none left is an error.
    """
    from babyworld.envs import level_class
    from babyworld.task import Task

    out = [
        Task.make(t.level, **{**t.kwargs, "split": split})
        for t in tasks
        if "split" in level_class(t.level).task_params
    ]
    if not out:
        raise ValueError(
            f"no task of {[t.name for t in tasks]} has a split: only Point, Name and Request draw "
            "their scenes from toys that can be held out"
        )
    return out


def play_evaluation(
    model: Any,
    envs: Any,
    tasks: Any,
    episodes: int,
    seed: int,
    updates: int,
    held_out: bool = False,
) -> dict[str, np.ndarray]:
    """The held-out episodes played greedily, then sampled: per-episode true success of each.

    Keyed by their :data:`EVAL_FIELDS` / :data:`HELD_OUT_FIELDS` names (``greedy_success``, ...;
    with ``held_out`` also the same episodes on scenes of held-out toys alone). The sampled acts
    draw from a generator seeded with ``(seed, updates)`` alone, so the result depends only on
    the weights, the run's seed and its update count.
    """
    out = {}
    for prefix, played in (("", tasks), ("held_out_", on_split(tasks) if held_out else None)):
        if played is None:
            continue
        gen = torch.Generator().manual_seed((seed * 1_000_003 + updates) ^ _SAMPLE_SALT)
        out[f"{prefix}greedy_success"] = play_episodes(model, envs, played, episodes, greedy=True)
        out[f"{prefix}sampled_success"] = play_episodes(
            model, envs, played, episodes, greedy=False, generator=gen
        )
    return out


class Evaluator:
    """Evaluates a trainer's student on held-out episodes and records the results.

    Args:
        cfg: the protocol.
        envs: the evaluation vector env (autoreset disabled; not the training envs), or None
            when ``cfg`` evaluates nothing.
        seed: the run's seed (mixed into the sampling generator).
        path: the run's ``eval.csv``.
        parent: the parent the evaluation envs use, to count its requests apart (optional).
        shared: whether ``parent`` is the one the run's counters read (then
            :meth:`without_eval` takes the evaluations out of them).
        held_out: also play the same number of episodes on scenes of held-out toys alone
            (a run trained with ``--env.split train``): ``held_out_*`` beside the others.
    """

    def __init__(
        self,
        cfg: EvalConfig,
        envs: Any,
        seed: int,
        path: Path,
        parent: Any = None,
        shared: bool = True,
        held_out: bool = False,
    ) -> None:
        self.cfg, self.envs, self.seed, self.path, self.parent = cfg, envs, seed, path, parent
        self.shared, self.held_out = shared, held_out
        self.fields = EVAL_FIELDS + (HELD_OUT_FIELDS if held_out else ())
        self.last: dict[str, Any] | None = None
        self.parent_use: dict[str, float] = {}
        """the parent's counters spent by the run's evaluations (raw ``ParentStats`` fields)"""
        self.session_use: dict[str, float] = {}
        """the same, by this session's evaluations only"""

    def due(self, trainer: PPOTrainer, final: bool) -> bool:
        """Whether to evaluate now: every ``every`` updates, and at the run's end."""
        if not self.cfg.enabled:
            return False
        at = self.last["step"] if self.last else None
        return trainer.updates % self.cfg.every == 0 or (final and at != trainer.global_step)

    def evaluate(self, trainer: PPOTrainer, writer: Any = None) -> dict[str, Any]:
        """Evaluate now; log to ``writer``, append to ``eval.csv``; returns the row."""
        tasks = trainer.curriculum.tasks
        n = self.cfg.episodes
        before = dataclasses.asdict(self.parent.stats) if self.parent is not None else {}
        played = play_evaluation(
            trainer.model, self.envs, tasks, n, self.seed, trainer.updates, self.held_out
        )
        row = {"step": trainer.global_step, "episodes": n}
        row.update({k: float(np.mean(v)) for k, v in played.items()})
        greedy = played["greedy_success"]  # episode j played tasks[j % K]
        per = {t.name: greedy[i :: len(tasks)] for i, t in enumerate(tasks[:n])}
        row["per_task"] = {k: (float(np.mean(v)), len(v)) for k, v in per.items()}
        if self.parent is not None:
            for k, v in dataclasses.asdict(self.parent.stats).items():
                self.parent_use[k] = self.parent_use.get(k, 0) + v - before[k]
                self.session_use[k] = self.session_use.get(k, 0) + v - before[k]
        if writer is not None:
            for k in self.fields[1:]:
                if k != "episodes":
                    writer.add_scalar(f"eval/{k}", row[k], row["step"])
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(self.fields)
            w.writerow(
                [row[k] if k in ("step", "episodes") else f"{row[k]:.4f}" for k in self.fields]
            )
        self.last = row
        return row

    def without_eval(self, counters: dict[str, float]) -> dict[str, float]:
        """The training run's parent counters: ``counters`` less this session's evaluations.

        Evaluation shares the run's parent (locally), so its requests would otherwise count as
        the run's; they are reported apart (``eval.parent_requests``).
        """
        if not self.shared:
            return counters
        return {k: v - self.session_use.get(k, 0) for k, v in counters.items()}

    def close(self) -> None:
        """Close the evaluation envs."""
        if self.envs is not None:
            self.envs.close()

    def summary(self) -> dict[str, Any] | None:
        """The summary's ``eval`` block: the last evaluation (None if the run evaluated none).

        ``parent_requests`` counts the parent requests the run's evaluations made (kept out of
        the run's ``parent_stats``, which count the training's).
        """
        if self.last is None:
            return None
        out = {
            "greedy_success": self.last["greedy_success"],
            "sampled_success": self.last["sampled_success"],
            "episodes": self.last["episodes"],
            "every": self.cfg.every,
            "step": self.last["step"],
            "parent_requests": self.parent_use.get("requests", 0),
        }
        out.update({k: self.last[k] for k in HELD_OUT_FIELDS if k in self.last})
        return out

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints: the last evaluation."""
        return {"last": self.last, "parent_use": dict(self.parent_use)}

    def load_state_dict(self, state: dict[str, Any] | None, step: int) -> None:
        """Restore :meth:`state_dict` and cut ``eval.csv`` back to the checkpoint's ``step``."""
        self.last = (state or {}).get("last")
        self.parent_use = dict((state or {}).get("parent_use", {}))
        if not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").split("\n")
        keep = [lines[0]] if lines and lines[0] == ",".join(self.fields) else []
        for line in lines[1:]:
            parts = line.split(",")
            if len(parts) == len(self.fields) and parts[0].isdigit() and int(parts[0]) <= step:
                keep.append(line)
        if keep:
            self.path.write_text("\n".join(keep) + "\n", encoding="utf-8")
        else:
            self.path.unlink()
