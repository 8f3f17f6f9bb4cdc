"""One table of levels; every id is registered from it (Minigrid's pattern, without the copies)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

#: level name -> (entry point, default keyword settings)
LEVELS: dict[str, tuple[str, dict[str, Any]]] = {
    "Point": ("babyworld.envs.point:PointEnv", {}),
    "Name": ("babyworld.envs.name:NameEnv", {}),
}


def env_id(level: str, version: int = 0) -> str:
    """``babyworld/<Level>-v<version>``."""
    return f"babyworld/{level}-v{version}"


def register_envs() -> None:
    """Register every level (idempotent)."""
    for level, (entry_point, kwargs) in LEVELS.items():
        eid = env_id(level)
        if eid not in gym.registry:
            gym.register(id=eid, entry_point=entry_point, kwargs=dict(kwargs))
