"""Shared machinery of every parent–baby env: spaces, the phases of a step, rewards, info."""

from __future__ import annotations

import inspect
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from babyworld.envs import prompts
from babyworld.envs.acts import (
    Outcome,
    PendingStep,
    check_action,
    check_invalid_action_mode,
)
from babyworld.envs.teacher import ParentAsTeacher
from babyworld.parent import Parent, Prompt, resolve_parent
from babyworld.rewards import (
    REWARD_NAMES,
    AdaptiveCode,
    SuccessTracker,
    TokenPredictor,
    check_reward_source,
    combine,
    components,
    estimate,
    resolve_weights,
    reward_bounds,
    reward_vector,
)
from babyworld.task import Task, task_from_options
from babyworld.text import WordTokenizer
from babyworld.validation import check_bool, check_choice, check_float, check_int, check_seed
from babyworld.world import (
    COLORS,
    PERCEPT_FEATURES,
    SHAPES,
    SPLITS,
    Scene,
    WorldObject,
    check_split,
    sample_scene,
)


class ParentBabyEnv(ParentAsTeacher, gym.Env[dict, np.int64]):
    """Base class: a scene, a parent, several exchanges per episode, a reward vector per step.

    Subclasses define the action words, how an exchange starts (the parent's request) and how an
    act is resolved (:class:`Outcome`). See :class:`~babyworld.envs.point.PointEnv` for the full
    Gymnasium-style documentation of the shared spaces and rewards.

    An act outside the current mask (``action_masks()``) is not understood, or raises: see
    :data:`~babyworld.envs.acts.INVALID_ACTION_MODES`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}
    level: ClassVar[str] = ""
    #: Per-episode settings a :class:`~babyworld.task.Task` of this level may carry.
    task_params: ClassVar[tuple[str, ...]] = ()
    #: Attributes that make up the running episode (saved by :meth:`state_dict`).
    episode_keys: ClassVar[tuple[str, ...]] = (
        "_scene",
        "_task",
        "_exchange",
        "_done",
        "_request",
        "_last",
        "task",
        "_split",
    )
    reward_names: tuple[str, ...] = REWARD_NAMES
    #: Whether the parent gives a verdict on every exchange, so that ``reward_source="parent"``
    #: can stand in for the world's verifier.
    parent_judges: ClassVar[bool] = True
    #: Whether every step is one whole act, with a right act and the parent's distribution over
    #: the acts (the levels on which distillation, SDPO and GRPO's fixed-length groups run).
    one_act: ClassVar[bool] = True

    @classmethod
    def takes(cls, key: str) -> bool:
        """Whether ``key`` is a keyword argument of this level (the ladder hands each its own).

        A scene ``split`` only where the level draws scenes of toys (``"split" in task_params``).
        """
        chain = cls.__mro__[: cls.__mro__.index(ParentBabyEnv) + 1]
        inits = [vars(c)["__init__"] for c in chain if "__init__" in vars(c)]
        return any(key in inspect.signature(f).parameters for f in inits) and (
            key != "split" or "split" in cls.task_params
        )

    def __init__(
        self,
        parent: str | Parent = "smollm2",
        *,
        n_objects: int = 3,
        exchanges: int = 4,
        heard_length: int = 32,
        vocab_size: int = 256,
        reward_weights: Sequence[float] | Mapping[str, float] | np.ndarray | None = None,
        reward_source: str = "verifier",
        vector_reward: bool = False,
        consistency_temperature: float = 1.0,
        progress_beta: float = 0.1,
        max_new_tokens: int = 24,
        render_mode: str | None = None,
        invalid_action: str = "not_understood",
        split: str = "all",
    ) -> None:
        n_objects = check_int("n_objects (distinct toys)", n_objects, 1, len(COLORS) * len(SHAPES))
        self.split = self._split = self._check_split(split, n_objects, "split")
        exchanges = check_int("exchanges", exchanges, 1)
        vocab_size = check_int("vocab_size", vocab_size, 2)
        heard_length = check_int("heard_length", heard_length, 4)
        max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1)
        vector_reward = check_bool("vector_reward", vector_reward)
        check_float("consistency_temperature", consistency_temperature, 0, low_open=True)
        check_float("progress_beta", progress_beta, 0, 1, low_open=True)
        check_choice("render_mode", render_mode, [None, *self.metadata["render_modes"]])
        self.reward_source = check_reward_source(reward_source)
        if reward_source == "parent" and not self.parent_judges:
            raise ValueError(
                f"reward_source='parent' needs a level on which the parent judges every act "
                f"(Point, Name, Chat); on {self.level!r} success depends on a need only the world "
                "knows, so use reward_source='verifier'"
            )
        self.invalid_action = check_invalid_action_mode(invalid_action)
        self.parent = resolve_parent(parent)
        self.n_objects, self.exchanges = int(n_objects), int(exchanges)
        self.heard_length, self.max_new_tokens = int(heard_length), int(max_new_tokens)
        self.render_mode = render_mode
        self.vector_reward = bool(vector_reward)
        self.consistency_temperature = float(consistency_temperature)
        self.reward_weights = resolve_weights(reward_weights)

        self.words: tuple[str, ...] = self._action_words()
        self._every_action = np.ones(len(self.words), dtype=bool)
        self._every_action.flags.writeable = False
        self._percept_memo: tuple[Scene | None, int | None, np.ndarray | None] = (None, None, None)
        self.tokenizer = WordTokenizer(vocab_size)
        self.action_space = spaces.Discrete(len(self.words))
        ids = np.full(self.heard_length, vocab_size, dtype=np.int64)
        self.observation_space = spaces.Dict(
            heard=spaces.MultiDiscrete(ids),
            heard_len=spaces.Discrete(self.heard_length + 1),
            percept=spaces.Box(0.0, 1.0, (self.n_objects * PERCEPT_FEATURES,), np.float32),
        )
        self.reward_space = spaces.Box(*reward_bounds(progress_beta), dtype=np.float32)

        self.predictor = TokenPredictor(vocab_size, len(self.words))
        self.code = AdaptiveCode(len(self.words))
        self.tracker = SuccessTracker(progress_beta)
        self._exchange, self._done = -1, True
        self._last: dict[str, Any] = {}
        self.task = Task.make(self.level)

    # ----------------------------------------------------------------------- subclass interface
    @abstractmethod
    def _action_words(self) -> tuple[str, ...]:
        """Names of the actions (symbols or words), index = action id."""

    @abstractmethod
    def _start_exchange(self) -> list[Prompt]:
        """Draw the next sub-task from ``self.np_random``; return what the parent must say.

        The first prompt is the parent's request, heard by the baby; any further prompts are
        extra lines the level needs (``Chat``'s distractor lines), passed to :meth:`_heard`.
        """

    def _heard(self, said: Sequence[str]) -> str:
        """Keep the parent's answers to :meth:`_start_exchange`; return the request heard."""
        return said[0]

    @abstractmethod
    def _score_requests(self, action: int) -> tuple[list[str], list[str]]:
        """Record the act; return the ``(contexts, continuations)`` the parent must score for it.

        Empty lists when the act does not end an exchange (a word inside an utterance).
        """

    @abstractmethod
    def _resolve(self, action: int, scores: Sequence[np.ndarray]) -> Outcome | None:
        """The outcome of the act given the parent's scores (``None``: the utterance goes on)."""

    def view(self) -> prompts.ParentView:
        """What the parent perceives and has said in this exchange.

        Every prompt that judges or reacts is built from it (:mod:`babyworld.envs.prompts`): the
        toys on the table, the toy the parent shows (if any), its own words opening the exchange.
        It holds nothing the env derives from the task's answer.
        """
        return prompts.ParentView(
            table=self._scene.objects, shown=self._shown(), said=self._request
        )

    def _shown(self) -> WorldObject | None:
        """The toy the parent holds up, if the level has one (``Name``)."""
        return None

    def _configure(self, task: Task) -> None:  # noqa: B027 - optional hook
        """Apply a task's per-episode settings (already validated against ``task_params``)."""

    @abstractmethod
    def _attended(self) -> int | None:
        """Slot the parent is showing, if any."""

    def _allowed(self) -> np.ndarray:
        """Boolean mask of actions allowed now (all by default; read it, never write it)."""
        return self._every_action

    @property
    def task_key(self) -> str:
        """Key of the current task for the success tracker (``progress`` component)."""
        return self.task.name

    # ----------------------------------------------------------------------- Gymnasium API
    def action_masks(self) -> np.ndarray:
        """Actions allowed at this step (sb3-contrib's ``MaskablePPO`` convention)."""
        return self._allowed().copy()

    def _verdict(self, verifier: bool, parent: bool) -> bool:
        """The success the rewards read: the verifier's, or the parent's (``reward_source``)."""
        return parent if self.reward_source == "parent" else verifier

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict, dict]:
        """Start an episode (``options={"task": Task}`` sets the level's per-episode settings).

        Without a task (or with ``None``) the episode has the env's own settings. Every option
        and the seed are checked before anything moves: a refused reset raises ``ValueError`` and
        leaves the env as it was. A seeded reset also restarts the online reward estimators.
        """
        prompts = self.begin_reset(seed=seed, options=options)
        return self.finish_reset(self._say(prompts))

    def step(self, action: Any) -> tuple[dict, Any, bool, bool, dict]:
        """Resolve the baby's act, let the parent react and ask again, score every component."""
        pending = self.begin_step(action)
        scores = self.parent.score(pending.contexts, pending.continuations)
        prompts = self.resolve_step(pending, scores)
        return self.finish_step(pending, self._say(prompts))

    def _say(self, prompts: list[Prompt]) -> list[str]:
        return self.parent.generate(prompts, max_new_tokens=self.max_new_tokens) if prompts else []

    # ---------------------------------------------------------- the phases of reset and step
    # A native vector env runs each phase on every env and asks the parent once per phase for
    # all of them (reset: generate; step: score, then generate). ``reset`` and ``step`` above are
    # the same phases around the calls of one env.
    def check_task(self, task: Task) -> None:
        """Raise ``ValueError`` unless this env can run ``task``."""
        task.check_level(self.level, self.task_params)
        if "split" in task.kwargs:
            self._check_split(task.kwargs["split"], self.n_objects, f"task {task.name!r}: split")

    def begin_reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> list[Prompt]:
        """Phase 1 of :meth:`reset`: draw the scene and the first task; return the prompts."""
        task = task_from_options(options)
        task = Task.make(self.level) if task is None else task
        self.check_task(task)
        super().reset(seed=check_seed("seed", seed))
        if seed is not None:
            self.predictor.reset()
            self.code.reset()
            self.tracker.reset()
        self.task = task
        self._configure(self.task)
        self._split = task.kwargs.get("split", self.split)
        self._scene = self._sample_scene()
        self._exchange = 0
        self._done = False
        return self._start_exchange()

    def finish_reset(self, said: Sequence[str]) -> tuple[dict, dict]:
        """Phase 2 of :meth:`reset`, given the parent's answers to the prompts of phase 1."""
        request = self._heard(said)
        self._request = request
        obs, cut = self._observe(request)
        info = self._info(
            parent_utterance=request, parent_request=request, exchange=0, heard_truncated=cut
        )
        self._last = {"heard": request}
        return obs, info

    def begin_step(self, action: Any) -> PendingStep:
        """Phase 1 of :meth:`step`: check and record the act; return what the parent must score."""
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        a = self._check_action(action)
        if not self._allowed()[a]:
            return self.begin_not_understood(self.words[a])
        contexts, continuations = self._score_requests(a)
        return PendingStep(a, contexts, continuations)

    def begin_not_understood(self, word: str) -> PendingStep:
        """Phase 1 of a step whose act (``word``) is outside the mask: nothing to score."""
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        return PendingStep(-1, [], [], not_understood=word)

    def resolve_step(self, pending: PendingStep, scores: Sequence[np.ndarray]) -> list[Prompt]:
        """Phase 2 of :meth:`step`: the outcome, given the scores; return what the parent says."""
        if pending.not_understood is not None:
            out: Outcome | None = self._not_understood(pending.not_understood)
        else:
            out = self._resolve(pending.action, scores)
        pending.outcome = out
        if out is None:  # a word inside an utterance: the parent listens
            pending.prompts = []
            return []
        self._exchange += 1
        pending.terminated = self._exchange >= self.exchanges
        pending.prompts = [out.feedback_prompt]
        if not pending.terminated:
            pending.prompts += self._start_exchange()
        return pending.prompts

    def observe_step(self, pending: PendingStep, said: Sequence[str]) -> None:
        """Phase 3a of :meth:`step`: what the baby hears now (kept in ``pending.observed``)."""
        out, terminated = pending.outcome, pending.terminated
        if out is None:
            feedback, request, heard = "", self._request, self._last.get("heard", self._request)
        else:
            feedback = said[0]
            request = "" if terminated else self._heard(said[1:])
            heard = f"{feedback} {request}".strip()
        obs, cut = self._observe(heard)
        pending.observed = (obs, cut, heard, feedback, request)

    def finish_step(
        self, pending: PendingStep, said: Sequence[str]
    ) -> tuple[dict, Any, bool, bool, dict]:
        """Phase 3 of :meth:`step`, given the parent's answers to phase 2's prompts."""
        a, out, terminated = pending.action, pending.outcome, pending.terminated
        if pending.observed is None:
            self.observe_step(pending, said)
        assert pending.observed is not None
        obs, cut, heard, feedback, request = pending.observed
        invalid = pending.not_understood is not None
        if pending.estimates is not None:
            predictability, mdl = pending.estimates
        elif invalid:  # the floor: the estimators do not learn from an act outside the mask
            predictability, mdl = -1.0, -1.0
        else:
            predictability, mdl = estimate(
                self.predictor, self.code, a, obs["heard"][: obs["heard_len"]]
            )
        if out is None:
            success, true_success, consistency, progress = False, False, 0.0, 0.0
        else:
            success, true_success, consistency = out.success, out.true_success, out.consistency
            progress = components.progress(*self.tracker.update(self.task_key, out.success))
        vector = reward_vector(
            task=components.task(success),
            consistency=consistency,
            predictability=predictability,
            mdl=mdl,
            progress=progress,
        )
        reward: Any = vector.copy() if self.vector_reward else combine(vector, self.reward_weights)
        self._request = request
        self._done = terminated
        info = self._info(
            parent_utterance=heard,
            parent_feedback=feedback,
            parent_request=request,
            baby_utterance=out.utterance if out else self._partial_utterance(),
            baby_meaning=out.meaning if out else "",
            target=out.target if out else "",
            success=success,
            true_success=true_success,
            exchange_end=out is not None,
            invalid_action=invalid,
            exchange=self._exchange,
            heard_truncated=cut,
            reward_vector=vector,
            reward_components=dict(zip(self.reward_names, vector.tolist(), strict=True)),
        )
        self._last = {
            "heard": heard,
            "baby": info["baby_utterance"],
            "meaning": info["baby_meaning"],
            "vector": vector,
        }
        return obs, reward, terminated, False, info

    def _info(self, **info: Any) -> dict[str, Any]:
        """``info`` with what every step's info holds: the action mask, the task, the parent."""
        return info | {
            "action_mask": self.action_masks(),
            "task": self.task.name,
            "parent": self.parent.label,
        }

    def _partial_utterance(self) -> str:
        """The words of an utterance still going on (levels with multi-word utterances)."""
        return ""

    @abstractmethod
    def _target(self) -> str:
        """What would be right in the current exchange (``info["target"]``)."""

    def _not_understood(self, word: str) -> Outcome:
        """The outcome of an act outside the mask: not understood, the lowest judgement."""
        utterance = f"{self._partial_utterance()} {word}".strip()
        return Outcome(
            success=False,
            true_success=False,
            utterance=utterance,
            meaning="is not understood",
            target=self._target(),
            feedback_prompt=prompts.not_understood(self.view(), utterance),
            consistency=-1.0,
        )

    def render(self) -> str | None:
        """``ansi``: the last exchange as text."""
        if self.render_mode != "ansi":
            return None
        last, lines = self._last, []
        if "baby" in last:
            comps = zip(self.reward_names, last["vector"], strict=True)
            lines.append(f"baby: {last['baby']} ({last['meaning']})")
            lines.append("reward: " + ", ".join(f"{k}={v:+.2f}" for k, v in comps))
        return "\n".join([*lines, f"parent: {last.get('heard', '')}"]) + "\n"

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this env exactly: RNG, the episode, the estimators.

        Used by checkpoints; restore with :meth:`load_state_dict` on an env built with the same
        arguments. The parent is not part of the state (it is frozen).
        """
        episode = {k: getattr(self, k, None) for k in self.episode_keys}
        return {
            "level": self.level,
            "n_actions": len(self.words),
            "np_random": self.np_random.bit_generator.state,
            "episode": episode,
            "predictor": self.predictor.state_dict(),
            "code": self.code.state_dict(),
            "tracker": self.tracker.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (raises ``ValueError`` if it is from another level)."""
        if state.get("level") != self.level or state.get("n_actions") != len(self.words):
            raise ValueError(
                f"env state is from level {state.get('level')!r} with {state.get('n_actions')} "
                f"actions; this env is {self.level!r} with {len(self.words)}"
            )
        self.np_random.bit_generator.state = state["np_random"]
        for k, v in state["episode"].items():
            setattr(self, k, v)
        self.predictor.load_state_dict(state["predictor"])
        self.code.load_state_dict(state["code"])
        self.tracker.load_state_dict(state["tracker"])

    # ----------------------------------------------------------------------- helpers
    def _sample_scene(self) -> Scene:
        return sample_scene(self.np_random, self.n_objects, self._split)

    def _check_split(self, split: Any, n_objects: int, what: str) -> str:
        """``split`` if this level draws its scenes by it and ``n_objects`` toys fit in it."""
        if split != "all" and split in SPLITS and "split" not in self.task_params:
            raise ValueError(
                f"{what}={split!r}: {self.level} has no held-out split (its situations are not "
                "toys on a table); use split='all'"
            )
        return check_split(what, split, n_objects)

    def _observe(self, text: str) -> tuple[dict, bool]:
        ids, n, cut = self.tokenizer.encode_fixed(text, self.heard_length)
        attended = self._attended()
        scene, seen, percept = self._percept_memo
        if scene is not self._scene or seen != attended:  # a scene is frozen: same object, view
            percept = self._scene.percept(self.n_objects, attended)
            self._percept_memo = (self._scene, attended, percept)
        obs = {"heard": ids, "heard_len": np.int64(n), "percept": percept.copy()}
        return obs, cut

    def _check_action(self, action: Any) -> int:
        return check_action(
            action,
            self.words,
            self._allowed(),
            "is masked at this step",
            strict=self.invalid_action == "raise",
        )
