"""One curriculum in the learner drives a vector env: tasks reach the envs through reset options.

:class:`CurriculumRunner` steps a vector env whose autoreset is disabled; when episodes end it
tells the curriculum how they went (in env order), samples the next tasks from its own generator
(in env order) and resets exactly those envs with ``options={"task": ...}``. The task sequence
therefore depends only on the seed, the curriculum and the episodes' outcomes — not on the kind
of vector env: babyworld's native env, Gymnasium's ``SyncVectorEnv`` and ``AsyncVectorEnv`` give
the same one (a test). A single env needs no runner:
``env.reset(options={"task": curriculum.sample_task(rng)})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from babyworld.curricula.base import Curriculum, EpisodeStats
from babyworld.task import Task


def reset_with_tasks(
    envs: gym.vector.VectorEnv,
    tasks: Sequence[Task | None],
    mask: np.ndarray | None = None,
    seed: int | Sequence[int | None] | None = None,
) -> tuple[dict, dict]:
    """Reset the envs in ``mask`` (all by default), env ``i`` with ``tasks[i]``.

    babyworld's native vector env takes every task in one call (one batched parent call);
    Gymnasium's vector envs pass one ``options`` dict to every env they reset, so they are reset
    one env at a time with ``reset_mask`` (a full reset first resets them all once without a task,
    which the seeded per-env resets then override). An int ``seed`` seeds env ``i`` with
    ``seed + i``, a sequence gives each env its own (``None``: unseeded); identical task sequences
    across vector-env kinds need a seed on the first reset.

    Returns:
        The batched observations and the infos of the envs that were reset.
    """
    n = envs.num_envs
    if len(tasks) != n:
        raise ValueError(f"got {len(tasks)} tasks for {n} envs")
    mask = np.ones(n, dtype=np.bool_) if mask is None else np.asarray(mask, dtype=np.bool_)
    if seed is None or isinstance(seed, int | np.integer):
        seeds = [None if seed is None else int(seed) + i for i in range(n)]
    else:
        seeds = list(seed)
    if getattr(envs, "tasks_per_env", False):  # babyworld's native and Ray envs: one call
        return envs.reset(seed=seeds, options={"reset_mask": mask, "task": list(tasks)})
    if mask.all():
        # Gymnasium batches every env's last observation, so each env must have been reset once
        # before a masked reset; the per-env resets below re-seed, so this warm-up leaves no trace.
        envs.reset(seed=seeds)
    obs, infos = None, {}
    for i in np.flatnonzero(mask):
        one = np.zeros(n, dtype=np.bool_)
        one[i] = True
        opts: dict[str, Any] = {"reset_mask": one}
        if tasks[i] is not None:
            opts["task"] = tasks[i]
        obs, info = envs.reset(seed=seeds, options=opts)
        for key, value in info.items():
            if key.startswith("_"):
                continue
            if key not in infos:
                infos[key] = np.empty(n, dtype=object)
                infos["_" + key] = np.zeros(n, dtype=np.bool_)
            infos[key][i] = value[i]
            infos["_" + key][i] = True
    return obs, infos


@dataclass
class Finished:
    """An episode that ended in this step."""

    env: int
    task: Task
    stats: EpisodeStats
    progress: float
    """the curriculum's change in capability for the task (the ``progress`` reward)"""
    true_success: float
    """fraction of the episode's exchanges the world's verifier accepted (``info["true_success"]``;
    ``stats.success`` is the verdict the rewards and the curriculum read, which with
    ``reward_source="parent"`` is the parent's)"""


@dataclass
class RunnerStep:
    """What :meth:`CurriculumRunner.step` returns.

    ``obs`` are the observations the step produced (for an ended env, its episode's last one);
    ``next_obs`` are what the agent sees next (for an ended env, the first of its new episode).
    """

    obs: dict
    next_obs: dict
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    infos: dict
    reset_infos: dict
    finished: list[Finished] = field(default_factory=list)


