"""How much each kind of utterance succeeds on Request: ``python -m babyworld.experiments.studies.request_probe``.

Fixed policies (no learning) play ``--exchanges`` exchanges of ``babyworld/Request-v0`` with the
given parent and print their true success: three random words, the wanted toy's colour then two
random words, colour then ``<stop>``, shape then ``<stop>``, colour and shape then ``<stop>``, and
three-word utterances that never stop (the third word ends them). It measures how much signal a
learner gets from saying one right word, and whether ``<stop>`` is needed at all.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import tyro

from babyworld.envs import env_id


def probe(parent: str = "scripted", exchanges: int = 600, seed: int = 0) -> dict[str, float]:
    """True success of each fixed utterance policy over ``exchanges`` exchanges.

    Args:
        parent: parent spec.
        exchanges: exchanges per policy.
        seed: seeds the env and the random words.
    """
    env = gym.make(env_id("Request"), parent=parent).unwrapped
    rng = np.random.default_rng(seed)
    words, stop = list(env.words), env.stop_action

    def rand(k: int) -> list[int]:
        return [int(rng.integers(stop)) for _ in range(k)]

    policies: dict[str, Callable] = {
        "three random words": lambda w: rand(3),
        "colour, two random words": lambda w: [words.index(w.color), *rand(2)],
        "colour <stop>": lambda w: [words.index(w.color), stop],
        "shape <stop>": lambda w: [words.index(w.shape), stop],
        "colour shape <stop>": lambda w: [words.index(w.color), words.index(w.shape), stop],
        "colour shape shape": lambda w: [words.index(w.color), words.index(w.shape)] * 2,
        "colour shape, a random word": lambda w: [
            words.index(w.color),
            words.index(w.shape),
            *rand(1),
        ],
        "colour colour colour": lambda w: [words.index(w.color)] * 3,
        "shape shape shape": lambda w: [words.index(w.shape)] * 3,
    }
    out = {}
    for name, policy in policies.items():
        env.reset(seed=seed + 1)
        wins = []
        for _ in range(exchanges):
            for a in policy(env._task.wanted):
                _, _, term, _, info = env.step(a)
                if info["exchange_end"]:
                    break
            wins.append(bool(info["true_success"]))
            if term:
                env.reset()
        out[name] = float(np.mean(wins))
    return out


def main() -> None:
    """Entry point."""
    for name, success in tyro.cli(probe).items():
        print(f"{name:28} {success:.3f}")


if __name__ == "__main__":
    main()
