"""The parent measured as a judge where it works: in the env, over every act the baby could take.

``babyworld parent-eval --in-env`` runs this. A probe that scores only hand-picked options can
hide a judge's failure (Name's old judge preferred the shown toy's *other* attribute word in 47 of
72 cases while its probe looked fine), so each level is measured on real env situations — the
scene, the parent's own request, what it knows — with the env's own judge frames, over every
allowed act:

- ``top1``: the judge's best act is the one the world's verifier accepts;
- ``auc``: probability that a right act's ``consistency`` reward exceeds a wrong act's (pooled
  over situations; ties count half);
- ``right_reward`` / ``wrong_reward``: mean ``consistency`` of right and of wrong acts;
- ``other_attribute_mass`` (Name): the judge's probability on the shown toy's other attribute word.

Request is measured by the noisy-channel reading of baby utterances (one to three words, right,
wrong and ungrammatical) built from the toys on the table: ``top1`` is the share read as the toy
they name.

Chat is measured against its held-out reference (:data:`~babyworld.envs.chat.CHAT_REFERENCE`) over
every one-word reply and :data:`CHAT_PAIRS` two-word replies per situation (drawn with the
situation's seed): ``top1`` is the share of situations whose best-judged reply the reference
accepts; ``auc``, ``right_reward`` and ``wrong_reward`` put the reference's fitting replies against
the others; ``verdict_agreement`` is the share of replies on which the parent's verdict equals the
reference's; ``precision`` the share of the replies the parent accepts that the reference accepts,
``recall`` the converse; ``accepted`` and ``reference_accepted`` the shares each accepts;
``echo_accepted`` and
``echo_reference_accepted`` the same over *echoes*, replies that only repeat words of the parent's
line (:func:`~babyworld.envs.chat.is_echo`), the easiest way to game a judge of relevance.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from babyworld.envs.chat import CHAT_WORDS, is_echo
from babyworld.envs.name import NameEnv
from babyworld.envs.registration import level_class, rungs
from babyworld.parent import Parent
from babyworld.rewards import components
from babyworld.vector.local import ParentBatchVectorEnv
from babyworld.world import WorldObject

#: Two-word replies judged per Chat situation (besides every one-word reply).
CHAT_PAIRS = 20


@dataclass(frozen=True)
class JudgeReport:
    """How well a parent judges one level, measured in the env (see the module docstring)."""

    level: str
    parent: str
    situations: int
    top1: float
    auc: float
    right_reward: float
    wrong_reward: float
    other_attribute_mass: float | None
    seconds: float
    verdict_agreement: float | None = None
    precision: float | None = None
    recall: float | None = None
    accepted: float | None = None
    reference_accepted: float | None = None
    echo_accepted: float | None = None
    echo_reference_accepted: float | None = None
    echoes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def pooled_auc(right: np.ndarray, wrong: np.ndarray) -> float:
    """``P(r > w) + P(r = w) / 2`` over every pair of a right and a wrong value."""
    r = np.asarray(right, np.float64)[:, None]
    w = np.asarray(wrong, np.float64)[None, :]
    if r.size == 0 or w.size == 0:
        raise ValueError("need at least one right and one wrong value")
    return float((r > w).mean() + 0.5 * (r == w).mean())


def evaluate_judge(
    parent: Parent,
    level: str,
    situations: int = 500,
    seed: int = 0,
    batch: int = 64,
    decisions: list[tuple[str, int]] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> JudgeReport:
    """Measure ``parent``'s judge on ``situations`` real situations of ``level``.

    Each situation is the first exchange of an episode reset with seed ``seed + i`` (a scene, the
    parent's own request, what is asked); the judge frames of later exchanges are built the same
    way. ``batch`` envs are reset and scored together (one parent call per phase). If
    ``decisions`` is a list, each judged item appends ``(what was judged, the judge's choice)``
    (see :func:`judge_agreement`). ``env_kwargs`` are the level's env arguments (e.g. Chat's
    ``distractors``).

    Raises:
        ValueError: an unknown level or a non-positive count.
    """
    if level not in rungs():
        raise ValueError(
            f"unknown level {level!r} for the in-env judge evaluation; choose from {rungs()}"
        )
    if isinstance(situations, bool) or not isinstance(situations, int) or situations < 1:
        raise ValueError(f"situations must be a positive integer, got {situations!r}")
    t0 = time.perf_counter()
    n = min(batch, situations)
    envs = ParentBatchVectorEnv(level_class(level), n, parent, **(env_kwargs or {}))
    acc: dict[str, list[float]] = {"top1": [], "right": [], "wrong": [], "other": []}
    for start in range(0, situations, n):
        envs.reset(seed=seed + start)
        live = envs.envs[: min(n, situations - start)]
        if level == "Request":
            _read_requests(parent, live, acc, decisions)
        elif level == "Chat":
            _judge_replies(parent, live, seed + start, acc, decisions)
        else:
            _judge_acts(parent, live, acc, decisions)
    envs.close()
    chat = {}
    if level == "Chat":
        mean = {k: float(np.mean(acc[k])) for k in ("agree", "judge", "ref")}
        judge, ref = np.array(acc["judge"], bool), np.array(acc["ref"], bool)
        chat = {
            "verdict_agreement": mean["agree"],
            "precision": float(ref[judge].mean()) if judge.any() else None,
            "recall": float(judge[ref].mean()) if ref.any() else None,
            "accepted": mean["judge"],
            "reference_accepted": mean["ref"],
            "echo_accepted": float(np.mean(acc["echo_judge"])) if acc["echo_judge"] else None,
            "echo_reference_accepted": (
                float(np.mean(acc["echo_ref"])) if acc["echo_ref"] else None
            ),
            "echoes": len(acc["echo_judge"]),
        }
    return JudgeReport(
        level=level,
        parent=parent.label,
        situations=situations,
        top1=float(np.mean(acc["top1"])),
        auc=pooled_auc(np.array(acc["right"]), np.array(acc["wrong"])),
        right_reward=float(np.mean(acc["right"])),
        wrong_reward=float(np.mean(acc["wrong"])),
        other_attribute_mass=float(np.mean(acc["other"])) if acc["other"] else None,
        seconds=time.perf_counter() - t0,
        **chat,
    )


def chat_replies(rng: np.random.Generator) -> list[str]:
    """Every one-word Chat reply and :data:`CHAT_PAIRS` two-word replies drawn from ``rng``."""
    pairs = rng.choice(len(CHAT_WORDS), size=(CHAT_PAIRS, 2))
    return [*CHAT_WORDS, *(f"{CHAT_WORDS[a]} {CHAT_WORDS[b]}" for a, b in pairs)]


def _judge_replies(
    parent: Parent, envs: list, seed: int, acc: dict[str, list], decisions: list | None = None
) -> None:
    """Chat: the parent's verdict and judgement of each reply, against the reference."""
    for key in ("agree", "judge", "ref", "echo_judge", "echo_ref"):
        acc.setdefault(key, [])
    items = [
        (env, reply)
        for i, env in enumerate(envs)
        for reply in chat_replies(np.random.default_rng(seed + i))
    ]
    frames = [env._judge_requests(reply) for env, reply in items]
    scores = parent.score(
        [c for ctx, _ in frames for c in ctx], [x for _, xs in frames for x in xs]
    )
    best: dict[int, tuple[float, bool]] = {}
    at = 0
    for (env, reply), (ctx, _) in zip(items, frames, strict=True):
        mine, at = scores[at : at + len(ctx)], at + len(ctx)
        out = env._judge(reply, mine)
        ref = bool(out.true_success)
        acc["agree"].append(float(out.success == ref))
        acc["judge"].append(float(out.success))
        acc["ref"].append(float(ref))
        acc["right" if ref else "wrong"].append(out.consistency)
        if is_echo(env.view().said, reply):
            acc["echo_judge"].append(float(out.success))
            acc["echo_ref"].append(float(ref))
        if decisions is not None:
            decisions.append((repr(ctx), int(out.success)))
        if id(env) not in best or out.consistency > best[id(env)][0]:
            best[id(env)] = (out.consistency, ref)
    acc["top1"] += [float(ref) for _, ref in best.values()]


def _judge_acts(
    parent: Parent, envs: list, acc: dict[str, list[float]], decisions: list | None = None
) -> None:
    """Point, Name: every allowed act of every env, with the env's own judge frames."""
    requests = [env.teacher_requests() for env in envs]
    contexts = [c for ctx, _ in requests for c in ctx]
    conts = [x for _, cont in requests for x in cont]
    scores = parent.score(contexts, conts)
    at = 0
    for env, (ctx, _) in zip(envs, requests, strict=True):
        mine, at = scores[at : at + len(ctx)], at + len(ctx)
        judgements = env._judgements(mine)
        allowed = np.flatnonzero(env.action_masks())
        right = int(np.searchsorted(allowed, env.right_action()))
        acc["top1"].append(float(judgements.argmax() == right))
        if decisions is not None:
            decisions.append((repr(ctx), int(judgements.argmax())))
        for k in range(len(allowed)):
            reward = components.consistency(judgements, k, env.consistency_temperature)
            acc["right" if k == right else "wrong"].append(reward)
        if isinstance(env, NameEnv):
            task = env._task
            other = task.shown.attribute("color" if task.attribute == "shape" else "shape")
            pi = components.judge_distribution(judgements, env.consistency_temperature)
            k_other = np.flatnonzero(allowed == env.words.index(other))
            acc["other"].append(float(pi[k_other[0]]) if k_other.size else 0.0)


def request_utterances(objects: tuple[WorldObject, ...]) -> list[tuple[str, int]]:
    """Baby utterances about the toys on the table, each with the toy it names.

    For every toy: its shape, its colour, colour and shape, shape and colour (ungrammatical),
    ``want`` and its shape, its shape and ``please``. An utterance whose words fit several toys
    on the table is left out (it names none of them).
    """
    out = []
    for k, o in enumerate(objects):
        for words in (
            o.shape,
            o.color,
            f"{o.color} {o.shape}",
            f"{o.shape} {o.color}",
            f"want {o.shape}",
            f"{o.shape} please",
        ):
            said = set(words.split()) - {"want", "please"}
            fits = [j for j, p in enumerate(objects) if said <= {p.color, p.shape}]
            if fits == [k]:
                out.append((words, k))
    return out


def _read_requests(
    parent: Parent, envs: list, acc: dict[str, list[float]], decisions: list | None = None
) -> None:
    """Request: the noisy-channel reading (the env's own frames) of utterances about the toys."""
    items = []
    for env in envs:
        for words, meant in request_utterances(env._scene.objects):
            items.append((env, words, meant))
    frames = [env._judge_requests(words) for env, words, _ in items]
    contexts = [c for ctx, _ in frames for c in ctx]
    scores = parent.score(contexts, [x for _, cont in frames for x in cont])
    at = 0
    for (env, _, meant), (ctx, _) in zip(items, frames, strict=True):
        mine, at = scores[at : at + len(ctx)], at + len(ctx)
        loglik = env._channel(mine, env.n_objects)
        acc["top1"].append(float(loglik.argmax() == meant))
        if decisions is not None:
            decisions.append((repr(ctx), int(loglik.argmax())))
        for k in range(env.n_objects):
            reward = components.consistency(loglik, k, env.consistency_temperature)
            acc["right" if k == meant else "wrong"].append(reward)


@dataclass(frozen=True)
class Agreement:
    """How often a parent's judge decides as a reference parent's does, in the env.

    Attributes:
        level: the level measured.
        parent: the candidate's label.
        reference: the reference's label.
        items: judged items (Point, Name: situations; Request: utterances).
        agreement: share of items whose chosen act (Request: toy) is the reference's.
        same_frames: share of items the two judged with identical frames (the parents' own
            generated requests can differ, and with them the situation).
        top1: the candidate's top-1 accuracy; ``reference_top1`` the reference's.
    """

    level: str
    parent: str
    reference: str
    items: int
    agreement: float
    same_frames: float
    top1: float
    reference_top1: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def judge_agreement(
    parent: Parent, reference: Parent, level: str, situations: int = 200, seed: int = 0
) -> Agreement:
    """Judge the same env situations with ``parent`` and ``reference``; compare the choices.

    Both run :func:`evaluate_judge` from the same seeds; item ``k`` of one is item ``k`` of the
    other (the same scene and act order), so the share of equal choices is the agreement.
    """
    mine: list[tuple[str, int]] = []
    theirs: list[tuple[str, int]] = []
    a = evaluate_judge(parent, level, situations, seed, decisions=mine)
    b = evaluate_judge(reference, level, situations, seed, decisions=theirs)
    if len(mine) != len(theirs):  # Request's utterances depend only on the scene: cannot differ
        raise RuntimeError(f"judged {len(mine)} items but the reference {len(theirs)}")
    return Agreement(
        level=level,
        parent=parent.label,
        reference=reference.label,
        items=len(mine),
        agreement=float(np.mean([x[1] == y[1] for x, y in zip(mine, theirs, strict=True)])),
        same_frames=float(np.mean([x[0] == y[0] for x, y in zip(mine, theirs, strict=True)])),
        top1=a.top1,
        reference_top1=b.top1,
    )
