"""The distillation teacher's accuracy against its temperature, measured in the env.

A student distilled from the parent's distribution and acting by sampling reaches at most the
teacher's *expected sampled accuracy*, ``mean_s softmax(j_s / T)[right_s]`` over situations
``s`` (``j_s``: the judge's calibrated PMI of every allowed act, as
:meth:`~babyworld.envs.base.ParentBabyEnv.teacher_logprobs` computes it). Lowering ``T``
moves it towards the teacher's greedy accuracy. This measures both for a grid of temperatures,
so the ``distill`` control of an ablation can use a tuned one::

    python -m babyworld.experiments.studies.teacher_temperature --parent smollm2 --situations 500
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from babyworld.rewards import components

#: Temperatures measured by default (the env's default is 1).
TEMPERATURES = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01)


def sampled_accuracy(
    judgements: Sequence[np.ndarray], right: Sequence[int], temperature: float
) -> float:
    """Mean over situations of the teacher's probability of the right act at ``temperature``.

    Args:
        judgements: per situation, the judge's score of each allowed act, ``[K_s]``.
        right: per situation, the index of the right act among its allowed acts.
        temperature: the teacher's temperature (> 0).
    """
    if len(judgements) != len(right) or not judgements:
        raise ValueError("need one right act per situation and at least one situation")
    return float(
        np.mean(
            [
                components.judge_distribution(j, temperature)[k]
                for j, k in zip(judgements, right, strict=True)
            ]
        )
    )


def greedy_accuracy(judgements: Sequence[np.ndarray], right: Sequence[int]) -> float:
    """Share of situations whose best-judged act is the right one."""
    return float(np.mean([int(np.argmax(j)) == k for j, k in zip(judgements, right, strict=True)]))


def measure(spec: str, level: str, situations: int, seed: int = 0, batch: int = 64) -> dict:
    """Judge ``situations`` first exchanges of ``level`` (seeds ``seed + i``) with parent ``spec``."""
    from babyworld.envs import level_class
    from babyworld.parent import make_parent
    from babyworld.vector.local import ParentBatchVectorEnv

    parent = make_parent(spec)
    n = min(batch, situations)
    envs = ParentBatchVectorEnv(level_class(level), n, parent)
    judgements, right = [], []
    for start in range(0, situations, n):
        envs.reset(seed=seed + start)
        live = envs.envs[: min(n, situations - start)]
        requests = [env.teacher_requests() for env in live]
        scores = parent.score(
            [c for ctx, _ in requests for c in ctx], [x for _, cont in requests for x in cont]
        )
        at = 0
        for env, (ctx, _) in zip(live, requests, strict=True):
            mine, at = scores[at : at + len(ctx)], at + len(ctx)
            judgements.append(env._judgements(mine))
            allowed = np.flatnonzero(env.action_masks())
            right.append(int(np.searchsorted(allowed, env.right_action())))
    envs.close()
    return {
        "level": level,
        "parent": spec,
        "situations": situations,
        "greedy": greedy_accuracy(judgements, right),
        "sampled": {str(t): sampled_accuracy(judgements, right, t) for t in TEMPERATURES},
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Print the measurement as JSON (one object per level)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parent", default="smollm2")
    p.add_argument("--levels", nargs="+", default=["Point", "Name"])
    p.add_argument("--situations", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = [measure(args.parent, lv, args.situations, args.seed) for lv in args.levels]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
