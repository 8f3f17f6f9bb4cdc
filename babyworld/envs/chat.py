"""``babyworld/Chat-v0``: dialogue. The parent talks; the baby must answer to the point."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from babyworld.envs import prompts
from babyworld.envs.acts import Outcome
from babyworld.envs.utterance import UtteranceEnv
from babyworld.parent import Prompt
from babyworld.rewards import components
from babyworld.validation import ValidationError, check_int

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

#: Words that fit a reply in any situation and none in particular: they neither make a reply fit
#: nor wrong in the reference.
NEUTRAL_WORDS: frozenset[str] = frozenset({"yes", "no", "more"})

#: The held-out truth of ``Chat`` (``info["true_success"]``, read by no reward): per situation, the
#: words a careful listener takes as a reply about it. See :func:`reference_fits`.
CHAT_REFERENCE: dict[str, frozenset[str]] = {
    "it is lunch time": frozenset({"eat", "milk"}),
    "it is bedtime": frozenset({"sleep", "tired", "bye"}),
    "the baby fell down": frozenset({"hurt", "ouch"}),
    "a dog is barking outside": frozenset({"dog", "woof"}),
    "grandma comes in": frozenset({"hi", "grandma", "bye"}),
    "mom holds a picture book": frozenset({"book", "read"}),
    "the bath is ready": frozenset({"bath", "water"}),
    "a ball rolls to the baby": frozenset({"ball", "play"}),
}


def check_reference(reference: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """``reference`` as situation -> fitting words, if it covers every situation with known words.

    Raises:
        ValidationError: a situation missing or unknown, a word outside :data:`CHAT_WORDS`, a
            neutral word (:data:`NEUTRAL_WORDS`) or a situation with no word.
    """
    situations = [s for s, _ in TOPICS]
    if not isinstance(reference, Mapping) or set(reference) != set(situations):
        got = sorted(reference) if isinstance(reference, Mapping) else reference
        raise ValidationError(
            f"a Chat reference maps each situation {situations} to the words that fit it; "
            f"got {got!r}"
        )
    out = {}
    for situation, words in reference.items():
        words = frozenset([words] if isinstance(words, str) else words)
        unknown = sorted(words - set(CHAT_WORDS))
        if unknown or not words or words & NEUTRAL_WORDS:
            raise ValidationError(
                f"the Chat reference for {situation!r} must name at least one word of the "
                f"level's vocabulary {list(CHAT_WORDS)} and no neutral word "
                f"{sorted(NEUTRAL_WORDS)}; got {sorted(words)} (unknown: {unknown})"
            )
        out[situation] = words
    return out


def reference_fits(reference: Mapping[str, frozenset[str]], situation: str, reply: str) -> bool:
    """The reference's verdict: does ``reply`` fit ``situation``?

    It fits iff it says at least one word of the situation's set and no word that belongs only to
    other situations (neutral words are ignored): "eat milk" fits lunch time, "yes eat" too,
    "yes" alone and "eat sleep" do not.
    """
    said = set(reply.split()) - NEUTRAL_WORDS
    mine = reference[situation]
    elsewhere = set().union(*(w for s, w in reference.items() if s != situation)) - mine
    return bool(said & mine) and not said & elsewhere


def is_echo(line: str, reply: str) -> bool:
    """``reply`` only repeats words of the parent's ``line`` (every word of it occurs there)."""
    said = set(reply.split())
    return bool(said) and said <= set(re.findall(r"[a-z]+", line.lower()))


