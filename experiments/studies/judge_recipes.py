"""Every judge recipe tried for Point and Name, measured the same way (docs/teacher.md).

``python -m babyworld.experiments.studies.judge_recipes [--parent smollm2] [--out FILE]`` scores each
recipe's frames for every (request, toy) pair of Point and every (toy, attribute, word) case of
Name with the parent, then reads the judge's decisions off those pairwise scores: on Point over
3,000 scenes of 3 distinct toys drawn with a fixed seed, on Name over all 72 (toy, attribute)
cases. Figures: top-1 (the judge's best act is the verifier's), AUC of right versus wrong acts
(pooled, on the judge's scores), the mean relative ``consistency`` of right and wrong acts, and the
mean ``tanh(PMI)`` the old formula gave them; on Name the mass on the shown toy's other attribute.
The requests and questions are the parent's own (greedy) words for the env's prompts. A recipe
is a function of those and the case; the adopted ones are the env's own frame functions.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from babyworld.agents.checkpoint import write_text_atomic
from babyworld.envs import prompts
from babyworld.parent import Parent, make_parent
from babyworld.parent.judge_eval import pooled_auc
from babyworld.rewards import components
from babyworld.world import ATTRIBUTES, COLORS, SHAPES, NameTask, Scene, WorldObject

TOYS = tuple(WorldObject(c, s) for c in COLORS for s in SHAPES)
WORDS = SHAPES + COLORS
Frame = tuple[str, str, str]

# ------------------------------------------------------------------------------------ Point
_FETCH_FEW_SHOT = prompts.FETCH_JUDGE_SCRIPT  # the adopted recipe's script
#: (request the parent said, toy it wanted, toy handed over) -> frame
POINT_RECIPES: dict[str, Callable[[str, WorldObject, WorldObject], Frame]] = {
    "old: request, no script": lambda req, want, got: (
        f'Mom says: "{req}" The baby gives her the',
        'Mom says: "Hello." The baby gives her the',
        f" {got.name}.",
    ),
    "intent, no script": lambda req, want, got: (
        f"Mom wants the {want.name}. The baby gives her the",
        "Mom wants a toy. The baby gives her the",
        f" {got.name}.",
    ),
    "adopted: request, few-shot script": lambda req, want, got: prompts.fetch_judge_frames(
        prompts.ParentView(said=req), got
    ),
    "intent, few-shot script": lambda req, want, got: (
        _FETCH_FEW_SHOT + f"Mom: I want the {want.name}. Baby gives:",
        _FETCH_FEW_SHOT + "Mom: I want a toy. Baby gives:",
        f" {got.name}",
    ),
}

# ------------------------------------------------------------------------------------ Name
_QA = (
    "Q: What color is the blue bird? A: blue\n"
    "Q: What is the red box? A: box\n"
    "Q: What color is the yellow car? A: yellow\n"
    "Q: What is the white key? A: key\n"
)
_QA_QUESTION = {"color": "What color is the {t}?", "shape": "What is the {t}?"}
_SENTENCE = {"color": "has the color", "shape": "is a kind of"}
_KV = (
    "Toy: blue bird. Color? blue\n"
    "Toy: red box. Shape? box\n"
    "Toy: yellow car. Color? yellow\n"
    "Toy: white key. Shape? key\n"
    "Toy: green ball. Shape? ball\n"
    "Toy: purple cup. Color? purple\n"
)
_KV_QUESTION = {"color": "Color?", "shape": "Shape?"}
_OTHER = {"color": "shape", "shape": "color"}


def _old_name(question: str, toy: WorldObject, attribute: str, word: str) -> Frame:
    return (
        f'Mom holds up the {toy.name} and asks: "{question}" The baby says: "',
        f'Mom holds up a toy and asks: "{question}" The baby says: "',
        f'{word}"',
    )


def _qa(question: str, toy: WorldObject, attribute: str, word: str) -> Frame:
    q = _QA_QUESTION[attribute]
    return (_QA + f"Q: {q.format(t=toy.name)} A:", _QA + f"Q: {q.format(t='toy')} A:", f" {word}")


#: (the parent's question, shown toy, asked attribute, word said) -> frame
NAME_RECIPES: dict[str, Callable[[str, WorldObject, str, str], Frame]] = {
    "old: toy named, the parent's question": _old_name,
    "few-shot Q&A": _qa,
    "sentence completion": lambda q, toy, a, w: (
        f"The {toy.name} {_SENTENCE[a]}",
        f"The toy {_SENTENCE[a]}",
        f" {w}",
    ),
    "few-shot key-value": lambda q, toy, a, w: (
        _KV + f"Toy: {toy.name}. {_KV_QUESTION[a]}",
        _KV + f"Toy: toy. {_KV_QUESTION[a]}",
        f" {w}",
    ),
    "few-shot Q&A, contrast with the other question": lambda q, toy, a, w: (
        _QA + f"Q: {_QA_QUESTION[a].format(t=toy.name)} A:",
        _QA + f"Q: {_QA_QUESTION[_OTHER[a]].format(t=toy.name)} A:",
        f" {w}",
    ),
    "contrast with the other question, no script": lambda q, toy, a, w: (
        f"Q: {_QA_QUESTION[a].format(t=toy.name)} A:",
        f"Q: {_QA_QUESTION[_OTHER[a]].format(t=toy.name)} A:",
        f" {w}",
    ),
    "answer prefix names the other attribute": lambda q, toy, a, w: (
        (
            f"Q: What color is the {toy.name}? A: The {toy.shape} is",
            "Q: What color is the toy? A: The toy is",
            f" {w}",
        )
        if a == "color"
        else (
            f"Q: What is the {toy.name}? A: The {toy.color} one is a",
            "Q: What is the toy? A: The toy is a",
            f" {w}",
        )
    ),
    "oracle (answer in frame): only the asked attribute named, few-shot Q&A": (
        lambda q, toy, a, w: _oracle(toy, a, w)
    ),
}


def _oracle(toy: WorldObject, attribute: str, word: str) -> Frame:
    (ctx, neutral), (cont, _) = prompts.oracle_name_frames(
        NameTask(Scene((toy,)), 0, attribute), word
    )
    return ctx, neutral, cont


#: Contrast weights measured for the adopted (view) Name judge.
NAME_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)


def measure_name_view(parent: Parent, questions: dict[str, str]) -> dict:
    """The adopted Name judge (the parent's view) over the 72 cases, at each contrast weight.

    Frames are :func:`~babyworld.envs.prompts.name_judge_frames` (the whole shown toy, the
    parent's own question); judgements :func:`~babyworld.rewards.components.question_contrasts`.
    """
    cases = [(toy, a) for toy in TOYS for a in ATTRIBUTES]
    frames = [
        prompts.name_judge_frames(prompts.ParentView((toy,), toy, questions[a]), w)
        for toy, a in cases
        for w in WORDS
    ]
    group = len(frames[0][0])
    scores = parent.score(
        [c for ctx, _ in frames for c in ctx], [x for _, xs in frames for x in xs]
    )
    return {
        f"view, contrast weight {weight:g}": _name_figures(
            cases,
            components.question_contrasts(scores, group, weight).reshape(len(cases), len(WORDS)),
        )
        for weight in NAME_WEIGHTS
    }


def _pmi(parent: Parent, frames: list[Frame]) -> np.ndarray:
    contexts = [f[0] for f in frames] + [f[1] for f in frames]
    scores = parent.score(contexts, [f[2] for f in frames] * 2)
    n = len(frames)
    return np.array([components.pmi(scores[i], scores[n + i]) for i in range(n)])


def _summary(top: list[float], right: list[float], wrong: list[float], js: list) -> dict:
    cons_r, cons_w, tanh_r, tanh_w = [], [], [], []
    for j, k_right in js:
        for k in range(len(j)):
            c = components.consistency(j, k)
            (cons_r if k == k_right else cons_w).append(c)
            (tanh_r if k == k_right else tanh_w).append(float(np.tanh(j[k])))
    return {
        "top1": float(np.mean(top)),
        "auc": pooled_auc(np.array(right), np.array(wrong)),
        "consistency_right": float(np.mean(cons_r)),
        "consistency_wrong": float(np.mean(cons_w)),
        "old_tanh_right": float(np.mean(tanh_r)),
        "old_tanh_wrong": float(np.mean(tanh_w)),
    }


def measure_point(parent: Parent, recipe: Callable, requests: dict[str, str]) -> dict:
    """A Point recipe over 3,000 seeded scenes (from one pairwise score matrix)."""
    m = _pmi(parent, [recipe(requests[w.name], w, c) for w in TOYS for c in TOYS])
    m = m.reshape(len(TOYS), len(TOYS))
    rng = np.random.default_rng(0)
    top, right, wrong, js = [], [], [], []
    for _ in range(3000):
        scene = rng.choice(len(TOYS), 3, replace=False)
        k_right = int(rng.integers(3))
        j = m[scene[k_right], scene]
        top.append(float(j.argmax() == k_right))
        right.append(j[k_right])
        wrong += [j[k] for k in range(3) if k != k_right]
        js.append((j, k_right))
    return _summary(top, right, wrong, js)


def measure_name(parent: Parent, recipe: Callable, questions: dict[str, str]) -> dict:
    """A Name recipe over all 72 (toy, attribute) cases, every one of the 12 words judged."""
    cases = [(toy, a) for toy in TOYS for a in ATTRIBUTES]
    frames = [recipe(questions[a], toy, a, w) for toy, a in cases for w in WORDS]
    return _name_figures(cases, _pmi(parent, frames).reshape(len(cases), len(WORDS)))


def _name_figures(cases: list[tuple[WorldObject, str]], judgements: np.ndarray) -> dict:
    """Figures of a Name judge from its ``[case, word]`` judgements."""
    top, right, wrong, js, other = [], [], [], [], []
    for (toy, a), j in zip(cases, judgements, strict=True):
        k_right = WORDS.index(toy.attribute(a))
        k_other = WORDS.index(toy.attribute("color" if a == "shape" else "shape"))
        top.append(float(j.argmax() == k_right))
        right.append(j[k_right])
        wrong += [j[k] for k in range(len(WORDS)) if k != k_right]
        js.append((j, k_right))
        other.append(float(components.judge_distribution(j)[k_other]))
    return {**_summary(top, right, wrong, js), "other_attribute_mass": float(np.mean(other))}


def run(spec: str) -> dict:
    """Measure every recipe with parent ``spec``; returns the results (and prints them)."""
    parent = make_parent(spec)
    said = parent.generate([prompts.ask_for(t) for t in TOYS])
    requests = {t.name: r for t, r in zip(TOYS, said, strict=True)}
    questions = {a: parent.generate([prompts.ask_attribute(a)])[0] for a in ATTRIBUTES}
    out: dict = {"parent": parent.label, "point": {}, "name": {}}
    for level, recipes, measure, words in (
        ("point", POINT_RECIPES, measure_point, requests),
        ("name", NAME_RECIPES, measure_name, questions),
    ):
        for label, recipe in recipes.items():
            t0 = time.perf_counter()
            out[level][label] = measure(parent, recipe, words)
            out[level][label]["seconds"] = round(time.perf_counter() - t0, 1)
            print(level, label, json.dumps(out[level][label]), flush=True)
    for label, figures in measure_name_view(parent, questions).items():
        out["name"][label] = figures
        print("name", label, json.dumps(figures), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parent", default="smollm2", help="parent spec (default: smollm2)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    results = run(args.parent)
    if args.out is not None:
        write_text_atomic(json.dumps(results, indent=2) + "\n", args.out)


if __name__ == "__main__":
    main()
