"""``make_envs``: a level's vector env for a trainer, native or on Ray workers."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from babyworld.envs.registration import env_id, level_class


def make_envs(
    level: str,
    num_envs: int,
    parent: Any,
    *,
    ray: str | None = None,
    workers: int | None = None,
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """A level's vector env for a trainer: the native batched env (one parent call per phase).

    Its autoreset is disabled: the trainer's :class:`CurriculumRunner` resets ended envs with the
    curriculum's next tasks. With ``ray`` (``"local"`` or a cluster address) the envs run on
    ``workers`` Ray actors (:class:`~babyworld.vector.distributed.RayVectorEnv`), each building its
    own parent from the spec string ``parent``.
    """
    level_class(level)  # ValueError naming the levels
    if ray is not None:
        from babyworld.vector.cluster import LOCAL
        from babyworld.vector.distributed import RayVectorEnv

        return RayVectorEnv(
            level,
            num_envs,
            parent=parent,
            workers=min(2, num_envs) if workers is None else workers,
            autoreset_mode=AutoresetMode.DISABLED,
            address=None if ray == LOCAL else ray,
            **env_kwargs,
        )
    if workers is not None:
        raise ValueError(f"workers={workers} needs ray (a Ray address, or 'local')")
    return gym.make_vec(
        env_id(level),
        num_envs=num_envs,
        parent=parent,
        autoreset_mode=AutoresetMode.DISABLED,
        **env_kwargs,
    )
