"""A native vector env: N worlds, one batched parent call per phase for all of them.

Gymnasium's ``SyncVectorEnv`` steps its envs one after another, so the parent sees N calls of
batch 1–2. :class:`ParentBatchVectorEnv` runs each phase of a step on every env and asks the parent
once per phase for all N: phase 1 records the acts and collects what must be scored, one ``score``
call; phase 2 resolves the acts and collects what the parent must say, one ``generate`` call;
phase 3 builds observations and rewards. Episodes that end are reset in the same step (Gymnasium's
``SAME_STEP`` autoreset: the last observation and info of an ended episode are in
``info["final_obs"]`` and ``info["final_info"]``), their first requests again in one batched call;
with ``autoreset_mode=DISABLED`` the caller resets ended envs itself, e.g. with a curriculum's next
tasks: ``reset(options={"reset_mask": ended, "task": [task_0, ..., task_N-1]})``. Results equal a
``SyncVectorEnv`` in the same mode with the same seeds and tasks (a test), up to the numerics of
the parent's batch composition (exact with the scripted parent).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from babyworld.envs.acts import PendingStep
from babyworld.envs.base import ParentBabyEnv
from babyworld.envs.infos import batch_infos
from babyworld.parent import Parent, resolve_parent
from babyworld.rewards import rows
from babyworld.task import Task
from babyworld.validation import ValidationError, check_int, check_seeds


@dataclass(frozen=True, eq=False)
class LevelInfo:
    """What a learner may know of a vector env's envs: the same in every env, fixed for the run.

    The trainer and the modes read this and the vector env's methods (``action_masks``,
    ``teacher_logprobs``, ``right_actions``, ``env_states``), never an env itself.
    """

    level: str
    one_act: bool
    """one whole act per step, with a right act and the parent's distribution over the acts"""
    exchanges: int
    """exchanges per episode (0 where a level changes per episode, as on the ladder)"""
    words: tuple[str, ...]
    """the acts' words, by action id"""
    tokenizer: Any
    """the word ids the baby hears (``encode(text) -> ids``)"""
    observation_space: spaces.Dict
    action_space: spaces.Discrete
    reward_names: tuple[str, ...]
    reward_weights: np.ndarray
    vector_reward: bool

    @classmethod
    def of(cls, env: Any) -> LevelInfo:
        """The info of one env (any babyworld env, the ladder included)."""
        u = env.unwrapped
        return cls(
            level=u.level,
            one_act=bool(getattr(u, "one_act", False)),
            exchanges=int(getattr(u, "exchanges", 0)),
            words=tuple(u.words),
            tokenizer=u.tokenizer,
            observation_space=u.observation_space,
            action_space=u.action_space,
            reward_names=tuple(u.reward_names),
            reward_weights=np.array(u.reward_weights, dtype=np.float32),
            vector_reward=bool(getattr(u, "vector_reward", False)),
        )


def reset_options(options: Any, n: int) -> tuple[np.ndarray | None, list[Task | None]]:
    """The ``reset_mask`` (``None``: every env) and per-env tasks of a vector env's ``options``.

    Raises:
        ValidationError: options that are not a dict, a mask that is not a numpy bool array, or
            task entries that are not ``Task`` or ``None``.
        ValueError: a mask of another shape or with no True, a task sequence of another length,
            or an option the vector envs do not take.
    """
    if options is not None and not isinstance(options, dict):
        raise ValidationError(f"reset options must be a dict or None, got {options!r}")
    options = dict(options or {})
    mask, task = options.pop("reset_mask", None), options.pop("task", None)
    if options:
        raise ValueError(
            f"unknown reset options {sorted(options)}; the vector env takes 'task' and 'reset_mask'"
        )
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise ValidationError(f"options['reset_mask'] must be a numpy bool array, got {mask!r}")
        if mask.shape != (n,) or not mask.any():
            raise ValueError(
                f"options['reset_mask'] must have shape ({n},) and at least one True, got {mask}"
            )
    if task is None or isinstance(task, Task):
        return mask, [task] * n
    if isinstance(task, str) or not isinstance(task, Sequence) or len(task) != n:
        raise ValueError(
            f"options['task'] must be a Task or a sequence of {n} (one per env), got {task!r}"
        )
    for t in task:
        if t is not None and not isinstance(t, Task):
            raise ValidationError(f"options['task'] entries must be Task or None, got {t!r}")
    return mask, list(task)


