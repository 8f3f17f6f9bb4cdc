"""The parent as curriculum designer (OMNI style): the frozen LLM picks what to practise next.

The LLM is never asked for free text. Every ``every`` episodes the baby's abilities are summarised
in a few fixed sentences (success bucketed into words, so the set of summaries is finite), and each
task description not yet mastered is scored as a continuation of that summary with calibrated
scoring — per-token PMI against the same prompt with the ability words left out (DESIGN.md §3).
The best scoring candidate becomes the task; decisions are cached by summary text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from babyworld.curricula.base import (
    Curriculum,
    EpisodeStats,
    RetentionWindows,
    check_count,
    check_fraction,
    sample_with_retest,
)
from babyworld.parent import Parent, resolve_parent
from babyworld.parent.judge import calibrated_scores
from babyworld.task import Task
from babyworld.validation import ValidationError

#: What the baby practises at each level, as an English gerund phrase.
LEVEL_DESCRIPTIONS: dict[str, str] = {
    "Point": "pointing at the toy mom asks for",
    "Name": "saying the colour and the name of a toy",
    "Request": "asking for the toy it needs with a few words",
    "Chat": "talking with mom",
}

#: ``Name`` descriptions by the set of attributes asked about.
NAME_DESCRIPTIONS: dict[frozenset[str], str] = {
    frozenset({"shape"}): "saying the name of a toy",
    frozenset({"color"}): "saying the colour of a toy",
    frozenset({"shape", "color"}): "saying the colour and the name of a toy",
}

#: Words for a capability estimate ``p``: below ``learning``, below ``mastery``, otherwise.
ABILITY_WORDS = ("cannot do this yet", "is learning this", "can do this")

#: First line of both contexts.
INTRO = "A mother teaches her baby one skill at a time."
#: Last line of both contexts; each task description is scored as its continuation.
ASK = "The skill the baby should practise next is"


def describe_tasks(
    tasks: Sequence[Task], descriptions: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """One distinct English phrase per task.

    A phrase comes from ``descriptions[task.name]`` if given, else from the level
    (:data:`LEVEL_DESCRIPTIONS`; ``Name`` by its ``attributes``, :data:`NAME_DESCRIPTIONS`).
    Tasks of the same level that would read the same get their settings appended in brackets.

    Raises:
        ValueError: a task of an unknown level has no description, or two tasks read the same.
    """
    descriptions = dict(descriptions or {})
    unknown = sorted(set(descriptions) - {t.name for t in tasks})
    if unknown:
        raise ValueError(f"descriptions given for tasks not in the task space: {unknown}")
    out: list[str] = []
    for t in tasks:
        if t.name in descriptions:
            out.append(str(descriptions[t.name]).strip())
        elif t.level == "Name" and "attributes" in t.kwargs:
            out.append(NAME_DESCRIPTIONS.get(frozenset(t.kwargs["attributes"]), "saying a word"))
        elif t.level in LEVEL_DESCRIPTIONS:
            out.append(LEVEL_DESCRIPTIONS[t.level])
        else:
            raise ValueError(
                f"no description for task {t.name}; pass descriptions={{{t.name!r}: "
                "'doing something'}} (an English gerund phrase)"
            )
    base = list(out)
    for i, t in enumerate(tasks):
        if base.count(base[i]) > 1 and t.name not in descriptions and t.params:
            out[i] = f"{base[i]} ({t.name[len(t.level) + 1 : -1]})"
    dupes = sorted({d for d in out if out.count(d) > 1})
    if dupes:
        raise ValueError(f"two tasks have the same description {dupes}; give distinct descriptions")
    if any(not d for d in out):
        raise ValueError("task descriptions must not be empty")
    return tuple(out)


def ability_summary(
    descriptions: Sequence[str], estimates: Sequence[float], learning: float, mastery: float
) -> str:
    """A finite-vocabulary summary of what the baby can do, one line per task.

    ``"- <Description>: the baby <words>."`` with ``<words>`` from :data:`ABILITY_WORDS`:
    ``p < learning`` -> "cannot do this yet", ``learning <= p < mastery`` -> "is learning this",
    ``p >= mastery`` -> "can do this".
    """
    lines = []
    for d, p in zip(descriptions, estimates, strict=True):
        words = ABILITY_WORDS[0] if p < learning else ABILITY_WORDS[1 if p < mastery else 2]
        lines.append(f"- {d[:1].upper()}{d[1:]}: the baby {words}.")
    return "\n".join(lines)


def skill_list(descriptions: Sequence[str]) -> str:
    """The summary's lines without the ability words (the neutral context's list)."""
    return "\n".join(f"- {d[:1].upper()}{d[1:]}." for d in descriptions)


class ParentDesignedCurriculum(Curriculum):
    """The frozen parent LLM chooses the next task from a summary of the baby's abilities.

    A decision is taken at the first :meth:`sample_task` and again at the first one after every
    ``every`` further finished episodes:

    1. ``summary`` = :func:`ability_summary` of the capability estimates ``p_k``;
    2. candidates = tasks with ``p_k < mastery`` (none left: the last task, no parent call);
    3. ``score_k = mean_t [log p(x_t | INTRO, summary, ASK) - log p(x_t | INTRO, skills, ASK)]``
       for the continuation ``x = " <description_k>."``, where ``skills`` is the summary's list
       without the ability words (:func:`skill_list`) — per-token PMI of each description with
       the *ability information* alone, since both contexts name every task
       (:func:`~babyworld.parent.judge.calibrated_scores`, one batched :meth:`Parent.score`
       call);
    4. the chosen task is ``argmax_k score_k`` over the candidates (ties: the earliest task).

    Decisions are cached by summary text (``parent_cache_hits`` counts reuses) and logged in
    :attr:`choices`. Between decisions, ``sample_task`` returns the chosen task or, with
    probability ``retest_rate``, a uniformly chosen earlier task (one before it in :attr:`tasks`)
    as a re-test; episodes of earlier tasks fill per-task retention windows of the last ``window``
    episodes, logged as ``retention/<task.name>``.

    Args:
        tasks: the ordered task space, easiest first.
        parent: a parent instance, a parent spec string (``"smollm2"``, ``"scripted"``, ...), or
            any object with a batched ``score(contexts, continuations)``.
        every: episodes between decisions, ``>= 1``.
        retest_rate: probability of a re-test of an earlier task, in ``[0, 1]``.
        window: episodes kept per retention window, ``>= 1``.
        learning: estimates below this read "cannot do this yet", in ``[0, 1]``.
        mastery: estimates at or above this read "can do this" and are not candidates, in
            ``(0, 1]`` and ``>= learning``.
        descriptions: English gerund phrase per task name, overriding :func:`describe_tasks`.
        beta: step size of the success estimate ``p <- p + beta (s - p)``, in ``(0, 1]``.

    Attributes:
        choices: ``(episode, summary, chosen task name, {candidate name: score})`` per decision.
        cache: ``summary -> (chosen task index, {candidate name: score})``.
        cache_hits: decisions answered from :attr:`cache`.
        descriptions: the phrase of each task, in task order.
    """

    kind = "parent"

    def __init__(
        self,
        tasks: Sequence[Task | str],
        parent: Parent | str,
        *,
        every: int = 50,
        retest_rate: float = 0.1,
        window: int = 100,
        learning: float = 0.2,
        mastery: float = 0.8,
        descriptions: Mapping[str, str] | None = None,
        beta: float = 0.1,
    ) -> None:
        super().__init__(tasks, beta=beta)
        self.every = check_count("every", every)
        self.retest_rate = check_fraction("retest_rate", retest_rate)
        self.window = check_count("window", window)
        self.learning = check_fraction("learning", learning)
        self.mastery = check_fraction("mastery", mastery, open_low=True)
        if self.learning > self.mastery:
            raise ValueError(f"learning ({learning}) must not exceed mastery ({mastery})")
        if isinstance(parent, str):
            parent = resolve_parent(parent)
        if not callable(getattr(parent, "score", None)):
            raise ValidationError(
                f"parent must be a babyworld Parent or a spec string, got {type(parent).__name__}"
            )
        self.parent = parent
        self.descriptions = describe_tasks(self.tasks, descriptions)
        self.choice: int | None = None
        self.cache: dict[str, tuple[int, dict[str, float]]] = {}
        self.cache_hits = 0
        self.choices: list[tuple[int, str, str, dict[str, float]]] = []
        self.retest_episodes = 0
        self._since_choice = 0
        self._retention = RetentionWindows(self.window)

    @property
    def parent_label(self) -> str:
        """The parent's label (part of :meth:`config`: a cache is only valid for its parent)."""
        return str(getattr(self.parent, "label", type(self.parent).__name__))

    def summary(self) -> str:
        """The ability summary the parent would see now."""
        return ability_summary(self.descriptions, self._p, self.learning, self.mastery)

    def prompts(self, summary: str) -> tuple[str, str]:
        """``(context, neutral context)`` for a summary; descriptions continue both."""
        neutral = f"{INTRO}\n{skill_list(self.descriptions)}\n{ASK}"
        return f"{INTRO}\n{summary}\n{ASK}", neutral

    def _decide(self) -> int:
        """Choose the task for the next ``every`` episodes (cached by summary); returns its index."""
        summary = self.summary()
        if summary in self.cache:
            self.cache_hits += 1
            index, scores = self.cache[summary]
        else:
            candidates = [i for i, p in enumerate(self._p) if p < self.mastery]
            if not candidates:
                index, scores = len(self.tasks) - 1, {}
            else:
                context, neutral = self.prompts(summary)
                n = len(candidates)
                values = calibrated_scores(
                    self.parent,
                    [context] * n,
                    [neutral] * n,
                    [f" {self.descriptions[i]}." for i in candidates],
                )
                if not np.all(np.isfinite(values)):
                    raise RuntimeError(
                        f"parent {self.parent_label} gave non-finite scores {values.tolist()} "
                        "for the curriculum's candidate tasks"
                    )
                index = candidates[int(np.argmax(values))]
                scores = {
                    self.tasks[i].name: float(v) for i, v in zip(candidates, values, strict=True)
                }
            self.cache[summary] = (index, scores)
        self.choice = index
        self._since_choice = 0
        self.choices.append((self.episodes, summary, self.tasks[index].name, dict(scores)))
        return index

    def _sample(self, rng: np.random.Generator) -> int:
        choice = self.choice
        if choice is None or self._since_choice >= self.every:
            choice = self._decide()
        return sample_with_retest(rng, choice, self.retest_rate)

    def _observe(self, index: int, stats: EpisodeStats) -> None:
        self._since_choice += 1
        if self.choice is not None and index < self.choice:
            self.retest_episodes += 1
            self._retention.record(index, stats.success)

    def config(self) -> dict[str, Any]:
        """Hyperparameters, descriptions and the parent's label."""
        return {
            **super().config(),
            "every": self.every,
            "retest_rate": self.retest_rate,
            "window": self.window,
            "learning": self.learning,
            "mastery": self.mastery,
            "descriptions": list(self.descriptions),
            "parent": self.parent_label,
        }

    def log(self) -> dict[str, float]:
        """Metrics, on top of ``episodes`` and ``p/<task.name>``.

        ``parent_choice`` (index of the chosen task, once chosen), ``parent_decisions``,
        ``parent_cache_hits``, ``retest_episodes`` and ``retention/<task.name>`` for earlier tasks
        with episodes in their retention window.
        """
        out = super().log()
        if self.choice is not None:
            out["parent_choice"] = float(self.choice)
        out["parent_decisions"] = float(len(self.choices))
        out["parent_cache_hits"] = float(self.cache_hits)
        out["retest_episodes"] = float(self.retest_episodes)
        for i, mean in self._retention.means().items():
            out[f"retention/{self.tasks[i].name}"] = mean
        return out

    def _state(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "since_choice": self._since_choice,
            "cache": {s: [i, dict(sc)] for s, (i, sc) in self.cache.items()},
            "cache_hits": self.cache_hits,
            "choices": [[e, s, name, dict(sc)] for e, s, name, sc in self.choices],
            "retest_episodes": self.retest_episodes,
            "retention": self._retention.state_dict(),
        }

    def _load(self, state: Mapping[str, Any]) -> dict[str, Any]:
        k = len(self.tasks)
        choice = state["choice"]
        if choice is not None:
            choice = int(choice)
            if not 0 <= choice < k:
                raise ValueError(f"choice {choice} is outside 0..{k - 1}")
        cache = {}
        for summary, (index, scores) in state["cache"].items():
            if not 0 <= int(index) < k:
                raise ValueError(f"cached choice {index} is outside 0..{k - 1}")
            cache[str(summary)] = (int(index), {str(n): float(v) for n, v in scores.items()})
        choices = [
            (int(e), str(s), str(name), {str(n): float(v) for n, v in sc.items()})
            for e, s, name, sc in state["choices"]
        ]
        retention = RetentionWindows(self.window)
        retention.load_state_dict(state["retention"], len(self.tasks))
        return {
            "choice": choice,
            "_since_choice": int(state["since_choice"]),
            "cache": cache,
            "cache_hits": int(state["cache_hits"]),
            "choices": choices,
            "retest_episodes": int(state["retest_episodes"]),
            "_retention": retention,
        }
