"""A run's use of its parent: counters over every session and process of the run.

A parent instance is shared by every run of a process (``babyworld ablate`` runs many), Ray
workers hold parents of their own, and a resumed run starts a fresh process: the run's own
counters are this session's difference plus what its checkpoint carried.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from babyworld.agents.ppo import PPOTrainer
from babyworld.experiments.callbacks import Callback
from babyworld.experiments.evaluation import Evaluator
from babyworld.parent import Parent, ParentStats


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


class ParentCounters(Callback):
    """The run's own parent counters (this session's use plus earlier sessions')."""

    key = "parent_stats"

    def __init__(
        self, parent: Parent | None, envs: Any, evaluator: Evaluator, start: dict[str, float]
    ) -> None:
        """Count from ``start``, :func:`parent_counters` before this session used the parent.

        The instance is shared by every run of the process: only this run's use counts.
        """
        self.parent, self.envs, self.evaluator, self.start = parent, envs, evaluator, start
        self.carried: dict[str, float] | None = None

    def state_dict(self) -> Any:
        """See :meth:`Callback.state_dict`."""
        now = self.evaluator.without_eval(parent_counters(self.parent, self.envs))
        return run_parent_stats(now, self.start, self.carried)

    def load_state_dict(self, state: Any) -> None:
        """See :meth:`Callback.load_state_dict`."""
        self.carried = state

    def summary(self, trainer: PPOTrainer) -> dict[str, Any]:
        """See :meth:`Callback.summary`."""
        return {"parent_stats": self.state_dict()}
