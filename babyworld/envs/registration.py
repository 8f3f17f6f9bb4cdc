"""One table of levels; every id is registered from it (Minigrid's pattern, without the copies)."""

from __future__ import annotations

import functools
import importlib
from typing import Any

import gymnasium as gym

#: level name -> (entry point, default keyword settings)
LEVELS: dict[str, tuple[str, dict[str, Any]]] = {
    "Point": ("babyworld.envs.point:PointEnv", {}),
    "Name": ("babyworld.envs.name:NameEnv", {}),
    "Request": ("babyworld.envs.request:RequestEnv", {}),
    "Chat": ("babyworld.envs.chat:ChatEnv", {}),
    "Ladder": ("babyworld.envs.ladder:LadderEnv", {}),
}


def env_id(level: str, version: int = 0) -> str:
    """``babyworld/<Level>-v<version>``."""
    return f"babyworld/{level}-v{version}"


def _vector_creator(entry_point: str, num_envs: int, **kwargs: Any):
    """Build the native batched vector env of a level (``gym.make_vec``'s default for our ids)."""
    from babyworld.envs.vector import ParentBatchVectorEnv

    module, name = entry_point.split(":")
    return ParentBatchVectorEnv(getattr(importlib.import_module(module), name), num_envs, **kwargs)


def register_envs() -> None:
    """Register every level (idempotent), with the native vector env as its vector entry point."""
    for level, (entry_point, kwargs) in LEVELS.items():
        eid = env_id(level)
        if eid not in gym.registry:
            gym.register(
                id=eid,
                entry_point=entry_point,
                vector_entry_point=functools.partial(_vector_creator, entry_point),
                kwargs=dict(kwargs),
            )
