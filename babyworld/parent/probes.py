"""A labelled probe set that measures a parent as a judge (``babyworld parent-eval``).

Each probe kind uses exactly the recipe the envs use, so the accuracy says how far the rewards can
be trusted with that parent:

- ``naming`` — Name's judge: the right word for a shown toy (of 6 shapes or 6 colours), by
  calibrated scoring;
- ``fetch`` — Point's judge: which toy on the table fits the parent's request, by calibrated scoring;
- ``interpretation`` — Request's judge: which toy a child's utterance (one to three words, as
  Request's baby says them) asks for, by noisy-channel scoring;
- ``coherence`` — which reply fits a question, by calibrated scoring.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources

import numpy as np

from babyworld.envs import prompts
from babyworld.parent import Parent, calibrated_scores, choose, interpret
from babyworld.rewards.components import question_contrasts
from babyworld.world import COLORS, SHAPES, WorldObject

KINDS = ("naming", "fetch", "interpretation", "coherence")


@dataclass(frozen=True)
class ProbeResult:
    """Accuracy of one probe kind."""

    kind: str
    items: int
    correct: int
    chance: float
    seconds: float

    @property
    def accuracy(self) -> float:
        """Fraction answered right."""
        return self.correct / self.items


def load_probes() -> dict:
    """The shipped probe set."""
    return json.loads(resources.files("babyworld.parent").joinpath("probes.json").read_text())


def _obj(name: str) -> WorldObject:
    color, shape = name.split()
    return WorldObject(color, shape)


def evaluate(parent: Parent, kinds: tuple[str, ...] = KINDS) -> list[ProbeResult]:
    """Run the probe set; returns one result per kind, in order."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown probe kinds {sorted(unknown)}; choose from {KINDS}")
    probes = load_probes()
    results = []
    for kind in kinds:
        t0 = time.perf_counter()
        hits, chance = [], []
        for item in probes[kind]:
            if kind == "naming":
                obj = _obj(item["object"])
                options = SHAPES if item["attribute"] == "shape" else COLORS
                question = prompts.NAME_QUESTIONS[item["attribute"]]
                view = prompts.ParentView(table=(obj,), shown=obj, said=question)
                frames = [prompts.name_judge_frames(view, w) for w in options]
                scores = parent.score(
                    [c for ctx, _ in frames for c in ctx], [x for _, xs in frames for x in xs]
                )
                judged = question_contrasts(scores, len(frames[0][0]), prompts.NAME_CONTRAST)
                pick = int(np.argmax(judged))
                hits.append(options[pick] == obj.attribute(item["attribute"]))
                chance.append(1 / len(options))
            elif kind == "fetch":
                table = tuple(_obj(o) for o in item["scene"])
                view = prompts.ParentView(table=table, said=item["request"])
                frames = [prompts.fetch_judge_frames(view, o) for o in table]
                ctx, neu, cont = zip(*frames, strict=True)
                hits.append(
                    int(np.argmax(calibrated_scores(parent, list(ctx), list(neu), list(cont))))
                    == item["answer"]
                )
                chance.append(1 / len(item["scene"]))
            elif kind == "interpretation":
                res = interpret(
                    parent, [item["utterance"]], item["intents"], template=prompts.REQUEST_INTENT
                )
                hits.append(int(res.best[0]) == item["answer"])
                chance.append(1 / len(item["intents"]))
            else:
                pick, _ = choose(
                    parent,
                    f'Mom: "{item["context"]}"\nBaby: "',
                    'Mom: "Hello."\nBaby: "',
                    [f'{o}"' for o in item["options"]],
                )
                hits.append(pick == item["answer"])
                chance.append(1 / len(item["options"]))
        results.append(
            ProbeResult(
                kind, len(hits), int(sum(hits)), float(np.mean(chance)), time.perf_counter() - t0
            )
        )
    return results
