"""A learning-progress bandit over tasks (TSCL / ALP-GMM / Kanitscheider et al. style).

Sample the tasks on which success is changing fastest — in either direction, since forgetting is
worth revisiting too — with a uniform floor so that no task is starved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from babyworld.curricula.base import DEFAULT_LADDER, Curriculum, EpisodeStats, check_fraction
from babyworld.task import Task


class LearningProgressCurriculum(Curriculum):
    """Sample tasks in proportion to their absolute learning progress, with an epsilon floor.

    Per task ``k``, a fast and a slow EMA of episode success, both started at the task's first
    episode's success ``s_1`` (so a task that is simply easy shows no progress):

    ``f_k <- f_k + fast * (s - f_k)``, ``g_k <- g_k + slow * (s - g_k)``,
    ``LP_k = |f_k - g_k|``.

    Sampling probabilities over the ``K`` tasks (tasks never played have ``LP = 0``):

    ``P(k) = epsilon / K + (1 - epsilon) * LP_k / sum_j LP_j``, and ``P(k) = 1 / K`` when every
    ``LP_j`` is 0 (e.g. at the start).

    Proportional sampling (ALP-GMM's choice) rather than a greedy or softmax bandit (TSCL) keeps
    every task with any progress in play and has no temperature to tune; the epsilon floor is
    ALP-GMM's random exploration and lets a stalled or unseen task be re-measured.

    Args:
        tasks: the ordered task space (default :data:`DEFAULT_LADDER`).
        fast: step size of the fast EMA, in ``(0, 1]``.
        slow: step size of the slow EMA, in ``(0, 1]`` and smaller than ``fast``.
        epsilon: probability mass spread uniformly over all tasks, in ``[0, 1]``.
        beta: step size of the capability estimate behind ``progress``, in ``(0, 1]``.
    """

    kind = "progress"

    def __init__(
        self,
        tasks: Sequence[Task | str] = DEFAULT_LADDER,
        *,
        fast: float = 0.2,
        slow: float = 0.05,
        epsilon: float = 0.2,
        beta: float = 0.1,
    ) -> None:
        super().__init__(tasks, beta=beta)
        self.fast = check_fraction("fast", fast, open_low=True)
        self.slow = check_fraction("slow", slow, open_low=True)
        if not self.slow < self.fast:
            raise ValueError(f"slow must be smaller than fast, got slow={slow} and fast={fast}")
        self.epsilon = check_fraction("epsilon", epsilon)
        self._fast = [0.0] * len(self.tasks)
        self._slow = [0.0] * len(self.tasks)

    def learning_progress(self) -> np.ndarray:
        """``LP_k = |f_k - g_k|`` per task, shape ``[K]``."""
        return np.abs(np.asarray(self._fast) - np.asarray(self._slow))

    def probabilities(self) -> np.ndarray:
        """Sampling distribution over :attr:`tasks`, shape ``[K]`` (see the class docstring)."""
        k = len(self.tasks)
        lp = self.learning_progress()
        total = lp.sum()
        if total <= 0:
            return np.full(k, 1.0 / k)
        return self.epsilon / k + (1.0 - self.epsilon) * lp / total

    def _sample(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.tasks), p=self.probabilities()))

    def _observe(self, index: int, stats: EpisodeStats) -> None:
        s = stats.success
        if self._task_episodes[index] == 1:
            self._fast[index] = self._slow[index] = s
        else:
            self._fast[index] += self.fast * (s - self._fast[index])
            self._slow[index] += self.slow * (s - self._slow[index])

    def config(self) -> dict[str, Any]:
        """Hyperparameters (a saved state loads only with the same ones)."""
        return {**super().config(), "fast": self.fast, "slow": self.slow, "epsilon": self.epsilon}

    def log(self) -> dict[str, float]:
        """``episodes``, ``p/<task.name>``, ``lp/<task.name>`` and ``prob/<task.name>``."""
        out = super().log()
        for t, lp, pr in zip(
            self.tasks, self.learning_progress(), self.probabilities(), strict=True
        ):
            out[f"lp/{t.name}"] = float(lp)
            out[f"prob/{t.name}"] = float(pr)
        return out

    def _state(self) -> dict[str, Any]:
        return {"fast_ema": list(self._fast), "slow_ema": list(self._slow)}

    def _load(self, state: Mapping[str, Any]) -> dict[str, Any]:
        fast = [float(x) for x in state["fast_ema"]]
        slow = [float(x) for x in state["slow_ema"]]
        if len(fast) != len(self.tasks) or len(slow) != len(self.tasks):
            raise ValueError(f"expected {len(self.tasks)} fast and slow EMAs")
        return {"_fast": fast, "_slow": slow}
