"""Every Chat judge recipe tried, measured against Chat's held-out reference (docs/teacher.md).

``python -m babyworld.experiments.studies.chat_recipes [--parent smollm2] [--situations 200] [--out F]``
judges the same replies as ``babyworld parent-eval --in-env --levels Chat`` (every one-word reply
and 20 two-word replies per situation, :func:`~babyworld.parent.judge_eval.chat_replies`) in the same
env situations (resets with seeds 0, 1, ...), with each frame recipe, each number of distractor
lines and each verdict rule, and compares the parent's verdict with the reference's
(:func:`~babyworld.envs.chat.reference_fits`): share of replies accepted, precision, recall,
agreement, and the share of echoes (replies that only repeat words of the parent's line) accepted.
Every frame is built from the parent's view (its situation, its own lines, the baby's reply).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from babyworld.agents.checkpoint import write_text_atomic
from babyworld.envs import prompts
from babyworld.envs.chat import ChatEnv, is_echo, reference_fits
from babyworld.parent import Parent, make_parent
from babyworld.parent.judge_eval import chat_replies
from babyworld.rewards import components
from babyworld.vector.local import ParentBatchVectorEnv

_OLD = 'Mom says: "{line}" The baby answers:'
_SCRIPT = prompts.CHAT_CONTEXT.split("Situation: {situation}")[0]
_SCRIPT_NO_SITUATION = "".join(
    line.split(". ", 1)[1] + "\n" for line in _SCRIPT.splitlines()
)  # the same script without its "Situation: ..." parts

#: recipe -> (context for (situation, line), neutral frame)
RECIPES: dict[str, tuple[Callable[[str, str], str], str]] = {
    "old: line only, neutral 'The baby says:'": (
        lambda s, line: _OLD.format(line=line),
        "The baby says:",
    ),
    "line only, neutral of the same form": (
        lambda s, line: _OLD.format(line=line),
        _OLD.format(line="Hello."),
    ),
    "few-shot script, line": (
        lambda s, line: _SCRIPT_NO_SITUATION + _OLD.format(line=line),
        _SCRIPT_NO_SITUATION + _OLD.format(line="Hello."),
    ),
    "adopted: few-shot script, situation and line": (
        lambda s, line: prompts.CHAT_CONTEXT.format(situation=s, line=line),
        prompts.CHAT_NEUTRAL,
    ),
}


def _old_rule(tokens: np.ndarray, neutral: np.ndarray) -> bool:
    return int(tokens.mean(axis=1).argmax()) == 0 and float((tokens[0] - neutral).mean()) > 0


#: verdict rule over per-token log-probs ``[lines, T]`` and the neutral frame's ``[T]``
RULES: dict[str, Callable[[np.ndarray, np.ndarray], bool]] = {
    "old: best line on the mean, mean PMI > 0": _old_rule,
    "adopted: best line on every token, every token's PMI > 0": components.channel_fits,
}


def measure(parent: Parent, situations: int, distractors: int) -> dict[str, dict]:
    """Every (recipe, rule) over ``situations`` Chat situations with ``distractors`` lines."""
    envs = ParentBatchVectorEnv(ChatEnv, situations, parent, distractors=distractors)
    envs.reset(seed=0)
    items = [
        (env.view(), env._target(), reply, env.reference)
        for i, env in enumerate(envs.envs)
        for reply in chat_replies(np.random.default_rng(i))
    ]
    envs.close()
    ref = np.array([reference_fits(r, s, reply) for _, s, reply, r in items])
    echo = np.array([is_echo(v.said, reply) for v, _, reply, _ in items])
    out = {}
    for recipe, (context, neutral) in RECIPES.items():
        frames = [
            [context(s, line) for s, line in zip(v.situations, (v.said, *v.lines), strict=True)]
            + [neutral]
            for v, _, _, _ in items
        ]
        flat = [c for f in frames for c in f]
        scores = parent.score(
            flat,
            [f" {reply}" for (_, _, reply, _), f in zip(items, frames, strict=True) for _ in f],
        )
        at = 0
        per_item = []
        for f in frames:
            mine, at = scores[at : at + len(f)], at + len(f)
            per_item.append((np.stack(mine[:-1]), mine[-1]))
        for rule, verdict in RULES.items():
            acc = np.array([verdict(t, n) for t, n in per_item])
            out[f"{recipe} | {rule}"] = {
                "distractors": distractors,
                "accepted": float(acc.mean()),
                "precision": float(ref[acc].mean()) if acc.any() else None,
                "recall": float(acc[ref].mean()),
                "agreement": float((acc == ref).mean()),
                "echo_accepted": float(acc[echo].mean()),
                "echo_reference_accepted": float(ref[echo].mean()),
            }
            print(json.dumps({"recipe": f"{recipe} | {rule}", **out[f"{recipe} | {rule}"]}))
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parent", default="smollm2", help="parent spec (default: smollm2)")
    ap.add_argument("--situations", type=int, default=200)
    ap.add_argument("--distractors", type=int, nargs="+", default=[2, 7])
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.situations < 1:
        raise ValueError(f"--situations must be a positive integer, got {args.situations}")
    parent = make_parent(args.parent)
    results = {f"distractors={d}": measure(parent, args.situations, d) for d in args.distractors}
    if args.out is not None:
        write_text_atomic(json.dumps(results, indent=2) + "\n", args.out)


if __name__ == "__main__":
    main()
