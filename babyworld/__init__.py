"""babyworld: Gymnasium environments where a frozen LLM parent raises a from-scratch baby.

Importing the package registers the ``babyworld/<Level>-v0`` ids with Gymnasium (the field's
convention, as in Minigrid); it loads no model and touches no file.
"""

from babyworld.envs import (
    LEVELS,
    ChatEnv,
    InvalidActionError,
    LadderEnv,
    NameEnv,
    PointEnv,
    RequestEnv,
    env_id,
    register_envs,
)
from babyworld.parent import DEFAULT_PARENT, Parent, make_parent
from babyworld.task import Task
from babyworld.validation import ValidationError

__version__ = "0.1.0"

register_envs()


def load(run):
    """A trained run's student as a policy with ``predict`` (:func:`babyworld.experiments.rundir.load`)."""
    from babyworld.experiments.rundir import load as _load

    return _load(run)


__all__ = [
    "DEFAULT_PARENT",
    "LEVELS",
    "ChatEnv",
    "InvalidActionError",
    "LadderEnv",
    "NameEnv",
    "Parent",
    "PointEnv",
    "RequestEnv",
    "Task",
    "ValidationError",
    "env_id",
    "load",
    "make_parent",
    "register_envs",
]
