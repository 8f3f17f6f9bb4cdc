"""How faithful the parent's narration is to its own world (``babyworld parent-eval --fidelity``).

The parent is the baby's whole world: what it says is what the world model learns. Its words are
checked against what the env knows, over real env situations (episodes reset with seeds ``seed,
seed + 1, ...``; one exchange each, the act right in every other situation and a random wrong act
in the others, so both kinds of reaction are seen). The envs run with
``reward_source="parent"``, so ``info["success"]`` is the parent's own verdict. Every measure is a
string check on the parent's words, decided as written below:

- ``verdict`` (Point, Name, Chat): the reaction's polarity matches the parent's verdict. A
  reaction *accepts* if its first word (after an opening "oh") is one of :data:`YES_WORDS`
  (``"yes"``, ``"good"``, ``"thank"``...), *corrects* if it is one of :data:`NO_WORDS` or, failing
  both, the reaction says "not"; anything else counts as neither, so as disagreeing. Request has
  no verdict: its reaction is checked for handing over, below.
- ``handed`` (Point, Request): the reaction names the toy actually handed over (its colour and
  shape words); Request's "nothing" needs no name.
- ``shown`` (Name): the reaction names the shown toy's word for what was asked (after a wrong
  word: the right word, as a parent correcting would) or, after a right word, that word.
- ``no_stray_toy`` (Point, Name, Request): no toy word (colour or shape) of the reaction is absent
  from the scene.
- ``no_invented_toy`` (Point, Name, Request): the same, the baby's own words aside (a correction
  that repeats the baby's wrong word, "It is not a car", invents no toy).
- ``request`` (Point): the request names the wanted toy with both its attributes.
- ``question`` (Name): the question asks about the asked attribute ("color"/"colour" in it for a
  colour question, neither for a shape question).
- ``topic`` (Chat): the parent's line says a word of its situation: a word of the situation's
  reference (:data:`~babyworld.envs.chat.CHAT_REFERENCE`) or of the situation's own description
  (stop words aside).

Diversity: per measure's text kind (requests, questions, reactions, lines), the number of
distinct strings and the share of the most frequent one.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from babyworld.envs.chat import CHAT_REFERENCE
from babyworld.envs.prompts import asks_color
from babyworld.envs.registration import level_class
from babyworld.parent import Parent
from babyworld.vector.local import ParentBatchVectorEnv
from babyworld.world import COLORS, SHAPES

#: Levels and the measures each has.
MEASURES: dict[str, tuple[str, ...]] = {
    "Point": ("request", "verdict", "handed", "no_stray_toy", "no_invented_toy"),
    "Name": ("question", "verdict", "shown", "no_stray_toy", "no_invented_toy"),
    "Request": ("handed", "no_stray_toy", "no_invented_toy"),
    "Chat": ("topic", "verdict"),
}
YES_WORDS = frozenset("yes yeah good great right well thank thanks correct that's here".split())
NO_WORDS = frozenset("no nope hmm wrong".split())
_STOP = frozenset("a an the is it to of in on at and baby mom comes holds outside".split())


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (apostrophes kept: ``that's``)."""
    return re.findall(r"[a-z']+", text.lower())


def polarity(reaction: str) -> bool | None:
    """``True`` (accepts), ``False`` (corrects) or ``None`` (neither), as the module says.

    The first word decides (after an opening "oh": "Oh no, ..." corrects); without a decisive
    first word, a "not" anywhere corrects.
    """
    w = words(reaction)
    if not w:
        return None
    first = w[1] if w[0] == "oh" and len(w) > 1 else w[0]
    if first in NO_WORDS:
        return False
    if first in YES_WORDS:
        return True
    return False if "not" in w else None


def names(text: str, toy_name: str) -> bool:
    """Every word of ``toy_name`` (e.g. ``"red ball"``) is a word of ``text``."""
    return set(toy_name.split()) <= set(words(text))


def stray_toy_words(text: str, scene_words: set[str]) -> set[str]:
    """Colour and shape words of ``text`` that no toy of the scene has."""
    said = set(words(text)) | {w.rstrip("s") for w in words(text)}  # "balls" names a ball
    return (said & (set(COLORS) | set(SHAPES))) - scene_words


def about_situation(line: str, situation: str) -> bool:
    """The line says a word of the situation's reference or description (stop words aside)."""
    keys = set(CHAT_REFERENCE[situation]) | (set(words(situation)) - _STOP)
    return bool(keys & set(words(line)))


