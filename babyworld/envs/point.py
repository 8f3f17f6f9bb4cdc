"""``babyworld/Point-v0``: symbols. The parent asks for a toy; the baby points with a symbol."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from babyworld.envs import prompts
from babyworld.envs.acts import Outcome
from babyworld.envs.base import ParentBabyEnv
from babyworld.parent import Prompt
from babyworld.world import FetchTask


class PointEnv(ParentBabyEnv):
    """The parent asks for one of the toys on the table; the baby answers with a meaningless symbol.

    ## Description
    The first rung of the ladder. ``n_objects`` toys (a colour and a shape each) lie in fixed slots.
    In each of ``exchanges`` exchanges the parent LLM asks, in its own words, for one of them (the
    world draws which); the baby answers with symbol ``sym<i>``, which the world reads as pointing
    at slot ``i``. The parent then reacts (its words, given its own verdict) and asks for the
    next toy, so the consequence of each act is heard in the next observation.

    ## Action Space
    ``Discrete(n_objects)``: action ``i`` is the symbol ``sym<i>`` (pointing at slot ``i``). Every
    symbol is allowed at every step; ``action_masks()`` and ``info["action_mask"]`` say so.

    ## Observation Space
    ``Dict``:
    - ``heard``: ``MultiDiscrete([vocab_size] * heard_length)`` — word ids of what the parent just
      said (:class:`~babyworld.text.WordTokenizer`; 0 pads; a longer text keeps its last words);
    - ``heard_len``: ``Discrete(heard_length + 1)`` — the number of real ids;
    - ``percept``: ``Box(0, 1, (n_objects * 14,), float32)`` — slot after slot, a one-hot colour
      (6), a one-hot shape (6), *present* and *attended* (always 0 here).

    ## Starting State
    A scene of distinct toys and a first request, all drawn from ``np_random``.

    ## Rewards
    A vector ``r`` with components ``task, consistency, predictability, mdl, progress``
    (``reward_names``, bounds in ``reward_space``); the step returns ``w · r`` (``reward_weights``,
    default :data:`~babyworld.rewards.DEFAULT_WEIGHTS`) or ``r`` itself with ``vector_reward=True``:
    - ``task``: 1 if the baby pointed at the wanted toy, else 0 — the world's verifier decides, or
      with ``reward_source="parent"`` the parent's verdict (the toy its judge scores best);
    - ``consistency``: the parent's relative judgement of the toy handed over among the toys on
      the table (:func:`~babyworld.rewards.components.consistency`), from each toy's per-token PMI
      in a few-shot judge script that ends with the parent's own request, versus the same script
      ending with a greeting;
    - ``predictability``: minus the normalised surprisal of the next heard words under the env's
      online predictor conditioned on the baby's act;
    - ``mdl``: minus the normalised code length of the symbol under an adaptive code of the baby's
      past symbols;
    - ``progress``: change of the running (EMA) success estimate of the task.

    ## Episode End
    Terminated after ``exchanges`` exchanges. Never truncated by the env itself.

    ## Information
    ``parent_utterance`` (everything heard), ``parent_feedback``, ``parent_request``,
    ``baby_utterance``, ``baby_meaning``, ``target``, ``success`` (the verdict the rewards read)
    and ``true_success`` (the world's verifier whatever the reward source, read by no reward: the
    held-out judge) — for analysis only; an agent must not read them — ``exchange``,
    ``heard_truncated``, ``reward_vector``, ``reward_components``, ``action_mask``,
    ``invalid_action`` (the act was outside the mask and not understood), ``parent`` (its label).
    Parent token and cache counters
    are cumulative on ``env.unwrapped.parent.stats`` (not per step, so that infos stay
    deterministic whatever the cache holds).

    ## Arguments
    ``parent`` (spec string or instance, default ``"smollm2"``), ``n_objects=3``, ``exchanges=4``,
    ``heard_length=32``, ``vocab_size=256``, ``reward_weights=None``,
    ``reward_source="verifier" | "parent"``, ``vector_reward=False``,
    ``consistency_temperature=1.0``, ``progress_beta=0.1``, ``max_new_tokens=24``,
    ``render_mode=None | "ansi"``, ``invalid_action="not_understood" | "raise"`` (what an act
    outside the mask does, on levels that mask: see
    :class:`~babyworld.envs.base.ParentBabyEnv`), ``split="all" | "train" | "held_out"`` (which
    toys scenes are drawn from: :func:`~babyworld.world.sample_scene`; a task's ``split`` overrides
    it per episode, e.g. ``Task.make("Point", split="held_out")`` for toys training never showed).

    ## Version History
    - v0: initial version.
    """

    level = "Point"
    task_params = ("split",)

    def _action_words(self) -> tuple[str, ...]:
        return tuple(f"sym{i}" for i in range(self.n_objects))

    def _start_exchange(self) -> list[Prompt]:
        self._task = FetchTask(self._scene, int(self.np_random.integers(self.n_objects)))
        return [prompts.ask_for(self._task.wanted)]

    def _attended(self) -> int | None:
        return None

    def _right_action(self) -> int:
        return int(self._task.target)

    def _target(self) -> str:
        return self._task.wanted.name

    def _teacher_frames(self, action: int) -> tuple[list[str], list[str]]:
        got = self._scene.objects[action]
        ctx, neutral, cont = prompts.fetch_judge_frames(self.view(), got)
        return [ctx, neutral], [cont, cont]

    def _score_requests(self, action: int) -> tuple[list[str], list[str]]:
        return self.teacher_requests()  # the act is judged among every allowed act

    def _resolve(self, action: int, scores: Sequence[np.ndarray]) -> Outcome:
        got = self._scene.objects[action]
        wanted = self._task.wanted
        verifier = self._task.verify(action)
        consistency, judged = self._judge_act(action, scores)
        return Outcome(
            success=self._verdict(verifier, judged),
            true_success=verifier,
            utterance=self.words[action],
            meaning=f"points at the {got.name}",
            target=wanted.name,
            feedback_prompt=prompts.react_fetch(self.view(), got, judged),
            consistency=consistency,
        )
