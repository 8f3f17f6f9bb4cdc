"""``babyworld/Request-v0``: phrases. The baby asks for the toy it needs; the parent interprets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from babyworld.envs import prompts
from babyworld.envs.acts import Outcome
from babyworld.envs.utterance import UtteranceEnv
from babyworld.parent import Prompt
from babyworld.rewards import components
from babyworld.world import COLORS, SHAPES, FetchTask


class RequestEnv(UtteranceEnv):
    """The baby needs one of the toys and must ask for it in words; the parent hands over a toy.

    ## Description
    The third rung of the ladder. ``n_objects`` toys lie on the table; in each exchange the world
    draws the toy the baby needs, shown in its percept (the toy's *attended* feature is 1). The
    parent asks, in its own words, what the baby wants. The baby answers with an utterance, one
    word per step (``max_words`` at most), ended by the ``<stop>`` action. The parent interprets
    the utterance by the noisy channel — the toy ``k`` that maximises
    ``log p(utterance | "The child wants the k, so the child says:")`` — and hands that toy over,
    saying so in its own words: the consequence is the next observation. The verifier compares the
    toy handed over with the toy needed. An empty utterance gets nothing.

    ## Action Space
    ``Discrete(15)``: ``ball box key cup bird car red green blue yellow purple white want please
    <stop>``. All are allowed at every step (``action_masks()``); the ``max_words``-th word ends
    the utterance by itself.

    ## Observation Space
    As :class:`~babyworld.envs.point.PointEnv`; the needed toy's *attended* feature is 1. While
    the baby speaks, it keeps hearing the parent's last words.

    ## Starting State
    A scene, a needed toy and the parent's first question, from ``np_random``.

    ## Rewards
    As :class:`~babyworld.envs.point.PointEnv`, given at the step that ends the utterance:
    ``task`` = 1 iff the parent handed over the needed toy (the verifier: the need is the world's,
    so ``reward_source="parent"`` is refused here); ``consistency`` = the parent's relative
    judgement (:func:`~babyworld.rewards.components.consistency`) of the needed toy among the toys
    on the table, from the noisy channel ``j_k = mean_t log p(u_t | the child wants toy k)`` (0 for
    an empty utterance). Steps inside an utterance carry only ``predictability`` and ``mdl`` (each
    word costs code length).

    ## Episode End
    Terminated after ``exchanges`` utterances. Never truncated by the env itself.

    ## Information
    As :class:`~babyworld.envs.point.PointEnv`, plus ``exchange_end`` (the utterance ended at this
    step); ``baby_utterance`` is the utterance (so far), ``baby_meaning`` what the parent
    understood, ``target`` the needed toy.

    ## Arguments
    As :class:`~babyworld.envs.point.PointEnv`, plus ``max_words=3``. Tasks
    (``reset(options={"task": Task.make("Request", max_words=2)})``) may lower ``max_words``.

    ## Version History
    - v0: initial version.
    """

    level = "Request"
    task_params = ("max_words", "split")
    parent_judges = False

    def _vocabulary(self) -> tuple[str, ...]:
        return (*SHAPES, *COLORS, "want", "please")

    def _start_exchange(self) -> list[Prompt]:
        self._task = FetchTask(self._scene, int(self.np_random.integers(self.n_objects)))
        return [prompts.ask_need()]

    def _attended(self) -> int | None:
        return self._task.target

    def _target(self) -> str:
        return self._task.wanted.name

    def _judge_requests(self, utterance: str) -> tuple[list[str], list[str]]:
        return prompts.request_frames(self.view(), utterance)

    def _judge(self, utterance: str, scores: Sequence[np.ndarray]) -> Outcome:
        needed = self._task.wanted
        if not utterance:
            return Outcome(
                success=False,
                true_success=False,
                utterance="",
                meaning="says nothing",
                target=needed.name,
                feedback_prompt=prompts.react_request("", None),
                consistency=0.0,
            )
        # Noisy channel: log-likelihood of the words under each candidate toy.
        loglik = self._channel(scores, self.n_objects)
        given = int(np.argmax(loglik))
        success = self._task.verify(given)
        return Outcome(
            success=success,
            true_success=success,
            utterance=utterance,
            meaning=f"asks for the {self._scene.objects[given].name}",
            target=needed.name,
            feedback_prompt=prompts.react_request(utterance, self._scene.objects[given]),
            consistency=components.consistency(
                loglik, self._task.target, self.consistency_temperature
            ),
        )
