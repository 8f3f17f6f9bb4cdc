"""The ladder: one stage at a time, promoted on a success threshold, with retention re-tests."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from babyworld.curricula.base import (
    DEFAULT_LADDER,
    MEAN_TOLERANCE,
    Curriculum,
    EpisodeStats,
    RetentionWindows,
    check_count,
    check_fraction,
    sample_with_retest,
)
from babyworld.task import Task


class LadderCurriculum(Curriculum):
    """Stages in order; promote when the current stage's recent success reaches a threshold.

    Promotion: after each episode of the current stage ``k`` (not the last), with ``W`` the
    success values of its last ``window`` episodes since ``k`` became current, the ladder moves to
    ``k + 1`` as soon as ``len(W) == window`` and ``mean(W) >= threshold``. The window then starts
    empty for the new stage. The ladder never demotes; the last stage stays.

    Re-tests: once a stage was passed, ``sample_task`` returns, with probability ``retest_rate``,
    a uniformly chosen earlier stage instead of the current one. Episodes of earlier stages
    (re-tests, and episodes sampled before a promotion that end after it) never count toward
    promotion; they fill a per-stage retention window of the last ``window`` episodes, logged as
    ``retention/<task.name>``, so forgetting shows. Episodes of a later stage (only possible if the
    caller picked the task itself) move only the capability estimate.

    Adaptive re-tests (``retest_gain`` g > 0): the re-tests follow the measured forgetting. With
    ``d_k = max(0, threshold - m_k)`` the deficit of passed stage ``k`` (``m_k`` its retention
    window's mean; 0 while it has no re-test yet) and ``F = mean_k d_k``, the re-test probability
    is ``min(1, retest_rate + g F)`` and the stage re-tested is drawn with probability
    ``(d_k + 1/K) / sum_j (d_j + 1/K)`` over the ``K`` passed stages (uniform when none is
    forgotten). With g = 0 the re-tests are the fixed rate's, draw for draw.

    Args:
        stages: the ordered stages, easiest first (default :data:`DEFAULT_LADDER`).
        threshold: promotion threshold on the window mean, in ``(0, 1]``.
        window: episodes in the promotion (and retention) window, ``>= 1``.
        retest_rate: probability of a re-test of an earlier stage, in ``[0, 1]``.
        retest_gain: how much the measured forgetting raises it, ``>= 0`` (0: fixed).
        beta: step size of the success estimate ``p <- p + beta (s - p)``, in ``(0, 1]``.

    Attributes:
        stage: index of the current stage in :attr:`tasks`.
        stage_episodes: episodes of the current stage since it became current.
        promotions: ``(new stage index, episodes seen in total at the promotion)`` per promotion.
    """

    kind = "ladder"

    def __init__(
        self,
        stages: Sequence[Task | str] = DEFAULT_LADDER,
        *,
        threshold: float = 0.8,
        window: int = 100,
        retest_rate: float = 0.1,
        retest_gain: float = 0.0,
        beta: float = 0.1,
    ) -> None:
        super().__init__(stages, beta=beta)
        self.threshold = check_fraction("threshold", threshold, open_low=True)
        self.window = check_count("window", window)
        self.retest_rate = check_fraction("retest_rate", retest_rate)
        if not isinstance(retest_gain, int | float) or not retest_gain >= 0:  # NaN fails too
            raise ValueError(f"retest_gain must be a number >= 0, got {retest_gain!r}")
        self.retest_gain = float(retest_gain)
        self.stage = 0
        self.stage_episodes = 0
        self.retest_episodes = 0
        self.promotions: list[tuple[int, int]] = []
        self._window: deque[float] = deque(maxlen=self.window)
        self._retention = RetentionWindows(self.window)

    @property
    def current(self) -> Task:
        """The current stage's task."""
        return self.tasks[self.stage]

    @property
    def window_success(self) -> float | None:
        """Mean success over the current stage's window (``None`` while it is empty)."""
        return math.fsum(self._window) / len(self._window) if self._window else None

    def deficits(self) -> np.ndarray:
        """``d_k = max(0, threshold - m_k)`` of each passed stage (0 before its first re-test)."""
        means = self._retention.means()
        return np.array(
            [max(0.0, self.threshold - means.get(k, self.threshold)) for k in range(self.stage)]
        )

    def _sample(self, rng: np.random.Generator) -> int:
        if self.retest_gain == 0 or self.stage == 0:
            return sample_with_retest(rng, self.stage, self.retest_rate)
        d = self.deficits()
        rate = min(1.0, self.retest_rate + self.retest_gain * float(d.mean()))
        if rng.random() < rate:
            weights = d + 1.0 / self.stage
            return int(rng.choice(self.stage, p=weights / weights.sum()))
        return self.stage

    def _observe(self, index: int, stats: EpisodeStats) -> None:
        if index < self.stage:
            self.retest_episodes += 1
            self._retention.record(index, stats.success)
            return
        if index > self.stage:
            return
        self.stage_episodes += 1
        self._window.append(stats.success)
        last = len(self.tasks) - 1
        full = len(self._window) == self.window
        if self.stage < last and full and self.window_success >= self.threshold - MEAN_TOLERANCE:
            self.stage += 1
            self.stage_episodes = 0
            self._window.clear()
            self.promotions.append((self.stage, self.episodes))

    def config(self) -> dict[str, Any]:
        """Hyperparameters (a saved state loads only with the same ones)."""
        out = {
            **super().config(),
            "threshold": self.threshold,
            "window": self.window,
            "retest_rate": self.retest_rate,
        }
        if self.retest_gain:  # states saved before the adaptive re-tests load as fixed ones
            out["retest_gain"] = self.retest_gain
        return out

    def log(self) -> dict[str, float]:
        """Metrics of the ladder, on top of ``episodes`` and ``p/<task.name>``.

        ``stage`` (index), ``stage_episodes``, ``promotions`` (count), ``retest_episodes``,
        ``window_success`` (once the window holds an episode) and ``retention/<task.name>`` for
        each earlier stage with episodes in its retention window.
        """
        out = super().log()
        out["stage"] = float(self.stage)
        out["stage_episodes"] = float(self.stage_episodes)
        out["promotions"] = float(len(self.promotions))
        out["retest_episodes"] = float(self.retest_episodes)
        if self.window_success is not None:
            out["window_success"] = self.window_success
        for i, mean in self._retention.means().items():
            out[f"retention/{self.tasks[i].name}"] = mean
        return out

    def _state(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "stage_episodes": self.stage_episodes,
            "retest_episodes": self.retest_episodes,
            "promotions": [list(p) for p in self.promotions],
            "window": list(self._window),
            "retention": self._retention.state_dict(),
        }

    def _load(self, state: Mapping[str, Any]) -> dict[str, Any]:
        stage = int(state["stage"])
        if not 0 <= stage < len(self.tasks):
            raise ValueError(f"stage {stage} is outside 0..{len(self.tasks) - 1}")
        retention = RetentionWindows(self.window)
        retention.load_state_dict(state["retention"], len(self.tasks))
        return {
            "stage": stage,
            "stage_episodes": int(state["stage_episodes"]),
            "retest_episodes": int(state["retest_episodes"]),
            "promotions": [(int(s), int(n)) for s, n in state["promotions"]],
            "_window": deque((float(s) for s in state["window"]), maxlen=self.window),
            "_retention": retention,
        }
