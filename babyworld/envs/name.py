"""``babyworld/Name-v0``: words. The parent shows a toy and asks what it is (or its colour)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from babyworld.envs import prompts
from babyworld.envs.acts import Outcome
from babyworld.envs.base import ParentBabyEnv
from babyworld.parent import Prompt
from babyworld.rewards import components
from babyworld.task import Task
from babyworld.validation import ValidationError, check_bool, check_choice
from babyworld.world import ATTRIBUTES, COLORS, SHAPES, NameTask, WorldObject

#: How the Name judge's frames are built: ``"view"`` (the parent's view, the default) or
#: ``"answer_in_frame"`` (the labelled oracle control; see :class:`NameEnv`).
JUDGE_FRAMES: tuple[str, ...] = ("view", "answer_in_frame")


class NameEnv(ParentBabyEnv):
    """The parent holds up a toy and asks for its name or colour; the baby answers with one word.

    ## Description
    The second rung of the ladder. ``n_objects`` toys lie on the table; in each exchange the world
    picks one to show (its *attended* percept flag is set) and an attribute to ask about (from
    ``attributes``). The parent LLM asks in its own words without saying the answer; the baby
    answers with one word of a restricted vocabulary (the six shape names, then the six colour
    names). The verifier decides success; the parent judges the word by calibrated scoring and
    reacts in words, heard in the next observation.

    ## Action Space
    ``Discrete(12)``: ``ball box key cup bird car red green blue yellow purple white``. By default
    all are allowed; with ``restrict_to_asked=True`` only the words of the asked attribute are
    (``action_masks()`` / ``info["action_mask"]``). A masked word is, by default, not understood
    by the parent: the exchange ends with ``task`` 0 and ``info["invalid_action"] = True`` (see
    :data:`~babyworld.envs.acts.INVALID_ACTION_MODES`); with ``invalid_action="raise"`` it raises
    :class:`~babyworld.envs.acts.InvalidActionError`.

    ## Observation Space
    As :class:`~babyworld.envs.point.PointEnv`; the shown toy's *attended* feature is 1.

    ## Starting State
    A scene, a shown toy, an attribute and the parent's first question, from ``np_random``.

    ## Rewards
    As :class:`~babyworld.envs.point.PointEnv`, with ``task`` = 1 iff the word equals the shown
    toy's asked attribute (the verifier; or the parent's verdict with ``reward_source="parent"``),
    and ``consistency`` = the parent's relative judgement of the word among the allowed words,
    from each word's per-token log-probability in the judge frame about the whole shown toy and the
    parent's own question, contrasted with the same frame ending with each calibration question
    (:func:`~babyworld.envs.prompts.name_judge_frames`,
    :func:`~babyworld.rewards.components.question_contrast`).

    ## Episode End
    Terminated after ``exchanges`` exchanges. Never truncated by the env itself.

    ## Information
    As :class:`~babyworld.envs.point.PointEnv`; ``target`` is the right word.

    ## Arguments
    As :class:`~babyworld.envs.point.PointEnv`, plus ``attributes=("shape", "color")`` (what the
    parent may ask about) and ``restrict_to_asked=False``.

    ``judge_frames="view"`` (default): the parent judges from what it perceives and said — the whole
    shown toy and its own question (:func:`~babyworld.envs.prompts.name_judge_frames`).
    ``"answer_in_frame"``: the labelled oracle control, a frame that names the asked attribute's
    value (:func:`~babyworld.envs.prompts.oracle_name_frames`): a verifier in the parent's voice.

    ## Version History
    - v0: initial version. The judge frame became the parent's view (the oracle frame was the
      default before); committed results made before say so.
    """

    level = "Name"
    task_params = ("attributes", "split")
    episode_keys = (*ParentBabyEnv.episode_keys, "_attributes")

    def __init__(
        self,
        parent: Any = "smollm2",
        *,
        attributes: Sequence[str] = ATTRIBUTES,
        restrict_to_asked: bool = False,
        judge_frames: str = "view",
        **kwargs: Any,
    ) -> None:
        self.judge_frames = check_choice("judge_frames", judge_frames, JUDGE_FRAMES)
        attributes = _check_attributes(attributes)
        self.attributes = self._attributes = attributes
        self.restrict_to_asked = check_bool("restrict_to_asked", restrict_to_asked)
        super().__init__(parent, **kwargs)

    def _action_words(self) -> tuple[str, ...]:
        return SHAPES + COLORS

    def check_task(self, task: Task) -> None:
        """Raise ``ValueError`` unless this env can run ``task`` (its ``attributes`` included)."""
        super().check_task(task)
        _check_attributes(task.kwargs.get("attributes", self.attributes))

    def _configure(self, task: Task) -> None:
        self._attributes = _check_attributes(task.kwargs.get("attributes", self.attributes))

    def _start_exchange(self) -> list[Prompt]:
        slot = int(self.np_random.integers(self.n_objects))
        attribute = self._attributes[int(self.np_random.integers(len(self._attributes)))]
        self._task = NameTask(self._scene, slot, attribute)
        return [prompts.ask_attribute(attribute)]

    def _attended(self) -> int | None:
        return self._task.slot

    def _shown(self) -> WorldObject:
        return self._task.shown

    def _allowed(self) -> np.ndarray:
        if not self.restrict_to_asked or self._done:
            return super()._allowed()
        asked = SHAPES if self._task.attribute == "shape" else COLORS
        return np.array([w in asked for w in self.words], dtype=bool)

    def _right_action(self) -> int:
        return self.words.index(self._task.answer)

    def _target(self) -> str:
        return self._task.answer

    def _teacher_frames(self, action: int) -> tuple[list[str], list[str]]:
        if self.judge_frames == "answer_in_frame":
            return prompts.oracle_name_frames(self._task, self.words[action])
        return prompts.name_judge_frames(self.view(), self.words[action])

    def _judgements(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        if self.judge_frames == "answer_in_frame":
            return super()._judgements(scores)
        group = 1 + len(prompts.NAME_QUESTIONS)
        return components.question_contrasts(scores, group, prompts.NAME_CONTRAST)

    def _score_requests(self, action: int) -> tuple[list[str], list[str]]:
        return self.teacher_requests()  # the word is judged among every allowed word

    def _resolve(self, action: int, scores: Sequence[np.ndarray]) -> Outcome:
        word = self.words[action]
        shown = self._task.shown
        verifier = self._task.verify(word)
        consistency, judged = self._judge_act(action, scores)
        return Outcome(
            success=self._verdict(verifier, judged),
            true_success=verifier,
            utterance=word,
            meaning=f'says "{word}" about the {shown.name}',
            target=self._task.answer,
            feedback_prompt=prompts.react_name(self.view(), word, judged),
            consistency=consistency,
        )


def _check_attributes(attributes: Any) -> tuple[str, ...]:
    ok = isinstance(attributes, Sequence) and not isinstance(attributes, str)
    if not ok or not attributes or any(a not in ATTRIBUTES for a in attributes):
        raise ValidationError(
            f"attributes must be a non-empty sequence of {ATTRIBUTES}, got {attributes!r}"
        )
    return tuple(attributes)
