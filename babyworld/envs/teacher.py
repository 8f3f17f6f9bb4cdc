"""The parent as teacher on one-act levels: its distribution over the baby's acts, the right act."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from babyworld.parent import Parent
from babyworld.rewards import components


class ParentAsTeacher:
    """What :class:`~babyworld.envs.base.ParentBabyEnv` offers modes that learn from the parent.

    A part of the env, not a class of its own: it reads the env's running episode (``_done``),
    its mask (``_allowed``), words, parent, level and ``consistency_temperature``; a level
    gives its judge frames (:meth:`_teacher_frames`) and its right act (:meth:`_right_action`).
    """

    # what it reads of the env (set by ParentBabyEnv)
    level: str
    words: tuple[str, ...]
    parent: Parent
    consistency_temperature: float
    _done: bool
    _allowed: Callable[[], np.ndarray]

    def _teacher_frames(self, action: int) -> tuple[list[str], list[str]] | None:
        """The contexts and continuations the judge would score for ``action``.

        ``([context, neutral], [x, x])`` by default (read by :meth:`_judgements`).

        The act is not taken. ``None`` for levels whose exchanges are utterances (no one-act
        judge).
        """
        return None

    def teacher_requests(self) -> tuple[list[str], list[str]]:
        """What the parent scores to give its own distribution over this step's actions.

        For every allowed action, the frames the level's judge scores (the same frames as the
        ``consistency`` component: Point a ``(context, neutral)`` pair, Name the spoken question's
        frame and its calibration frames), in action order. Only levels whose
        exchange is one act (Point, Name) have it.

        Raises:
            NotImplementedError: the level answers with utterances (Request, Chat).
            RuntimeError: no episode is running.
        """
        if self._done:
            raise RuntimeError("no episode is running: call reset() before teacher_requests()")
        contexts: list[str] = []
        continuations: list[str] = []
        for a in np.flatnonzero(self._allowed()):
            frames = self._teacher_frames(int(a))
            if frames is None:
                raise NotImplementedError(
                    f"level {self.level!r} answers with utterances, so the parent has no "
                    "distribution over its single acts; distillation targets exist on one-act "
                    "levels (Point, Name)"
                )
            contexts += frames[0]
            continuations += frames[1]
        return contexts, continuations

    def right_action(self) -> int:
        """The act the world's verifier accepts at this step.

        For demonstrations and analysis; an agent must not read it. Only one-act levels (Point,
        Name) have one.

        Raises:
            NotImplementedError: the level answers with utterances (Request, Chat).
            RuntimeError: no episode is running.
        """
        if self._done:
            raise RuntimeError("no episode is running: call reset() before right_action()")
        a = self._right_action()
        if a is None:
            raise NotImplementedError(
                f"level {self.level!r} answers with utterances; a single right act exists on "
                "one-act levels (Point, Name)"
            )
        return a

    def _right_action(self) -> int | None:
        return None

    def teacher_logprobs(self, scores: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """The parent's log-distribution over this step's actions (``-inf`` where masked).

        ``log pi_parent(a) = log_softmax_a( j_a / T )`` over the allowed actions, with ``j_a`` the
        level's judgement of act ``a`` from the frames of :meth:`teacher_requests` (Point: the PMI
        ``mean_t[log p(x_t | context_a) - log p(x_t | neutral_a)]``; Name:
        :func:`~babyworld.rewards.components.question_contrast`) and ``T =
        consistency_temperature``.

        Args:
            scores: the parent's answers to :meth:`teacher_requests` (a vector env batches them);
                ``None`` asks the parent now.
        """
        contexts, continuations = self.teacher_requests()
        if scores is None:
            scores = self.parent.score(contexts, continuations)
        if len(scores) != len(contexts):
            raise ValueError(f"got {len(scores)} scores for {len(contexts)} teacher requests")
        logits = np.full(len(self.words), -np.inf)
        logits[self._allowed()] = self._judgements(scores) / self.consistency_temperature
        return logits - np.logaddexp.reduce(logits[np.isfinite(logits)])

    def _judgements(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        """The parent's score of each judged act: PMI of its ``(context, neutral)`` pair."""
        return components.pmi_pairs(scores)

    def _judge_act(self, action: int, scores: Sequence[np.ndarray]) -> tuple[float, bool]:
        """``(consistency, the parent's verdict)`` of ``action`` among the allowed acts.

        ``scores`` are the parent's answers to :meth:`teacher_requests` (every allowed act's
        judge frames, as one-act levels ask for them in
        :meth:`~babyworld.envs.base.ParentBabyEnv._score_requests`).
        """
        j = self._judgements(scores)
        k = int(np.searchsorted(np.flatnonzero(self._allowed()), action))
        return (
            components.consistency(j, k, self.consistency_temperature),
            components.judged_right(j, k),
        )
