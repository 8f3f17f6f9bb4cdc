"""One table of levels; every id, and every list of levels elsewhere, is derived from it.

A row is a level's name and its env class; the level's facts are that class's attributes
(:class:`~babyworld.envs.base.ParentBabyEnv`: ``task_params``, ``parent_judges``, ``one_act``,
the keywords it ``takes``), as Gymnasium's ``EnvSpec`` carries an id's. Adding a level is one file (its class)
and one row here (docs/extending.md).
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import gymnasium as gym

#: level name -> entry point of its env class; the rungs in ladder order, then the ladder itself.
LEVELS: dict[str, str] = {
    "Point": "babyworld.envs.point:PointEnv",
    "Name": "babyworld.envs.name:NameEnv",
    "Request": "babyworld.envs.request:RequestEnv",
    "Chat": "babyworld.envs.chat:ChatEnv",
    "Ladder": "babyworld.envs.ladder:LadderEnv",
}


def env_id(level: str, version: int = 0) -> str:
    """``babyworld/<Level>-v<version>``."""
    return f"babyworld/{level}-v{version}"


def level_class(level: str) -> Any:
    """The env class of ``level`` (a row of :data:`LEVELS`); ``ValueError`` names the levels."""
    if not isinstance(level, str) or level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {tuple(LEVELS)}")
    module, name = LEVELS[level].split(":")
    return getattr(importlib.import_module(module), name)


def rungs(fact: str | None = None) -> tuple[str, ...]:
    """The levels of the ladder in order (every row but the ladder), those with ``fact`` only.

    ``rungs("one_act")`` are the levels with a right act at every step, ``rungs("parent_judges")``
    those on which the parent's verdict can stand in for the verifier.
    """
    from babyworld.envs.base import ParentBabyEnv

    out = [lv for lv in LEVELS if issubclass(level_class(lv), ParentBabyEnv)]
    return tuple(lv for lv in out if fact is None or getattr(level_class(lv), fact))


def rungs_text(fact: str | None = None) -> str:
    """:func:`rungs` for a message: ``"Point, Name or Chat"``."""
    names = rungs(fact)
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def _vector_creator(level: str, num_envs: int, **kwargs: Any) -> Any:
    """Build the native batched vector env of a level (``gym.make_vec``'s default for our ids)."""
    from babyworld.vector.local import ParentBatchVectorEnv

    return ParentBatchVectorEnv(level_class(level), num_envs, **kwargs)


def register_envs() -> None:
    """Register every level (idempotent), with the native vector env as its vector entry point."""
    for level, entry_point in LEVELS.items():
        eid = env_id(level)
        if eid not in gym.registry:
            gym.register(
                id=eid,
                entry_point=entry_point,
                vector_entry_point=functools.partial(_vector_creator, level),
            )
