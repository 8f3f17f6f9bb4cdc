"""Levels where the baby speaks in utterances: one word per step, ended by a stop action."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from babyworld.envs.acts import Outcome
from babyworld.envs.base import ParentBabyEnv
from babyworld.task import Task
from babyworld.validation import check_int

#: The action that ends an utterance (never sent to the parent as a word).
STOP = "<stop>"


class UtteranceEnv(ParentBabyEnv):
    """Base of ``Request`` and ``Chat``: an exchange ends when the baby's utterance does.

    Each step the baby adds one word of the level's vocabulary, or ends the utterance with
    :data:`STOP`; the utterance also ends by itself with its ``max_words``-th word. While it goes
    on the parent listens (no parent call; the baby keeps hearing the parent's last words, the
    ``task``, ``consistency`` and ``progress`` components are 0, ``info["exchange_end"]`` is
    ``False``); when it ends, the parent judges it (one batched scoring call) and reacts.

    Args:
        max_words: the longest utterance (a task may lower it per episode).
        **kwargs: as :class:`~babyworld.envs.base.ParentBabyEnv`.
    """

    task_params = ("max_words",)
    one_act = False  # an utterance takes several steps, its words judged together
    episode_keys = (*ParentBabyEnv.episode_keys, "_words", "_ended", "_max_words")

    def __init__(self, parent: Any = "smollm2", *, max_words: int = 3, **kwargs: Any) -> None:
        _check_max_words(max_words, "max_words")
        self.max_words = self._max_words = int(max_words)
        self._words: list[int] = []
        self._ended = False
        super().__init__(parent, **kwargs)

    def check_task(self, task: Task) -> None:
        """Raise ``ValueError`` unless this env can run ``task`` (its ``max_words`` included)."""
        super().check_task(task)
        if "max_words" in task.kwargs:
            _check_max_words(
                task.kwargs["max_words"], f"task {task.name!r}: max_words", self.max_words
            )

    @abstractmethod
    def _vocabulary(self) -> tuple[str, ...]:
        """The level's words (the stop action is added after them)."""

    @staticmethod
    def _channel(scores: Sequence[np.ndarray], k: int) -> np.ndarray:
        """Noisy-channel scores of the first ``k`` candidates: ``mean_t log p(u_t | candidate)``.

        Every candidate scores the same tokens, so per-token means rank and normalise like sums,
        at a length-free scale (the parent's judgements ``j_k`` of ``consistency``).
        """
        return np.array([float(lp.mean()) for lp in scores[:k]])

    @abstractmethod
    def _judge_requests(self, utterance: str) -> tuple[list[str], list[str]]:
        """What the parent must score to judge a non-empty utterance."""

    @abstractmethod
    def _judge(self, utterance: str, scores: Sequence[np.ndarray]) -> Outcome:
        """The outcome of a finished utterance (``scores`` empty when it has no word)."""

    def _action_words(self) -> tuple[str, ...]:
        return (*self._vocabulary(), STOP)

    @property
    def stop_action(self) -> int:
        """Index of :data:`STOP`."""
        return len(self.words) - 1

    def _configure(self, task: Task) -> None:
        max_words = task.kwargs.get("max_words", self.max_words)
        _check_max_words(max_words, f"task {task.name!r}: max_words", self.max_words)
        self._max_words = int(max_words)
        self._words, self._ended = [], False

    def _partial_utterance(self) -> str:
        return " ".join(self.words[w] for w in self._words)

    def _score_requests(self, action: int) -> tuple[list[str], list[str]]:
        if action != self.stop_action:
            self._words.append(action)
        self._ended = action == self.stop_action or len(self._words) >= self._max_words
        if not self._ended or not self._words:
            return [], []
        return self._judge_requests(self._partial_utterance())

    def _not_understood(self, word: str) -> Outcome:
        out = super()._not_understood(word)
        self._words, self._ended = [], False  # the utterance ends with the word not understood
        return out

    def _resolve(self, action: int, scores: Sequence[np.ndarray]) -> Outcome | None:
        if not self._ended:
            return None
        out = self._judge(self._partial_utterance(), scores)
        self._words, self._ended = [], False
        return out


def _check_max_words(value: Any, what: str, most: int | None = None) -> None:
    check_int(what, value, 1, most)