class ChatEnv(UtteranceEnv):
    """Open exchanges: the parent speaks about a situation, the baby answers in a few words.

    ## Description
    The last rung of the ladder. In each exchange the world draws a situation (of
    :data:`TOPICS`) and the parent LLM speaks about it in its own words; that line is the goal
    the parent sets. The baby answers with an utterance, one word per step (``max_words`` at
    most), ended by ``<stop>``. There is no verifier: the parent checks the goal, from what it
    perceives and said (the situation and its line, :func:`~babyworld.envs.prompts.chat_frames`).
    It judges *relevance* by the noisy channel over its own line and ``distractors`` lines it would
    say in other situations (drawn at the same time) — which line makes each word of the answer
    most likely? — and *coherence* by each word's log-probability after its line against a neutral
    frame. Success: every token of the answer is likelier after the parent's own line than after
    any other, and likelier than out of context. The parent then replies in words (told its own
    verdict) and moves on to the next situation. A reference
    written down per situation (:data:`CHAT_REFERENCE`, :func:`reference_fits`) is the held-out
    truth: ``info["true_success"]``, read by no reward.

    ## Action Space
    ``Discrete(21)``: the words of :data:`CHAT_WORDS` then ``<stop>``; all allowed at every step.

    ## Observation Space
    As :class:`~babyworld.envs.point.PointEnv` (toys on the table, none attended). The words the
    parent says are the only cue to the situation.

    ## Starting State
    A scene, a situation, the distractor situations and the parent's lines, from ``np_random``.

    ## Rewards
    As :class:`~babyworld.envs.request.RequestEnv`, with ``task`` = the parent's verdict (whatever
    ``reward_source``; ``info["true_success"]`` is the reference's verdict, held out) and
    ``consistency`` = the parent's relative judgement
    (:func:`~babyworld.rewards.components.consistency`) of the situation's line among the
    candidate lines, from ``j_k = mean_t log p(u_t | Mom said line k)`` (0 for an empty answer).

    ## Episode End
    Terminated after ``exchanges`` answers. Never truncated by the env itself.

    ## Information
    As :class:`~babyworld.envs.request.RequestEnv`; ``target`` is the situation, ``baby_meaning``
    the situation the parent's judgement ties the answer to.

    ## Arguments
    As :class:`~babyworld.envs.request.RequestEnv`, plus ``distractors=7`` (other lines the
    answer is compared with, at most ``len(TOPICS) - 1``, all of them by default) and
    ``reference=None`` (situation ->
    fitting words; :data:`CHAT_REFERENCE` by default, checked by :func:`check_reference`).

    ## Version History
    - v0: initial version. ``true_success`` became the reference's verdict (it was the parent's);
      the judge frames gained the situation and a script, the verdict became per token, and
      ``distractors`` went from 2 to 7 (the parent's verdict against the reference: precision
      0.27 -> 0.60, docs/teacher.md); runs made before say so.
    """

    level = "Chat"
    episode_keys = (*UtteranceEnv.episode_keys, "_topics", "_lines")

    def __init__(
        self,
        parent: Any = "smollm2",
        *,
        distractors: int = len(TOPICS) - 1,
        reference: Mapping[str, Iterable[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.distractors = check_int("distractors", distractors, 1, len(TOPICS) - 1)
        self.reference = check_reference(CHAT_REFERENCE if reference is None else reference)
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

    def view(self) -> prompts.ParentView:
        """As the base class, plus its situation and the lines it said for the distractors."""
        return dataclasses.replace(
            super().view(),
            lines=tuple(self._lines[1:]),
            situations=tuple(TOPICS[k][0] for k in self._topics),
        )

    def _target(self) -> str:
        return TOPICS[self._topics[0]][0]

    def _judge_requests(self, utterance: str) -> tuple[list[str], list[str]]:
        return prompts.chat_frames(self.view(), utterance)

    def _judge(self, utterance: str, scores: Sequence[np.ndarray]) -> Outcome:
        situation = TOPICS[self._topics[0]][0]
        if not utterance:
            return Outcome(
                success=False,
                true_success=False,
                utterance="",
                meaning="says nothing",
                target=situation,
                feedback_prompt=prompts.chat_reply(self.view(), "", False),
                consistency=0.0,
            )
        k = len(self._lines)
        loglik = self._channel(scores, k)
        best = int(np.argmax(loglik))
        fits = components.channel_fits(np.stack(scores[:k]), scores[k])
        return Outcome(
            success=fits,
            true_success=reference_fits(self.reference, situation, utterance),
            utterance=utterance,
            meaning=f"answers about: {TOPICS[self._topics[best]][0]}",
            target=situation,
            feedback_prompt=prompts.chat_reply(self.view(), utterance, fits),
            consistency=components.consistency(loglik, 0, self.consistency_temperature),
        )
