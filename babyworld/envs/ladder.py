"""``babyworld/Ladder-v0``: every level behind one action space, the level chosen per episode.

A curriculum moves the baby from symbols to words to phrases to dialogue by resetting this env
with ``options={"task": Task.make(level, ...)}``. The action space is the union of the levels'
vocabularies (the largest vocabulary, DESIGN.md §4); ``action_masks()`` allows only the current
level's actions, so a stage of the ladder *unlocks* its action vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from babyworld.envs.acts import PendingStep, check_action, check_invalid_action_mode
from babyworld.envs.base import ParentBabyEnv
from babyworld.envs.registration import level_class, rungs
from babyworld.parent import Parent, Prompt, resolve_parent
from babyworld.task import Task, task_from_options
from babyworld.validation import ValidationError, check_seed


class LadderEnv(gym.Env[dict, np.int64]):
    """All levels of the ladder in one env; a task in the reset options picks the level.

    ## Description
    Holds one env of each level in ``levels`` (sharing the parent, the scene size and the
    observation space) and runs the episode of the level named by the reset task
    (``reset(options={"task": Task.make("Name", attributes=("shape",))})``; without a task,
    ``default_task``). Every randomness comes from this env's ``np_random``, shared with the
    levels; a seeded reset restarts every level's reward estimators.

    ## Action Space
    ``Discrete(K)`` over the union of the levels' words, in ladder order (symbols, then words,
    then the phrase and dialogue words, ``<stop>``); only the current level's words are allowed
    (``action_masks()``, ``info["action_mask"]``). A masked action (say ``red`` while ``Point``
    is played) is, by default, an act the parent does not understand: the exchange ends with
    ``task`` 0, ``info["invalid_action"]`` is ``True`` and the episode goes on (see
    :data:`~babyworld.envs.acts.INVALID_ACTION_MODES`); with ``invalid_action="raise"`` it raises
    :class:`~babyworld.envs.acts.InvalidActionError`.

    ## Observation Space, Starting State, Rewards, Episode End
    Those of the current level (all levels share one observation space).

    ## Information
    The current level's, plus ``level``.

    ## Arguments
    ``parent``, ``levels`` (a subset of the rungs, in ladder order; default: every rung),
    ``default_task`` (default: the first level with its defaults), ``render_mode``,
    ``invalid_action="not_understood" | "raise"``, and every keyword argument of the levels
    (passed to the levels that take it).

    ## Version History
    - v0: initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}
    level: ClassVar[str] = "Ladder"

    def __init__(
        self,
        parent: str | Parent = "smollm2",
        *,
        levels: Sequence[str] | None = None,
        default_task: Task | None = None,
        render_mode: str | None = None,
        invalid_action: str = "not_understood",
        **kwargs: Any,
    ) -> None:
        every = rungs()
        levels = every if levels is None else levels
        if isinstance(levels, str) or not isinstance(levels, Sequence):
            raise ValidationError(f"levels must be a sequence of {every}, got {levels!r}")
        levels = tuple(levels)
        if (
            not levels
            or any(not isinstance(lv, str) or lv not in every for lv in levels)
            or len(set(levels)) < len(levels)
        ):
            raise ValueError(f"levels must be distinct names of {every}, got {levels!r}")
        self.invalid_action = check_invalid_action_mode(invalid_action)
        self.parent = resolve_parent(parent)
        self.render_mode = render_mode
        unknown = sorted(k for k in kwargs if not any(level_class(lv).takes(k) for lv in every))
        if unknown:
            raise TypeError(f"LadderEnv got keyword arguments no level takes: {unknown}")
        self.subs: dict[str, ParentBabyEnv] = {}
        for lv in levels:
            cls = level_class(lv)
            own = {k: v for k, v in kwargs.items() if cls.takes(k)}
            self.subs[lv] = cls(
                self.parent, render_mode=render_mode, invalid_action=invalid_action, **own
            )
        words: list[str] = []
        for sub in self.subs.values():
            words += [w for w in sub.words if w not in words]
        self.words = tuple(words)
        self._to_union = {
            lv: np.array([words.index(w) for w in s.words]) for lv, s in self.subs.items()
        }
        first = next(iter(self.subs.values()))
        self.action_space = spaces.Discrete(len(words))
        self.observation_space = first.observation_space
        self.reward_names = first.reward_names
        self.reward_space = first.reward_space
        self.reward_weights = first.reward_weights
        self.max_new_tokens = first.max_new_tokens
        self.tokenizer = first.tokenizer
        self.default_task = default_task if default_task is not None else Task.make(levels[0])
        self.check_task(self.default_task)
        self.cur = self.subs[self.default_task.level]

    # ------------------------------------------------------------------ the current level
    @property
    def task(self) -> Task:
        """The task of the current (or last) episode."""
        return self.cur.task

    @property
    def _done(self) -> bool:
        return self.cur._done

    def check_task(self, task: Task) -> None:
        """Raise ``ValueError`` unless one of the levels can run ``task``."""
        if not isinstance(task, Task):
            raise ValidationError(f"expected a babyworld.Task, got {task!r}")
        if task.level not in self.subs:
            raise ValueError(
                f"task {task.name!r} names level {task.level!r}; this ladder has levels "
                f"{list(self.subs)}"
            )
        self.subs[task.level].check_task(task)

    def action_masks(self) -> np.ndarray:
        """The union-vocabulary mask: the current level's allowed actions."""
        mask = np.zeros(len(self.words), dtype=bool)
        mask[self._to_union[self.cur.level][self.cur.action_masks()]] = True
        return mask

    def teacher_requests(self) -> tuple[list[str], list[str]]:
        """The current level's :meth:`~babyworld.envs.base.ParentBabyEnv.teacher_requests`."""
        return self.cur.teacher_requests()

    def right_action(self) -> int:
        """The current level's right act, as a union-vocabulary action."""
        return int(self._to_union[self.cur.level][self.cur.right_action()])

    def teacher_logprobs(self, scores: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """The current level's teacher distribution, placed in the union vocabulary."""
        out = np.full(len(self.words), -np.inf)
        out[self._to_union[self.cur.level]] = self.cur.teacher_logprobs(scores)
        return out

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict, dict]:
        """Start an episode of the task's level (``options={"task": Task}``).

        Without a task (or with ``None``) the episode runs ``default_task``; a refused reset
        leaves the env as it was.
        """
        prompts = self.begin_reset(seed=seed, options=options)
        return self.finish_reset(self._say(prompts))

    def step(self, action: Any) -> tuple[dict, Any, bool, bool, dict]:
        """One step of the current level."""
        pending = self.begin_step(action)
        scores = self.parent.score(pending.contexts, pending.continuations)
        return self.finish_step(pending, self._say(self.resolve_step(pending, scores)))

    def _say(self, prompts: list[Prompt]) -> list[str]:
        return self.parent.generate(prompts, max_new_tokens=self.max_new_tokens) if prompts else []

    def begin_reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> list[Prompt]:
        """Phase 1 of :meth:`reset` (see :class:`~babyworld.envs.base.ParentBabyEnv`)."""
        task = task_from_options(options) or self.default_task
        self.check_task(task)
        super().reset(seed=check_seed("seed", seed))
        for sub in self.subs.values():
            sub._np_random = self.np_random  # one stream of randomness for the whole ladder
            if seed is not None:
                sub.predictor.reset()
                sub.code.reset()
                sub.tracker.reset()
        self.cur = self.subs[task.level]
        return self.cur.begin_reset(options={"task": task})

    def finish_reset(self, said: Sequence[str]) -> tuple[dict, dict]:
        """Phase 2 of :meth:`reset`."""
        obs, info = self.cur.finish_reset(said)
        return obs, self._with_level(info)

    def begin_step(self, action: Any) -> PendingStep:
        """Phase 1 of :meth:`step`: the union action, mapped to the current level's."""
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        a = self._check_action(action)
        if not self.action_masks()[a]:
            return self.cur.begin_not_understood(self.words[a])
        return self.cur.begin_step(
            np.int64(int(np.flatnonzero(self._to_union[self.cur.level] == a)[0]))
        )

    def resolve_step(self, pending: PendingStep, scores: Sequence[np.ndarray]) -> list[Prompt]:
        """Phase 2 of :meth:`step`."""
        return self.cur.resolve_step(pending, scores)

    def finish_step(
        self, pending: PendingStep, said: Sequence[str]
    ) -> tuple[dict, Any, bool, bool, dict]:
        """Phase 3 of :meth:`step`."""
        obs, reward, terminated, truncated, info = self.cur.finish_step(pending, said)
        return obs, reward, terminated, truncated, self._with_level(info)

    def render(self) -> str | None:
        """``ansi``: the current level's last exchange."""
        return self.cur.render()

    def _with_level(self, info: dict) -> dict:
        info["action_mask"] = self.action_masks()
        info["level"] = self.cur.level
        return info

    def _check_action(self, action: Any) -> int:
        return check_action(
            action,
            self.words,
            self.action_masks(),
            f"is not a word of level {self.cur.level!r} at this step",
            strict=self.invalid_action == "raise",
        )

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The current level, the shared randomness and every level's state."""
        return {
            "level": self.level,
            "levels": list(self.subs),
            "current": self.cur.level,
            "np_random": self.np_random.bit_generator.state,
            "subs": {lv: s.state_dict() for lv, s in self.subs.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a ladder with the same levels."""
        if state.get("level") != self.level or state.get("levels") != list(self.subs):
            raise ValueError(
                f"env state is from {state.get('level')!r} with levels {state.get('levels')}; "
                f"this env is {self.level!r} with levels {list(self.subs)}"
            )
        for lv, sub in self.subs.items():
            sub.load_state_dict(state["subs"][lv])
            sub._np_random = self.np_random
        self.np_random.bit_generator.state = state["np_random"]
        self.cur = self.subs[state["current"]]
