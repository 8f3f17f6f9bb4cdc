"""Curricula over the ladder of levels (mapped into the package as ``babyworld.curricula``).

A curriculum hands each new episode its task (``env.reset(options={"task": curriculum
.sample_task(rng)})``), is told the finished episode's outcome (``curriculum.update(task,
EpisodeStats(...))``, which returns the ``progress`` signal) and logs its state (``log()``, keys
without the ``curriculum/`` prefix). Four kinds, built by :func:`make_curriculum`:

- ``fixed``: always one task (the no-curriculum baseline);
- ``ladder``: stage by stage, promoted on a success threshold, with retention re-tests;
- ``progress``: a bandit sampling tasks by absolute learning progress;
- ``parent``: the frozen parent LLM picks the next task from a summary of the baby's abilities.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from babyworld.curricula.base import DEFAULT_LADDER, Curriculum, EpisodeStats
from babyworld.curricula.fixed import FixedCurriculum
from babyworld.curricula.ladder import LadderCurriculum
from babyworld.curricula.parent_designed import (
    ParentDesignedCurriculum,
    ability_summary,
    describe_tasks,
)
from babyworld.curricula.progress import LearningProgressCurriculum
from babyworld.curricula.runner import CurriculumRunner, Finished, RunnerStep, reset_with_tasks
from babyworld.parent import Parent
from babyworld.task import Task

#: Curriculum classes by the name :func:`make_curriculum` takes.
CURRICULA: dict[str, type[Curriculum]] = {
    "fixed": FixedCurriculum,
    "ladder": LadderCurriculum,
    "progress": LearningProgressCurriculum,
    "parent": ParentDesignedCurriculum,
}


def make_curriculum(
    kind: str,
    *,
    tasks: Sequence[Task | str] | None = None,
    parent: Parent | str | None = None,
    **kwargs: Any,
) -> Curriculum:
    """Build a curriculum by name.

    Args:
        kind: ``fixed``, ``ladder``, ``progress`` or ``parent``.
        tasks: the ordered task space; default :data:`DEFAULT_LADDER` (for ``fixed``: exactly one
            task, also accepted as ``task=``; default the first rung, ``Point``).
        parent: the parent (instance or spec string); required by ``parent`` only.
        **kwargs: the curriculum's own settings (e.g. ``threshold=0.9`` for ``ladder``).

    Raises:
        ValueError: unknown ``kind``, a parent curriculum without a parent, or a parent given to a
            kind that does not use one.
    """
    if kind not in CURRICULA:
        raise ValueError(f"unknown curriculum kind {kind!r}; choose one of {', '.join(CURRICULA)}")
    cls = CURRICULA[kind]
    asks = "parent" in inspect.signature(cls).parameters
    if parent is not None and not asks:
        raise ValueError(f"the {kind!r} curriculum takes no parent; only 'parent' does")
    if asks and parent is None:
        raise ValueError(
            f"the {kind!r} curriculum needs parent= (a spec such as 'smollm2' or a Parent instance)"
        )
    if cls is FixedCurriculum:  # one task, not a task space
        if tasks is None:
            return FixedCurriculum(kwargs.pop("task", DEFAULT_LADDER[0]), **kwargs)
        if isinstance(tasks, Task | str) or len(tasks) != 1:
            raise ValueError(f"the 'fixed' curriculum takes exactly one task, got tasks={tasks!r}")
        return FixedCurriculum(tasks[0], **kwargs)
    task_space = DEFAULT_LADDER if tasks is None else tasks
    return cls(task_space, parent=parent, **kwargs) if asks else cls(task_space, **kwargs)


__all__ = [
    "CURRICULA",
    "DEFAULT_LADDER",
    "Curriculum",
    "CurriculumRunner",
    "EpisodeStats",
    "FixedCurriculum",
    "Finished",
    "LadderCurriculum",
    "LearningProgressCurriculum",
    "ParentDesignedCurriculum",
    "RunnerStep",
    "ability_summary",
    "describe_tasks",
    "make_curriculum",
    "reset_with_tasks",
]
