"""Tasks: what a curriculum hands to an env through ``reset(options={"task": task})``.

A :class:`Task` names a level of the ladder and the per-episode settings of that level (for
example ``Task.make("Name", attributes=("shape",))``). It is frozen and hashable, so curricula can
key their statistics by it, and it pickles, so it crosses process boundaries (``AsyncVectorEnv``).
Which settings a level accepts is declared by the level (``task_params``); envs reject anything
else with a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from babyworld.validation import ValidationError

#: ``Level`` or ``Level[settings]``, as :attr:`Task.name` writes it.
_NAME = re.compile(r"([A-Za-z]\w*)(?:\[([^\[\]]*)\])?")


def _freeze(value: Any) -> Any:
    """Lists and tuples become tuples (recursively) so that a task stays hashable."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict | set):
        raise ValidationError(f"task parameters must be scalars or sequences, got {value!r}")
    return value


def _has_bool(value: Any) -> bool:
    """Whether a (frozen) parameter value is or holds a boolean.

    No level takes a boolean per episode, and ``True == 1`` would make ``max_words=True`` the
    same task (equal and with the same hash) as ``max_words=1``.
    """
    if isinstance(value, tuple):
        return any(_has_bool(v) for v in value)
    return isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Task:
    """A level and its per-episode settings.

    Attributes:
        level: the level's name (``"Point"``, ``"Name"``, ``"Request"``, ``"Chat"``).
        params: sorted ``(name, value)`` pairs of the level's per-episode settings.
    """

    level: str
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.level, str) or not self.level:
            raise ValidationError(f"Task.level must be a level name, got {self.level!r}")
        names = [k for k, _ in self.params]
        if names != sorted(set(names)):
            raise ValueError(
                f"Task.params must be sorted, unique (name, value) pairs, got {self.params!r}; "
                "build tasks with Task.make(level, **params)"
            )
        for name, value in self.params:
            if _has_bool(value):
                raise ValidationError(
                    f"task setting {name}={value!r} is a boolean; no level takes a boolean per "
                    "episode (use an integer, e.g. max_words=1, or a tuple of names)"
                )

    @classmethod
    def make(cls, level: str, **params: Any) -> Task:
        """``Task.make("Name", attributes=("shape",))``."""
        return cls(level, tuple(sorted((k, _freeze(v)) for k, v in params.items())))

    @classmethod
    def parse(cls, name: str) -> Task:
        """The task a :attr:`name` names: ``Task.parse("Request[max_words=1]")``.

        The inverse of :attr:`name`: a setting's value is an integer if it reads as one, else a
        tuple of the ``+``-separated names (``Name[attributes=shape+color]``; a single name is a
        one-element tuple, as :attr:`name` shows ``attributes=("shape",)``).

        Raises:
            ValueError: ``name`` is not ``Level`` or ``Level[key=value,...]``.
        """
        m = _NAME.fullmatch(name.strip()) if isinstance(name, str) else None
        if m is None:
            raise ValidationError(
                f"cannot read a task from {name!r}; write a level, or a level and its settings "
                "as Task.name shows them, e.g. 'Request' or 'Request[max_words=1]' or "
                "'Name[attributes=shape+color]'"
            )
        params: dict[str, Any] = {}
        for part in filter(None, (m.group(2) or "").split(",")):
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key.isidentifier() or not value or key in params:
                raise ValidationError(
                    f"cannot read the setting {part!r} of task {name!r}; settings are unique "
                    "key=value pairs separated by commas, e.g. 'Request[max_words=1]'"
                )
            try:
                params[key] = int(value)
            except ValueError:
                params[key] = tuple(v.strip() for v in value.split("+"))
        return cls.make(m.group(1), **params)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The settings as a dict."""
        return dict(self.params)

    @property
    def name(self) -> str:
        """A short, stable key for logs and tables, e.g. ``Name[attributes=shape]``."""
        if not self.params:
            return self.level
        parts = []
        for k, v in self.params:
            shown = "+".join(map(str, v)) if isinstance(v, tuple) else str(v)
            parts.append(f"{k}={shown}")
        return f"{self.level}[{','.join(parts)}]"

    def check_level(self, level: str, task_params: tuple[str, ...]) -> None:
        """``ValueError`` unless the task is for ``level`` and sets only its ``task_params``."""
        if self.level != level:
            raise ValueError(
                f"task {self.name!r} is for level {self.level!r} but this env is "
                f"{level!r}; use babyworld/Ladder-v0 to switch levels between episodes"
            )
        unknown = set(self.kwargs) - set(task_params)
        if unknown:
            raise ValueError(
                f"task {self.name!r} sets {sorted(unknown)}, which level {level!r} does not "
                f"take per episode; it takes {list(task_params) or 'no settings'}"
            )

    def __str__(self) -> str:
        return self.name


def task_from_options(options: Any) -> Task | None:
    """The task in ``reset`` options; ``None`` when absent or ``None`` (the env's own settings).

    Raises:
        ValueError: options that are not a dict, an unknown option key, or a task that is not a
            :class:`Task` (a :class:`~babyworld.validation.ValidationError`).
    """
    if options is None:
        return None
    if not isinstance(options, dict):
        raise ValidationError(f"reset options must be a dict or None, got {options!r}")
    unknown = set(options) - {"task"}
    if unknown:
        raise ValueError(
            f"unknown reset options {sorted(map(str, unknown))}; babyworld envs take only "
            "options={'task': Task(...)}"
        )
    task = options.get("task")
    if task is not None and not isinstance(task, Task):
        raise ValidationError(
            "options['task'] must be a babyworld.Task (e.g. Task.make('Point')) or None (the "
            f"env's own settings), got {task!r}"
        )
    return task