class ParentBatchVectorEnv(VectorEnv):
    """N copies of one babyworld level sharing one parent, with batched parent calls.

    Args:
        env_cls: the level's env class (e.g. :class:`~babyworld.envs.point.PointEnv`).
        num_envs: N.
        parent: spec string or instance (one instance serves all N envs).
        **env_kwargs: keyword arguments of every env.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    #: ``reset(options={"task": [...]})`` takes one task per env in one call (the curriculum
    #: runner's cue; Gymnasium's vector envs take one task per sub-env reset instead).
    tasks_per_env = True

    def __init__(
        self,
        env_cls: type[ParentBabyEnv],
        num_envs: int,
        parent: str | Parent = "smollm2",
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        **env_kwargs: Any,
    ) -> None:
        num_envs = check_int("num_envs", num_envs, 1)
        mode = _autoreset_mode(autoreset_mode)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
            raise ValueError(
                f"autoreset_mode must be SAME_STEP or DISABLED, got {mode}; with DISABLED, reset "
                "ended envs yourself with reset(options={'reset_mask': ended, 'task': ...})"
            )
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.parent = resolve_parent(parent)
        self.envs = [env_cls(self.parent, **env_kwargs) for _ in range(num_envs)]
        self.num_envs = num_envs
        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, num_envs)
        self.action_space = batch_space(first.action_space, num_envs)
        self.reward_names = first.reward_names
        self.reward_space = first.reward_space
        self.max_new_tokens = first.max_new_tokens
        self.level_info = LevelInfo.of(first)
        self._obs: list[dict | None] = [None] * num_envs
        #: The estimators' counts of all envs as arrays (each env's estimators hold views of
        #: their rows), so one call per step computes every env's predictability and mdl.
        self._rows = all(isinstance(e, ParentBabyEnv) for e in self.envs)
        if self._rows:
            self._pred_counts = np.stack([e.predictor.counts for e in self.envs])
            self._code_counts = np.stack([e.code.counts for e in self.envs])
            for i, e in enumerate(self.envs):
                e.predictor.counts = self._pred_counts[i]
                e.code.counts = self._code_counts[i]
        #: Seconds of the envs' own Python per stage (``frames``: acts checked and judge frames
        #: built; ``prompts``: acts resolved and the parent's prompts built; ``finish``:
        #: observations, rewards and estimators; ``reset``; ``batch``: observations and infos
        #: batched), for profiles; parent calls are not included (see ``Parent.timings``).
        self.timings: dict[str, float] = {}

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict, dict]:
        """Reset every env (env ``i`` seeded ``seed + i``) with one batched generate call.

        Options: ``"task"`` — one :class:`~babyworld.task.Task` for every env, or a sequence of N
        (absent, ``None`` or a ``None`` entry: that env keeps its current task, at first the
        level's defaults; so does an env reset by autoreset); ``"reset_mask"`` — a
        boolean ``[N]`` array, reset only those envs (the others keep their episodes; Gymnasium's
        convention). Every seed, task and the mask are checked before any env moves: a refused
        reset raises ``ValueError`` and leaves every env as it was.
        """
        seeds = check_seeds(seed, self.num_envs)
        mask, tasks = reset_options(options, self.num_envs)
        mask = self._reset_mask(mask)
        self.check_tasks(mask, tasks)  # all or nothing: every task before any env moves
        tasks = [e.task if t is None else t for e, t in zip(self.envs, tasks, strict=True)]
        idx = [i for i in range(self.num_envs) if mask[i]]
        if seeds[0] is not None and mask.all():
            self._np_random, self._np_random_seed = np.random.default_rng(seeds[0]), seeds[0]
        infos = self._batch_infos(list(self._reset_envs(idx, seeds, tasks).items()))
        return self._batch_obs(self._obs), infos

    def _reset_envs(
        self, idx: list[int], seeds: Sequence[int | None], tasks: Sequence[Task | None]
    ) -> dict[int, dict]:
        """Reset envs ``idx`` with one batched generate call; returns their infos."""
        t = time.perf_counter()
        prompts = [
            self.envs[i].begin_reset(
                seed=seeds[i], options=None if tasks[i] is None else {"task": tasks[i]}
            )
            for i in idx
        ]
        t = self._clock("reset", t)
        said = iter(self.parent.generate([p for q in prompts for p in q], **self._gen_kwargs()))
        t = time.perf_counter()
        infos = {}
        for i, q in zip(idx, prompts, strict=True):
            self._obs[i], infos[i] = self.envs[i].finish_reset([next(said) for _ in q])
        self._clock("reset", t)
        return infos

    def _batch_infos(self, items: list[tuple[int, dict]]) -> dict[str, Any]:
        """The vector info of ``(env index, info)`` pairs (:func:`batch_infos`)."""
        return batch_infos(items, self.num_envs)

    def _clock(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env: one batched score and one batched generate call for all of them."""
        actions = self.check_actions(actions)  # all or nothing: no env moves if one cannot
        t = time.perf_counter()
        pending = [e.begin_step(a) for e, a in zip(self.envs, actions, strict=True)]
        t = self._clock("frames", t)
        scores = self.parent.score(
            [c for q in pending for c in q.contexts],
            [c for q in pending for c in q.continuations],
        )
        t = time.perf_counter()
        prompts, si = [], 0
        for e, q in zip(self.envs, pending, strict=True):
            ns = len(q.contexts)
            prompts.append(e.resolve_step(q, scores[si : si + ns]))
            si += ns
        t = self._clock("prompts", t)
        said = iter(self.parent.generate([p for q in prompts for p in q], **self._gen_kwargs()))
        t = time.perf_counter()
        answers = [[next(said) for _ in p] for p in prompts]
        if self._rows:
            for e, q, a in zip(self.envs, pending, answers, strict=True):
                e.observe_step(q, a)
            self._estimate(pending)
        results = [e.finish_step(q, a) for e, q, a in zip(self.envs, pending, answers, strict=True)]
        self._clock("finish", t)
        self._obs = [r[0] for r in results]
        rewards = np.stack([np.asarray(r[1], dtype=np.float64) for r in results])
        terms = np.array([r[2] for r in results], dtype=np.bool_)
        truncs = np.array([r[3] for r in results], dtype=np.bool_)
        items: list[tuple[int, dict]] = []
        ended = [i for i in range(self.num_envs) if terms[i] or truncs[i]]
        if ended and self.autoreset_mode == AutoresetMode.SAME_STEP:
            items += [(i, {"final_obs": self._obs[i], "final_info": results[i][4]}) for i in ended]
            tasks = [e.task for e in self.envs]  # an ended env keeps its task
            new = self._reset_envs(ended, [None] * self.num_envs, tasks)
            for i, info in new.items():
                results[i] = (self._obs[i], None, None, None, info)
        t = time.perf_counter()
        infos = self._batch_infos(items + [(i, r[4]) for i, r in enumerate(results)])
        obs = self._batch_obs(self._obs)
        self._clock("batch", t)
        return obs, rewards, terms, truncs, infos

    def _estimate(self, pending: list[PendingStep]) -> None:
        """Every env's ``(predictability, mdl)`` in one call (``pending[i].estimates``).

        Array code over the envs whose act was understood (:mod:`babyworld.rewards.rows`);
        equal to each env's own :func:`~babyworld.rewards.estimators.estimate`. The
        estimators then learn the step, as there.
        """
        env = np.array([i for i, q in enumerate(pending) if q.not_understood is None], np.int64)
        if env.size == 0:
            return
        act = np.array([pending[i].action for i in env], dtype=np.int64)
        obs = [pending[i].observed[0] for i in env]  # type: ignore[index]
        ids = np.stack([o["heard"] for o in obs]).astype(np.int64)
        lengths = np.array([o["heard_len"] for o in obs], dtype=np.int64)
        first = self.envs[0]
        bits = rows.token_surprisal_rows(self._pred_counts[env, act], ids)
        pred = rows.predictability_rows(bits, lengths, first.predictor.max_bits)
        code = rows.code_bits_rows(self._code_counts[env], act)
        mdl = -code / first.code.max_bits_per_word
        said = np.arange(ids.shape[1])[None] < lengths[:, None]
        rows.count_rows(
            self._pred_counts,
            np.repeat(env, lengths),
            (np.repeat(act, lengths), ids[said]),
        )
        rows.count_rows(self._code_counts, env, (act,))
        for j, i in enumerate(env):
            pending[i].estimates = (float(pred[j]), float(mdl[j]))

    def teacher_logprobs(self) -> np.ndarray:
        """Every env's teacher log-distribution, shape ``(num_envs, n_actions)``.

        One batched parent score call for all envs (see
        :meth:`~babyworld.envs.base.ParentBabyEnv.teacher_logprobs`).
        """
        requests = [e.teacher_requests() for e in self.envs]
        scores = self.parent.score(
            [c for q in requests for c in q[0]], [c for q in requests for c in q[1]]
        )
        out, si = [], 0
        for e, q in zip(self.envs, requests, strict=True):
            out.append(e.teacher_logprobs(scores[si : si + len(q[0])]))
            si += len(q[0])
        return np.stack(out)

    def _gen_kwargs(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens}

    def _reset_mask(self, mask: np.ndarray | None) -> np.ndarray:
        """A checked mask (:func:`reset_options`), or every env; a partial reset needs a first."""
        if mask is None:
            return np.ones(self.num_envs, dtype=np.bool_)
        if any(self._obs[i] is None for i in range(self.num_envs) if not mask[i]):
            raise RuntimeError("reset all envs once before a partial reset with 'reset_mask'")
        return mask

    def check_tasks(self, mask: np.ndarray, tasks: Sequence[Task | None]) -> None:
        """Raise unless every env in ``mask`` can run its task (``None``: the one it has)."""
        for i in np.flatnonzero(mask):
            if tasks[i] is not None:
                self.envs[i].check_task(tasks[i])

    def check_actions(self, actions: Any) -> np.ndarray:
        """``actions`` as an array if every env can take its own; else what :meth:`step` raises."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        for i, (e, a) in enumerate(zip(self.envs, actions, strict=True)):
            if e._done:
                raise RuntimeError(f"env {i} has no episode running: call reset() before step()")
            e._check_action(a)
        return actions

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call a method (or read an attribute) of every env, as ``SyncVectorEnv.call``."""
        out = []
        for e in self.envs:
            attr = getattr(e, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def action_masks(self) -> np.ndarray:
        """``[N, A]`` masks of the actions allowed now."""
        return np.stack([e.action_masks() for e in self.envs])

    def right_actions(self) -> np.ndarray:
        """``[N]`` the verifier's right act in every env now (one-act levels; demonstrations)."""
        return np.array([e.right_action() for e in self.envs], dtype=np.int64)

    def env_states(self) -> list[dict[str, Any]]:
        """Every env's ``state_dict()`` (a checkpoint's envs)."""
        return [e.state_dict() for e in self.envs]

    def load_env_states(self, states: Sequence[dict[str, Any]]) -> None:
        """Restore :meth:`env_states` (one state per env)."""
        if len(states) != self.num_envs:
            raise ValueError(f"got {len(states)} env states for {self.num_envs} envs")
        for e, s in zip(self.envs, states, strict=True):
            e.load_state_dict(s)

    def _batch_obs(self, obs: list[dict]) -> dict:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, obs, out)


def _autoreset_mode(mode: Any) -> AutoresetMode:
    """``mode`` as an :class:`AutoresetMode` (the enum or its value)."""
    try:
        return AutoresetMode(mode)
    except (ValueError, TypeError):
        names = [m.value for m in AutoresetMode]
        raise ValidationError(f"autoreset_mode must be one of {names}, got {mode!r}") from None
