"""A component ablation: the same agent trained on different weightings of the reward vector.

Every step returns the vector ``task, consistency, predictability, mdl, progress``
(``info["reward_vector"]``); the scalar reward is ``w · r`` with the env's ``reward_weights``.
This trains the agent of ``sb3_maskable_ppo.py`` once per weighting (and seed) and prints the
greedy success rate of each: does the parent's judgement alone (``consistency``) teach as well
as the verifier (``task``)?

Run (the real parent is the default; ``--parent scripted`` is the template parent, for speed)::

    python examples/reward_weights.py --env-id babyworld/Point-v0 --steps 20480 --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sb3_maskable_ppo import success_rate, train  # the agent of the example next to this one

from babyworld.rewards import DEFAULT_WEIGHTS

#: The weightings compared (components left out weigh 0).
WEIGHTINGS: dict[str, dict[str, float]] = {
    "default": DEFAULT_WEIGHTS,
    "task only": {"task": 1.0},
    "without task": {k: w for k, w in DEFAULT_WEIGHTS.items() if k != "task"},
    "consistency only": {"consistency": 1.0},
}


def main() -> None:
    """Parse the arguments, run every weighting and seed, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="babyworld/Point-v0")
    parser.add_argument("--parent", default="smollm2", help="parent spec (scripted: no LLM)")
    parser.add_argument("--steps", type=int, default=20_480, help="training env steps per run")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per weighting (0, 1, ...)")
    parser.add_argument("--eval-exchanges", type=int, default=200)
    parser.add_argument(
        "--only", nargs="+", choices=list(WEIGHTINGS), help="run these weightings only"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"{args.env_id} parent={args.parent} steps={args.steps} seeds={args.seeds}")
    print(f"{'weighting':<18} {'success':>8} {'sd':>6} {'seconds':>8}  weights")
    for label in args.only or WEIGHTINGS:
        weights = WEIGHTINGS[label]
        start, rates = time.time(), []
        for seed in range(args.seeds):
            model = train(args.env_id, args.parent, args.steps, seed=seed, reward_weights=weights)
            rates.append(success_rate(model, args.env_id, args.parent, args.eval_exchanges))
        shown = ", ".join(f"{k}={w:g}" for k, w in weights.items())
        print(
            f"{label:<18} {np.mean(rates):>8.3f} {np.std(rates):>6.3f} "
            f"{time.time() - start:>8.0f}  {shown}",
            flush=True,
        )


if __name__ == "__main__":
    main()
