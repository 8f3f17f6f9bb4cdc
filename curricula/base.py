"""The curriculum protocol: which task the next episode gets, and what the baby can do so far.

A curriculum owns an ordered task space (``tasks``), samples the task of each new episode from an
``np.random.Generator`` it is handed (never from a generator of its own, so two vector-env
flavours given the same seeds see the same task sequence), and is told each finished episode's
outcome through :meth:`Curriculum.update`. Every curriculum keeps the same capability estimate per
task, an exponential moving average of episode success started at 0:

``p_k <- p_k + beta * (s - p_k)``,

and ``update`` returns its change ``p_after - p_before`` — the ``progress`` reward signal, which
lies in ``[-beta, beta]`` because ``s`` and ``p_k`` lie in ``[0, 1]``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from babyworld.task import Task
from babyworld.validation import ValidationError

#: The ladder from symbols to dialogue, easiest first.
DEFAULT_LADDER: tuple[Task, ...] = (
    Task.make("Point"),
    Task.make("Name", attributes=("shape",)),
    Task.make("Name", attributes=("shape", "color")),
    Task.make("Request", max_words=2),
    Task.make("Chat"),
)

#: Slack when comparing a window mean with a threshold (sums of floats are not exact).
MEAN_TOLERANCE = 1e-12


@dataclass(frozen=True)
class EpisodeStats:
    """What a curriculum learns from one finished episode.

    Attributes:
        success: fraction of the episode's exchanges that succeeded, in ``[0, 1]``.
        exchanges: number of exchanges the episode had (``>= 0``).
        steps: number of env steps the episode took (``>= 0``).
    """

    success: float
    exchanges: int
    steps: int

    def __post_init__(self) -> None:
        s = self.success
        if isinstance(s, bool | np.bool_):
            s = float(s)
        if not isinstance(s, int | float | np.integer | np.floating) or not 0.0 <= s <= 1.0:
            raise ValueError(
                f"EpisodeStats.success must be a fraction in [0, 1] (successful exchanges / "
                f"exchanges), got {self.success!r}"
            )
        object.__setattr__(self, "success", float(s))
        for field in ("exchanges", "steps"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise ValueError(f"EpisodeStats.{field} must be an integer >= 0, got {v!r}")
            object.__setattr__(self, field, int(v))


def check_fraction(name: str, value: float, *, open_low: bool = False) -> float:
    """``value`` as a float if it lies in ``[0, 1]`` (``(0, 1]`` with ``open_low``), else ValueError."""
    allowed = "(0, 1]" if open_low else "[0, 1]"
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (0.0 < value if open_low else 0.0 <= value) and value <= 1.0
    if not ok:
        raise ValueError(f"{name} must be in {allowed}, got {value!r}")
    return float(value)


def check_count(name: str, value: int) -> int:
    """``value`` as an int if it is an integer ``>= 1``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def as_task_space(tasks: Sequence[Task | str]) -> tuple[Task, ...]:
    """Validate an ordered task space; a plain string is the level with default settings.

    Raises:
        TypeError: ``tasks`` is not a sequence of tasks.
        ValueError: the sequence is empty or holds the same task (or task name) twice.
    """
    if isinstance(tasks, Task | str) or not isinstance(tasks, Sequence):
        raise ValidationError(
            f"tasks must be a sequence of babyworld.Task (e.g. [Task.make('Point')]), got {tasks!r}"
        )
    out = []
    for i, t in enumerate(tasks):
        if isinstance(t, str):
            t = Task.make(t)
        if not isinstance(t, Task):
            raise ValidationError(f"tasks[{i}] must be a babyworld.Task or a level name, got {t!r}")
        out.append(t)
    if not out:
        raise ValueError("a curriculum needs at least one task, got an empty task list")
    names = [t.name for t in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate tasks in the task space: {', '.join(dupes)}; list each once")
    return tuple(out)


def sample_with_retest(rng: np.random.Generator, current: int, retest_rate: float) -> int:
    """``current``, or with probability ``retest_rate`` a uniformly chosen earlier index.

    Nothing is drawn while ``current == 0`` (there is nothing earlier to re-test) or when
    ``retest_rate == 0``.
    """
    if current > 0 and retest_rate > 0 and rng.random() < retest_rate:
        return int(rng.integers(current))
    return current


class RetentionWindows:
    """Success of the last ``window`` episodes of each earlier (passed) task, keyed by task index.

    Args:
        window: episodes kept per task.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.windows: dict[int, deque[float]] = {}

    def record(self, index: int, success: float) -> None:
        """Add one episode of task ``index``."""
        self.windows.setdefault(index, deque(maxlen=self.window)).append(success)

    def means(self) -> dict[int, float]:
        """Mean success per task index with at least one episode."""
        return {i: math.fsum(w) / len(w) for i, w in sorted(self.windows.items()) if w}

    def state_dict(self) -> dict[str, list[float]]:
        """Windows as lists (keys are strings, for JSON)."""
        return {str(i): list(w) for i, w in sorted(self.windows.items())}

    def load_state_dict(self, state: Mapping[str, Sequence[float]], n_tasks: int) -> None:
        """Restore windows saved by :meth:`state_dict` (task indices must be below ``n_tasks``)."""
        windows = {}
        for i, w in state.items():
            if not 0 <= int(i) < n_tasks:
                raise ValueError(f"retention window of task index {i} outside 0..{n_tasks - 1}")
            windows[int(i)] = deque((float(s) for s in w), maxlen=self.window)
        self.windows = windows


class Curriculum(ABC):
    """Base class of every curriculum: task space, capability estimates, counters, checkpoints.

    Subclasses implement :meth:`_sample` (an index into :attr:`tasks`) and may extend
    :meth:`_observe` (called by :meth:`update` after the estimate moved), :meth:`config`,
    :meth:`log`, :meth:`_state` and :meth:`_load`.

    Args:
        tasks: the ordered task space (a string is a level with its default settings).
        beta: step size of the success estimate ``p <- p + beta (s - p)``, in ``(0, 1]``.

    Attributes:
        tasks: the ordered task space.
        kind: the factory name of the curriculum (``fixed``, ``ladder``, ``progress``, ``parent``).
        episodes: finished episodes seen by :meth:`update`.
    """

    kind: ClassVar[str] = ""

    def __init__(self, tasks: Sequence[Task | str], *, beta: float = 0.1) -> None:
        self.tasks: tuple[Task, ...] = as_task_space(tasks)
        self.beta = check_fraction("beta", beta, open_low=True)
        self._index = {t: i for i, t in enumerate(self.tasks)}
        self._p = [0.0] * len(self.tasks)
        self._task_episodes = [0] * len(self.tasks)
        self.episodes = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tasks=[{', '.join(t.name for t in self.tasks)}])"

    # -- task space ---------------------------------------------------------------------------

    def index(self, task: Task) -> int:
        """Position of ``task`` in :attr:`tasks`.

        Raises:
            ValueError: ``task`` is not in the task space.
        """
        try:
            return self._index[task]
        except (KeyError, TypeError):
            raise ValueError(
                f"task {task!s} is not in this curriculum's task space "
                f"({', '.join(t.name for t in self.tasks)})"
            ) from None

    def estimate(self, task: Task) -> float:
        """Current capability estimate ``p`` of ``task`` (0 before its first episode)."""
        return self._p[self.index(task)]

    @property
    def estimates(self) -> dict[str, float]:
        """Capability estimate per task name, in task order."""
        return {t.name: p for t, p in zip(self.tasks, self._p, strict=True)}

    # -- the protocol -------------------------------------------------------------------------

    def sample_task(self, rng: np.random.Generator) -> Task:
        """The task of the next episode.

        The result depends only on ``rng`` and this curriculum's state, never on a generator of
        its own, so the same seed gives the same task sequence whatever runs the envs. (The
        parent-designed curriculum takes a due decision here: a deterministic function of its
        state and its parent.)

        Args:
            rng: the caller's generator (e.g. the trainer's, seeded once).
        """
        if not isinstance(rng, np.random.Generator):
            raise ValidationError(
                f"sample_task() takes a numpy Generator (np.random.default_rng(seed)), got {rng!r}"
            )
        return self.tasks[self._sample(rng)]

    def update(self, task: Task, stats: EpisodeStats) -> float:
        """Fold in one finished episode of ``task``; returns the ``progress`` signal.

        ``progress = p_after - p_before`` with ``p_after = p_before + beta (s - p_before)`` and
        ``s = stats.success``, so ``progress`` lies in ``[-beta, beta]``.

        Raises:
            ValueError: ``task`` is not in the task space.
            TypeError: ``stats`` is not an :class:`EpisodeStats`.
        """
        i = self.index(task)
        if not isinstance(stats, EpisodeStats):
            raise ValidationError(
                f"update() takes EpisodeStats(success=..., exchanges=..., steps=...), got {stats!r}"
            )
        before = self._p[i]
        after = before + self.beta * (stats.success - before)
        self._p[i] = after
        self._task_episodes[i] += 1
        self.episodes += 1
        self._observe(i, stats)
        return after - before

    def log(self) -> dict[str, float]:
        """Metrics, without the ``curriculum/`` prefix the trainer adds.

        ``episodes`` and ``p/<task.name>`` (capability estimate); subclasses add their own.
        Keys whose value is undefined so far (e.g. an empty window) are left out.
        """
        out: dict[str, float] = {"episodes": float(self.episodes)}
        for t, p in zip(self.tasks, self._p, strict=True):
            out[f"p/{t.name}"] = p
        return out

    def config(self) -> dict[str, Any]:
        """Hyperparameters; a saved state loads only into a curriculum with the same ones."""
        return {"beta": self.beta}

    def state_dict(self) -> dict[str, Any]:
        """Complete state, plain Python types only (JSON- and ``torch.save``-safe)."""
        return {
            "kind": self.kind,
            "tasks": [t.name for t in self.tasks],
            "config": self.config(),
            "p": list(self._p),
            "task_episodes": list(self._task_episodes),
            "episodes": self.episodes,
            **self._state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` of the same kind, tasks and config.

        The load is all-or-nothing: on any error this curriculum is left as it was.

        Raises:
            ValueError: the state is from another curriculum kind, another task space (the
                message lists the tasks that differ), other hyperparameters, or is malformed.
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"a curriculum state is a dict from state_dict(), got {state!r}")
        missing = [k for k in ("kind", "tasks", "config", "p", "task_episodes") if k not in state]
        if missing:
            raise ValueError(f"malformed curriculum state: missing keys {missing}")
        if state["kind"] != self.kind:
            raise ValueError(
                f"the state is from a {state['kind']!r} curriculum; this is a {self.kind!r} "
                "curriculum"
            )
        self._check_tasks(list(state["tasks"]))
        ours, theirs = self.config(), dict(state["config"])
        if theirs != ours:
            diff = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
            details = "; ".join(f"{k}: saved {theirs.get(k)!r}, here {ours.get(k)!r}" for k in diff)
            raise ValueError(f"the state was saved with other settings ({details})")
        try:
            k = len(self.tasks)
            p = [float(x) for x in state["p"]]
            counts = [int(x) for x in state["task_episodes"]]
            if len(p) != k or len(counts) != k:
                raise ValueError(
                    f"expected {k} estimates and counts, got {len(p)} and {len(counts)}"
                )
            if not all(0.0 <= x <= 1.0 for x in p) or min(counts) < 0:
                raise ValueError("estimates must lie in [0, 1] and counts be >= 0")
            attrs = {"_p": p, "_task_episodes": counts, "episodes": int(state["episodes"])}
            attrs.update(self._load(state))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed curriculum state: {type(e).__name__}: {e}") from e
        self.__dict__.update(attrs)

    def _check_tasks(self, saved: list[str]) -> None:
        ours = [t.name for t in self.tasks]
        if saved == ours:
            return
        only_saved = [n for n in saved if n not in ours]
        only_here = [n for n in ours if n not in saved]
        if only_saved or only_here:
            detail = (
                f"only in the saved state: {only_saved or 'none'}; "
                f"only in this curriculum: {only_here or 'none'}"
            )
        else:
            detail = f"same tasks in another order (saved {saved}, here {ours})"
        raise ValueError(f"the state is from another task space: {detail}")

    # -- subclass hooks -----------------------------------------------------------------------

    @abstractmethod
    def _sample(self, rng: np.random.Generator) -> int:
        """Index of the next episode's task in :attr:`tasks`."""

    def _observe(self, index: int, stats: EpisodeStats) -> None:  # noqa: B027 - optional hook
        """React to a finished episode of ``tasks[index]`` (the estimate is already updated)."""

    def _state(self) -> dict[str, Any]:
        """Subclass state (plain Python types)."""
        return {}

    def _load(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Parse subclass state saved by :meth:`_state` into the attributes to set.

        Must not modify ``self``: the base class assigns the returned attributes only once the
        whole state has been parsed, so a malformed state changes nothing.
        """
        return {}
