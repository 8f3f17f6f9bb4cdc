"""Gymnasium environments of the ladder."""

from babyworld.envs.acts import InvalidActionError, Outcome
from babyworld.envs.base import ParentBabyEnv
from babyworld.envs.chat import ChatEnv
from babyworld.envs.ladder import LadderEnv
from babyworld.envs.name import NameEnv
from babyworld.envs.point import PointEnv
from babyworld.envs.registration import LEVELS, env_id, level_class, register_envs, rungs
from babyworld.envs.request import RequestEnv
from babyworld.envs.utterance import STOP, UtteranceEnv

__all__ = [
    "LEVELS",
    "STOP",
    "ChatEnv",
    "LadderEnv",
    "RequestEnv",
    "UtteranceEnv",
    "InvalidActionError",
    "NameEnv",
    "Outcome",
    "ParentBabyEnv",
    "PointEnv",
    "env_id",
    "level_class",
    "rungs",
    "register_envs",
]
