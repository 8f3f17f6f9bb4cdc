"""One Ray rollout worker: a shard of the run's envs (:mod:`babyworld.vector.distributed`)."""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any

import numpy as np

from babyworld.task import Task
from babyworld.vector.local import ParentBatchVectorEnv


class ShardWorker:
    """The body of one Ray actor: a native vector env holding a contiguous shard of the envs.

    The parent is built in :meth:`setup` (not ``__init__``) so that a bad spec comes back to the
    driver as the original exception.
    """

    def setup(
        self,
        level: str,
        num_envs: int,
        parent: str,
        autoreset_mode: str,
        env_kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        """Build the parent and the shard's envs; returns what the driver keeps of them."""
        from babyworld.envs.registration import level_class

        self.env = _RecordingVectorEnv(
            level_class(level), num_envs, parent=parent, autoreset_mode=autoreset_mode, **env_kwargs
        )
        return {
            "level_info": self.env.level_info,
            "single_observation_space": self.env.single_observation_space,
            "single_action_space": self.env.single_action_space,
            "parent": (self.env.parent.label, self.env.parent.runtime),
            "pid": os.getpid(),
            "node": socket.gethostname(),
        }

    def check_reset(self, mask: np.ndarray, tasks: list[Task | None]) -> None:
        """Raise what :meth:`reset` would raise for these options, moving nothing."""
        self.env.check_tasks(self.env._reset_mask(mask), tasks)

    def reset(
        self, seeds: list[int | None], mask: np.ndarray | None, tasks: list[Task | None]
    ) -> tuple[dict, list[tuple[int, dict]]]:
        """Reset the shard's envs in ``mask``; returns the batched observations and raw infos."""
        options: dict[str, Any] = {"task": tasks}
        if mask is not None:
            options["reset_mask"] = mask
        self.env.raw = []
        obs, _ = self.env.reset(seed=seeds, options=options)
        return obs, self.env.raw

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        """Step the shard; returns obs, rewards, terminated, truncated and the raw infos."""
        self.env.raw = []
        obs, rewards, terms, truncs, _ = self.env.step(actions)
        return obs, rewards, terms, truncs, self.env.raw

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        """A method of the shard's vector env (``action_masks``, ``check_actions``, ``call``...)."""
        return getattr(self.env, name)(*args, **kwargs)

    def parent_stats(self) -> dict[str, float]:
        """The worker's parent counters (``ParentStats`` fields)."""
        return dataclasses.asdict(self.env.parent.stats)


class _RecordingVectorEnv(ParentBatchVectorEnv):
    """Keeps each env's own info dicts, so the driver batches them exactly as the local env."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw: list[tuple[int, dict]] = []

    def _batch_infos(self, items: list[tuple[int, dict]]) -> dict[str, Any]:
        self.raw.extend(items)
        return super()._batch_infos(items)
