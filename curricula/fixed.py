"""The trivial curriculum: every episode gets the same task (the no-curriculum baseline)."""

from __future__ import annotations

import numpy as np

from babyworld.curricula.base import Curriculum
from babyworld.task import Task
from babyworld.validation import ValidationError


class FixedCurriculum(Curriculum):
    """Always ``task``; still tracks the capability estimate behind the ``progress`` signal.

    Args:
        task: the only task (a string is a level with its default settings).
        beta: step size of the success estimate ``p <- p + beta (s - p)``, in ``(0, 1]``.
    """

    kind = "fixed"

    def __init__(self, task: Task | str, *, beta: float = 0.1) -> None:
        if isinstance(task, list | tuple):
            raise ValidationError(
                f"FixedCurriculum takes one task, got a sequence of {len(task)}; "
                "use another curriculum for several tasks"
            )
        super().__init__([task], beta=beta)

    @property
    def task(self) -> Task:
        """The task of every episode."""
        return self.tasks[0]

    def _sample(self, rng: np.random.Generator) -> int:
        return 0
