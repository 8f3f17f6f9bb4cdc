"""A native vector env: N worlds, one batched parent call per phase for all of them.

Gymnasium's ``SyncVectorEnv`` steps its envs one after another, so the parent sees N calls of
batch 1–2. :class:`ParentBatchVectorEnv` runs phase 1 of every env (resolve the acts, build the
prompts), asks the parent once — one ``generate`` and one ``score`` call for all N — then runs
phase 2 of every env. Episodes that end are reset in the same step (Gymnasium's ``SAME_STEP``
autoreset: the last observation and info of an ended episode are in ``info["final_obs"]`` and
``info["final_info"]``), their first requests again in one batched call. Results equal a
``SyncVectorEnv`` in ``SAME_STEP`` mode with the same seeds (a test), up to the numerics of the
parent's batch composition (exact with the scripted parent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from babyworld.envs.base import ParentBabyEnv
from babyworld.parent import Parent, resolve_parent


class ParentBatchVectorEnv(VectorEnv):
    """N copies of one babyworld level sharing one parent, with batched parent calls.

    Args:
        env_cls: the level's env class (e.g. :class:`~babyworld.envs.point.PointEnv`).
        num_envs: N.
        parent: spec string or instance (one instance serves all N envs).
        **env_kwargs: keyword arguments of every env.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        env_cls: type[ParentBabyEnv],
        num_envs: int,
        parent: str | Parent = "smollm2",
        **env_kwargs: Any,
    ) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
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

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict, dict]:
        """Reset every env (env ``i`` seeded ``seed + i``); one batched generate call."""
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        if seeds[0] is not None:
            self._np_random, self._np_random_seed = np.random.default_rng(seeds[0]), seeds[0]
        prompts = [
            e.begin_reset(seed=s, options=options) for e, s in zip(self.envs, seeds, strict=True)
        ]
        said = self.parent.generate(prompts, max_new_tokens=self.max_new_tokens)
        results = [e.finish_reset(r) for e, r in zip(self.envs, said, strict=True)]
        infos: dict[str, Any] = {}
        for i, (_, info) in enumerate(results):
            infos = self._add_info(infos, info, i)
        return self._batch_obs([o for o, _ in results]), infos

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env: one batched generate and one batched score call for all of them."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        for i, (e, a) in enumerate(zip(self.envs, actions, strict=True)):
            if e._done:  # all or nothing: no env moves if one of them cannot
                raise RuntimeError(f"env {i} has no episode running: call reset() before step()")
            e._check_action(a)
        pending = [e.begin_step(a) for e, a in zip(self.envs, actions, strict=True)]
        prompts = [p for q in pending for p in q.prompts]
        contexts = [c for q in pending for c in q.contexts]
        conts = [c for q in pending for c in q.continuations]
        said = self.parent.generate(prompts, max_new_tokens=self.max_new_tokens)
        scores = self.parent.score(contexts, conts)
        results, gi, si = [], 0, 0
        for e, q in zip(self.envs, pending, strict=True):
            ng, ns = len(q.prompts), len(q.contexts)
            results.append(e.finish_step(q, said[gi : gi + ng], scores[si : si + ns]))
            gi, si = gi + ng, si + ns
        obs = [r[0] for r in results]
        rewards = np.stack([np.asarray(r[1], dtype=np.float64) for r in results])
        terms = np.array([r[2] for r in results], dtype=np.bool_)
        truncs = np.array([r[3] for r in results], dtype=np.bool_)
        infos: dict[str, Any] = {}
        ended = [i for i in range(self.num_envs) if terms[i] or truncs[i]]
        if ended:
            prompts = [self.envs[i].begin_reset() for i in ended]
            said = self.parent.generate(prompts, max_new_tokens=self.max_new_tokens)
            for i, request in zip(ended, said, strict=True):
                infos = self._add_info(infos, {"final_obs": obs[i], "final_info": results[i][4]}, i)
                obs[i], info = self.envs[i].finish_reset(request)
                results[i] = (obs[i], None, None, None, info)
        for i, r in enumerate(results):
            infos = self._add_info(infos, r[4], i)
        return self._batch_obs(obs), rewards, terms, truncs, infos

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

    def _batch_obs(self, obs: list[dict]) -> dict:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, obs, out)