class CurriculumRunner:
    """Drive a vector env (autoreset disabled) with a curriculum.

    Args:
        envs: a vector env built with ``autoreset_mode=AutoresetMode.DISABLED``.
        curriculum: chooses tasks and learns from finished episodes.
        seed: seeds the generator the tasks are sampled with.
        group_size: ``G > 1`` runs envs ``gG .. gG + G - 1`` as a group (GRPO style): every
            episode of a group has one task and one reset seed drawn from the runner's
            generator, so its envs replay the same task seed; their episodes must end together
            (fixed-length episodes), else ``RuntimeError``.
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        curriculum: Curriculum,
        seed: int,
        group_size: int = 1,
    ) -> None:
        mode = envs.metadata.get("autoreset_mode")
        if mode != AutoresetMode.DISABLED:
            raise ValueError(
                f"the curriculum runner resets ended envs itself; build the vector env with "
                f"autoreset_mode=AutoresetMode.DISABLED (got {mode})"
            )
        self.envs, self.curriculum = envs, curriculum
        self.n = envs.num_envs
        if group_size < 1 or self.n % group_size:
            raise ValueError(f"num_envs {self.n} must be a multiple of group_size {group_size}")
        self.group_size = group_size
        self._seeds: list[int | None] = [None] * self.n
        self.rng = np.random.default_rng(seed)
        self.tasks: list[Task | None] = [None] * self.n
        self._succ = np.zeros(self.n)
        self._true = np.zeros(self.n)
        self._exch = np.zeros(self.n, dtype=np.int64)
        self._steps = np.zeros(self.n, dtype=np.int64)
        self.history: list[tuple[int, str]] = []
        """``(env, task name)`` of every task handed out, in order"""

    def reset(self, seed: int | None = None) -> tuple[dict, dict]:
        """Sample a task for every env (in env order) and reset them all."""
        for i in range(self.n):
            self._assign(i)
        self._succ[:], self._true[:], self._exch[:], self._steps[:] = 0, 0, 0, 0
        if self.group_size > 1 and seed is not None:  # a group's envs share their first seed
            return reset_with_tasks(
                self.envs, self.tasks, seed=[seed + i // self.group_size for i in range(self.n)]
            )
        return reset_with_tasks(self.envs, self.tasks, seed=seed)

    def step(self, actions: Any) -> RunnerStep:
        """Step every env; update the curriculum with ended episodes and reset them with new tasks."""
        obs, rewards, term, trunc, infos = self.envs.step(actions)
        ends = np.asarray(infos.get("exchange_end", np.ones(self.n, dtype=bool)), dtype=bool)
        self._steps += 1
        self._exch += ends
        self._succ += ends & np.asarray(infos["success"], dtype=bool)
        self._true += ends & np.asarray(infos.get("true_success", infos["success"]), dtype=bool)
        ended = np.logical_or(term, trunc)
        out = RunnerStep(obs, obs, rewards, term, trunc, infos, {})
        if not ended.any():
            return out
        for i in np.flatnonzero(ended):
            exch = int(self._exch[i])
            stats = EpisodeStats(
                success=float(self._succ[i] / exch) if exch else 0.0,
                exchanges=exch,
                steps=int(self._steps[i]),
            )
            task = self.tasks[i]
            assert task is not None
            true = float(self._true[i] / exch) if exch else 0.0
            progress = self.curriculum.update(task, stats)
            out.finished.append(Finished(int(i), task, stats, progress, true))
            self._succ[i], self._true[i], self._exch[i], self._steps[i] = 0, 0, 0, 0
        for i in np.flatnonzero(ended):
            self._assign(int(i))
        seeds = None
        if self.group_size > 1:
            groups = ended.reshape(-1, self.group_size)
            if not (groups.all(1) | ~groups.any(1)).all():
                raise RuntimeError(
                    "the envs of a group must end their episodes together: group-relative "
                    "advantages need fixed-length episodes (one-act levels)"
                )
            seeds = [self._seeds[i] if ended[i] else None for i in range(self.n)]
        out.next_obs, out.reset_infos = reset_with_tasks(
            self.envs, self.tasks, mask=ended, seed=seeds
        )
        return out

    def _assign(self, i: int) -> None:
        g = self.group_size
        if g > 1 and i % g:  # a follower takes its group leader's task and seed
            self.tasks[i], self._seeds[i] = self.tasks[i - i % g], self._seeds[i - i % g]
        else:
            self.tasks[i] = self.curriculum.sample_task(self.rng)
            if g > 1:
                self._seeds[i] = int(self.rng.integers(2**31 - 1))
        self.history.append((i, self.tasks[i].name))

    def task_indices(self) -> np.ndarray:
        """``[N]`` the index in the curriculum's task space of each env's current task."""
        return np.array([self.curriculum.tasks.index(t) for t in self.tasks], dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        """The runner's generator, current tasks and per-episode counters (not the curriculum)."""
        return {
            "rng": self.rng.bit_generator.state,
            "tasks": list(self.tasks),
            "seeds": list(self._seeds),
            "succ": self._succ.copy(),
            "true": self._true.copy(),
            "exch": self._exch.copy(),
            "steps": self._steps.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if len(state["tasks"]) != self.n:
            raise ValueError(f"runner state has {len(state['tasks'])} envs, this run {self.n}")
        self.rng.bit_generator.state = state["rng"]
        self.tasks = list(state["tasks"])
        self._seeds = list(state.get("seeds", [None] * self.n))
        self._succ, self._exch, self._steps = (
            state["succ"].copy(),
            state["exch"].copy(),
            state["steps"].copy(),
        )
        self._true = state.get("true", state["succ"]).copy()
