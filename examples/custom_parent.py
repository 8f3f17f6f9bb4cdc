"""Any Hugging Face causal LM as the parent: load it from a local directory, watch it, measure it.

The parent spec ``hf:<dir>`` loads a local directory (``config.json``, weights, tokenizer) with
transformers (``hf:<hub id>`` works too, for users with a network). This example plays a few
exchanges of a level with that parent, then measures it as a judge before anyone trains on it:
on one-act levels (Point, Name) the parent's distribution over the allowed acts
(``teacher_logprobs()``) should put the right act first more often than chance.

Try it with the default parent's own converted weights (a local directory)::

    python examples/custom_parent.py --model-dir "$(python -c \
        'from babyworld.parent.smollm2 import ensure_cache; print(ensure_cache())')"
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

from babyworld import make_parent


def main() -> None:
    """Parse the arguments, load the parent, play, measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="a local causal LM directory")
    parser.add_argument("--env-id", default="babyworld/Point-v0")
    parser.add_argument("--dtype", default="auto", help="auto | bfloat16 | float32")
    parser.add_argument("--show", type=int, default=4, help="exchanges to print")
    parser.add_argument("--judge-steps", type=int, default=40, help="acts to measure the judge on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.time()
    parent = make_parent(f"hf:{args.model_dir}", dtype=args.dtype)
    print(f"parent {parent.label} loaded in {time.time() - start:.1f} s")
    env = gym.make(args.env_id, parent=parent)  # a spec string works too: parent="hf:<dir>"
    u = env.unwrapped
    rng = np.random.default_rng(args.seed)

    _, info = env.reset(seed=args.seed)
    print(f"parent: {info['parent_utterance']}")
    for _ in range(args.show):
        action = rng.choice(np.flatnonzero(info["action_mask"]))
        _, reward, terminated, _, info = env.step(action)
        print(f"baby:   {info['baby_utterance']} ({info['baby_meaning'] or 'goes on'})")
        print(f"reward: {reward:+.3f}  {info['reward_components']}")
        print(f"parent: {info['parent_utterance']}")
        if terminated:
            _, info = env.reset()

    try:  # the parent as a judge, on one-act levels
        _, info = env.reset(seed=args.seed + 1)
        hits = 0
        for _ in range(args.judge_steps):
            hits += int(np.argmax(u.teacher_logprobs())) == u.right_action()
            _, _, terminated, _, info = env.step(rng.choice(np.flatnonzero(info["action_mask"])))
            if terminated:
                _, info = env.reset()
        chance = 1 / info["action_mask"].sum()
        print(
            f"judge top-1: {hits / args.judge_steps:.3f} over {args.judge_steps} acts "
            f"(chance {chance:.3f})"
        )
    except NotImplementedError as e:
        print(f"judge top-1: not measured ({e})")
    print(f"parent stats: {parent.stats.as_dict()}")
    env.close()


if __name__ == "__main__":
    main()