@dataclass(frozen=True)
class FidelityReport:
    """The measures of one level (shares in [0, 1]) with diversity, see the module docstring."""

    level: str
    parent: str
    situations: int
    measures: dict[str, float]
    diversity: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def check_measures(levels: list[str] | tuple[str, ...], measures: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` for a level or measure :data:`MEASURES` does not know."""
    unknown = [lv for lv in levels if lv not in MEASURES]
    if unknown:
        raise ValueError(f"unknown level(s) {unknown} for --fidelity; choose from {list(MEASURES)}")
    known = sorted({m for lv in levels for m in MEASURES[lv]})
    bad = [m for m in measures if m not in known]
    if bad:
        raise ValueError(
            f"unknown fidelity measure(s) {bad} for {list(levels)}; choose from {known}"
        )


def measure_fidelity(
    parent: Parent, level: str, situations: int = 500, seed: int = 0, batch: int = 64
) -> FidelityReport:
    """Measure ``parent``'s narration on ``situations`` real situations of ``level``.

    Raises:
        ValueError: an unknown level or a non-positive count.
    """
    check_measures([level])
    if isinstance(situations, bool) or not isinstance(situations, int) or situations < 1:
        raise ValueError(f"situations must be a positive integer, got {situations!r}")
    t0 = time.perf_counter()
    hits: dict[str, list[float]] = {m: [] for m in MEASURES[level]}
    texts: dict[str, list[str]] = {}
    n = min(batch, situations)
    kwargs = {} if level in ("Request", "Chat") else {"reward_source": "parent"}
    envs = ParentBatchVectorEnv(level_class(level), n, parent, **kwargs)
    for start in range(0, situations, n):
        _, infos = envs.reset(seed=seed + start)
        live = min(n, situations - start)
        opened = [str(r) for r in infos["parent_request"][:live]]
        states = [_state(level, env) for env in envs.envs[:live]]
        actions = _acts(level, envs, start)
        for _ in range(_steps(level)):
            _, _, _, _, infos = envs.step(actions.pop(0))
        for i in range(live):
            _score(level, hits, texts, states[i], opened[i], _info(infos, i))
    envs.close()
    return FidelityReport(
        level=level,
        parent=parent.label,
        situations=situations,
        measures={m: float(np.mean(v)) for m, v in hits.items()},
        diversity={
            kind: {"distinct": len(set(v)), "top_share": Counter(v).most_common(1)[0][1] / len(v)}
            for kind, v in texts.items()
        },
        seconds=time.perf_counter() - t0,
    )


def _state(level: str, env: Any) -> dict[str, Any]:
    """What the checks need from the env before the act (read after reset)."""
    scene = {w for o in env._scene.objects for w in (o.color, o.shape)}
    state: dict[str, Any] = {"scene_words": scene}
    if level == "Point":
        state["wanted"] = env._task.wanted.name
    elif level == "Name":
        state["attribute"], state["shown"] = env._task.attribute, env._task.shown
    elif level == "Chat":
        state["situation"] = env._target()
    return state


def _steps(level: str) -> int:
    return 2 if level in ("Request", "Chat") else 1  # one word, then <stop>


def _acts(level: str, envs: ParentBatchVectorEnv, start: int) -> list[np.ndarray]:
    """The acts of one exchange per env: right in every other situation, else a random wrong one."""
    rng = np.random.default_rng(start)
    if level in ("Point", "Name"):
        out = []
        for i, env in enumerate(envs.envs):
            right = env.right_action()
            wrong = [a for a in range(len(env.words)) if a != right]
            out.append(right if (start + i) % 2 == 0 else int(rng.choice(wrong)))
        return [np.array(out)]
    first = np.array([int(rng.integers(env.stop_action)) for env in envs.envs])
    if level == "Request":  # ask for the needed toy's shape in every other situation
        for i, env in enumerate(envs.envs):
            if (start + i) % 2 == 0:
                first[i] = env.words.index(env._task.wanted.shape)
    return [first, np.array([env.stop_action for env in envs.envs])]


def _info(infos: dict, i: int) -> dict[str, Any]:
    keys = ("parent_feedback", "success", "baby_utterance", "baby_meaning")
    return {k: infos[k][i] for k in keys}


def _score(level, hits, texts, state, opened, info) -> None:
    reaction = str(info["parent_feedback"])
    texts.setdefault("reactions", []).append(reaction)
    if level == "Point":
        texts.setdefault("requests", []).append(opened)
        hits["request"].append(names(opened, state["wanted"]))
        got = str(info["baby_meaning"]).removeprefix("points at the ")
        hits["handed"].append(names(reaction, got))
    if level == "Name":
        texts.setdefault("questions", []).append(opened)
        hits["question"].append(asks_color(opened) == (state["attribute"] == "color"))
        right = state["shown"].attribute(state["attribute"])
        hits["shown"].append(right in words(reaction))
    if level == "Request":
        meaning = str(info["baby_meaning"])  # "asks for the red ball", or "says nothing"
        given = meaning.removeprefix("asks for the ")
        hits["handed"].append(names(reaction, given) if given != meaning else True)
    if level == "Chat":
        texts.setdefault("lines", []).append(opened)
        hits["topic"].append(about_situation(opened, state["situation"]))
    if "verdict" in hits:
        hits["verdict"].append(polarity(reaction) == bool(info["success"]))
    if "no_stray_toy" in hits:
        stray = stray_toy_words(reaction, state["scene_words"])
        hits["no_stray_toy"].append(not stray)
        hits["no_invented_toy"].append(not stray - set(words(str(info["baby_utterance"]))))
