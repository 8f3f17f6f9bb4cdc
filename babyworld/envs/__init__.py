"""Gymnasium environments of the ladder."""

from babyworld.envs.base import InvalidActionError, Outcome, ParentBabyEnv
from babyworld.envs.name import NameEnv
from babyworld.envs.point import PointEnv
from babyworld.envs.registration import LEVELS, env_id, register_envs

__all__ = [
    "LEVELS",
    "InvalidActionError",
    "NameEnv",
    "Outcome",
    "ParentBabyEnv",
    "PointEnv",
    "env_id",
    "register_envs",
]
