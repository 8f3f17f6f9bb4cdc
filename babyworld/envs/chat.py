"""``babyworld/Chat-v0``: dialogue. The parent talks; the baby must answer to the point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from babyworld.envs import prompts
from babyworld.envs.base import Outcome
from babyworld.envs.utterance import UtteranceEnv
from babyworld.parent import Prompt
from babyworld.rewards import components
from babyworld.validation import check_int

#: Situations the parent talks about: (situation, what the scripted parent says in it).
TOPICS: tuple[tuple[str, str], ...] = (
    ("it is lunch time", "It is lunch time. Do you want to eat?"),
    ("it is bedtime", "It is late. Are you tired? Time to sleep."),
    ("the baby fell down", "Oh no, you fell down! Does it hurt?"),
    ("a dog is barking outside", "Listen, a dog! The dog says woof."),
    ("grandma comes in", "Look who is here! Say hi to grandma."),
    ("mom holds a picture book", "Shall we read this book?"),
    ("the bath is ready", "The bath is ready. Do you like the water?"),
    ("a ball rolls to the baby", "Here comes the ball! Do you want to play?"),
)

#: The baby's words in ``Chat`` (the stop action comes after them).
CHAT_WORDS: tuple[str, ...] = tuple(
    "yes no eat milk more sleep tired hurt ouch dog woof hi bye grandma book read bath water "
    "ball play".split()
)


class ChatEnv(UtteranceEnv):
    """Open exchanges: the parent speaks about a situation, the baby answers in a few words.

    ## Description
    The last rung of the ladder. In each exchange the world draws a situation (of
    :data:`TOPICS`) and the parent LLM speaks about it in its own words; that line is the goal
    the parent sets. The baby answers with an utterance, one word per step (``max_words`` at
    most), ended by ``<stop>``. There is no verifier: the parent checks the goal. It judges
    *relevance* by the noisy channel over its own line and ``distractors`` lines it would say in
    other situations (drawn at the same time) — which line makes the answer most likely? — and
    *coherence* by the answer's per-token PMI given its line versus no line. Success: the answer
    is most likely after the parent's actual line and more likely than out of context. The parent
    then replies in words (told its own verdict) and moves on to the next situation.

    ## Action Space
    ``Discrete(21)``: the words of :data:`CHAT_WORDS` then ``<stop>``; all allowed at every step.

    ## Observation Space
    As :class:`~babyworld.envs.point.PointEnv` (toys on the table, none attended). The words the
    parent says are the only cue to the situation.

    ## Starting State
    A scene, a situation, the distractor situations and the parent's lines, from ``np_random``.

    ## Rewards
    As :class:`~babyworld.envs.request.RequestEnv`, with ``task`` = the parent's verdict (Chat has
    no world verifier: ``info["true_success"]`` is that verdict too, so nothing is held out) and
    ``consistency`` = the parent's relative judgement
    (:func:`~babyworld.rewards.components.consistency`) of the situation's line among the
    candidate lines, from ``j_k = mean_t log p(u_t | Mom said line k)`` (0 for an empty answer).

    ## Episode End
    Terminated after ``exchanges`` answers. Never truncated by the env itself.

    ## Information
    As :class:`~babyworld.envs.request.RequestEnv`; ``target`` is the situation, ``baby_meaning``
    the situation the parent's judgement ties the answer to.

    ## Arguments
    As :class:`~babyworld.envs.request.RequestEnv`, plus ``distractors=2`` (other lines the
    answer is compared with, at most ``len(TOPICS) - 1``).

    ## Version History
    - v0: initial version.
    """

    level = "Chat"
    episode_keys = (*UtteranceEnv.episode_keys, "_topics", "_lines")

    def __init__(self, parent: Any = "smollm2", *, distractors: int = 2, **kwargs: Any) -> None:
        self.distractors = check_int("distractors", distractors, 1, len(TOPICS) - 1)
        super().__init__(parent, **kwargs)

    def _vocabulary(self) -> tuple[str, ...]:
        return CHAT_WORDS

    def _start_exchange(self) -> list[Prompt]:
        # The first topic is the situation; the others are distractors for the judgement.
        picks = self.np_random.choice(len(TOPICS), size=1 + self.distractors, replace=False)
        self._topics = [int(k) for k in picks]
        self._task = TOPICS[self._topics[0]][0]
        return [prompts.chat_open(*TOPICS[k]) for k in self._topics]

    def _heard(self, said: Sequence[str]) -> str:
        # An empty line would make an empty context; the situation stands in for it.
        self._lines = [s or TOPICS[k][0] for s, k in zip(said, self._topics, strict=True)]
        return self._lines[0]

    def _attended(self) -> int | None:
        return None

    def _target(self) -> str:
        return TOPICS[self._topics[0]][0]

    def _judge_requests(self, utterance: str) -> tuple[list[str], list[str]]:
        return prompts.chat_frames(self._lines, utterance)

    def _judge(self, utterance: str, scores: Sequence[np.ndarray]) -> Outcome:
        situation = TOPICS[self._topics[0]][0]
        if not utterance:
            return Outcome(
                success=False,
                true_success=False,
                utterance="",
                meaning="says nothing",
                target=situation,
                feedback_prompt=prompts.chat_reply(self._lines[0], "", False),
                consistency=0.0,
            )
        k = len(self._lines)
        loglik = self._channel(scores, k)
        best = int(np.argmax(loglik))
        coherence = float((scores[0] - scores[k]).mean())
        fits = best == 0 and coherence > 0
        return Outcome(
            success=fits,
            true_success=fits,
            utterance=utterance,
            meaning=f"answers about: {TOPICS[self._topics[best]][0]}",
            target=situation,
            feedback_prompt=prompts.chat_reply(self._lines[0], utterance, fits),
            consistency=components.consistency(loglik, 0, self.consistency_temperature),
        )
