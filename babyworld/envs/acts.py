"""One act of the baby: the checks an action passes, and what it did (:class:`Outcome`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from babyworld.parent import Prompt


def check_action(
    action: Any, words: Sequence[str], mask: np.ndarray, masked: str, *, strict: bool = True
) -> int:
    """``action`` as an int if it is an action id of the space, else :class:`InvalidActionError`.

    An id outside ``mask`` raises too when ``strict`` (``invalid_action="raise"``); otherwise it
    is returned, and the env treats the act as not understood. ``masked`` says why a masked action
    is refused (e.g. ``"is masked at this step"``).
    """
    arr = np.asarray(action)
    if arr.ndim != 0 or arr.dtype.kind not in "iu":  # no bools, floats, timedelta64, objects
        raise InvalidActionError(
            f"action must be a single integer in [0, {len(words)}), got {action!r}"
        )
    a = int(arr)
    if not 0 <= a < len(words):
        raise InvalidActionError(
            f"action {a} is outside the action space Discrete({len(words)}); "
            f"actions are {list(words)}"
        )
    if strict and not mask[a]:
        allowed = [f"{i}:{w}" for i, w in enumerate(words) if mask[i]]
        raise InvalidActionError(
            f"action {a} ({words[a]!r}) {masked}; allowed now: {allowed}. "
            "Sample with env.action_masks() / info['action_mask']."
        )
    return a


#: What an act outside the current mask (``action_masks()``) does (the env argument
#: ``invalid_action``). ``"not_understood"`` (the default): an act the parent does not understand.
#: It ends the exchange (an utterance going on ends with it) without a judgement, the parent says
#: so in its own words and asks the next question, and the reward vector holds the floor of every
#: component the act is judged on (``task`` 0, ``consistency``, ``predictability`` and ``mdl`` -1;
#: the online estimators do not learn from it; ``progress`` counts a failure);
#: ``info["invalid_action"]`` is ``True``. ``"raise"``: raises :class:`InvalidActionError` and
#: changes nothing (for debugging agents). Ids outside the action space and actions that are not
#: single integers always raise.
INVALID_ACTION_MODES: tuple[str, ...] = ("not_understood", "raise")


def check_invalid_action_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`INVALID_ACTION_MODES`, else ``ValueError``."""
    if mode not in INVALID_ACTION_MODES:
        raise ValueError(f"invalid_action must be one of {INVALID_ACTION_MODES}, got {mode!r}")
    return str(mode)


class InvalidActionError(ValueError):
    """An action outside the action space or masked at this step."""


@dataclass(frozen=True)
class Outcome:
    """What one finished act (a symbol, a word, a whole utterance) did in the world.

    Attributes:
        success: the verdict the rewards read: the world's verifier, or with
            ``reward_source="parent"`` the parent's judgement (in ``Chat`` always the parent's).
        true_success: the world's verifier, whatever the reward source (in ``Chat``, its written
            reference per situation); no reward reads it.
        utterance: the baby's act as text (a symbol, a word, or the words of an utterance).
        meaning: how the world read the act (e.g. ``"points at the red ball"``).
        target: what would have been right.
        feedback_prompt: asks the parent to react.
        consistency: the parent's relative judgement of the act, in [-1, 1].
    """

    success: bool
    true_success: bool
    utterance: str
    meaning: str
    target: str
    feedback_prompt: Prompt
    consistency: float


@dataclass
class PendingStep:
    """A step between its phases: the act, what the parent must score, then what it must say.

    Phase 1 (:meth:`~babyworld.envs.base.ParentBabyEnv.begin_step`) fills ``action``,
    ``contexts`` and ``continuations``; phase 2
    (:meth:`~babyworld.envs.base.ParentBabyEnv.resolve_step`), given the scores, fills
    ``outcome`` (``None`` while an utterance goes on), ``terminated`` and ``prompts``.
    ``not_understood`` holds the word of an act outside the current mask (``action`` is then -1
    and nothing is scored).
    """

    action: int
    contexts: list[str]
    continuations: list[str]
    not_understood: str | None = None
    outcome: Outcome | None = None
    terminated: bool = False
    prompts: list[Prompt] | None = None
    #: Phase 3's observation: ``(obs, heard_truncated, heard, feedback, request)``
    #: (:meth:`~babyworld.envs.base.ParentBabyEnv.observe_step`).
    observed: tuple[dict, bool, str, str, str] | None = None
    #: ``(predictability, mdl)`` when a vector env computed them for all its envs at once.
    estimates: tuple[float, float] | None = None
