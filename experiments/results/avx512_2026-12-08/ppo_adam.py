"""PPO collect + update samples/s (the bench's PPO row), with Adam's kernel chosen by argv[1].

    python experiments/results/avx512_2026-12-08/ppo_adam.py fused 2    # or: foreach 2

Run alternately, fused then foreach, 7 times each on 2 idle cores (ppo_adam.txt holds the lines
they printed). It was the trial of Adam's fused kernel, not adopted (docs/performance.md).
"""

import sys

import torch

KIND = sys.argv[1]
torch.set_num_threads(int(sys.argv[2]))
_ADAM = torch.optim.Adam


def adam(params, lr, eps, **_):
    """Adam as the trainer builds it, with the kernel of KIND."""
    kernel = {"fused": True} if KIND == "fused" else {"foreach": True}
    return _ADAM(params, lr, eps=eps, **kernel)


torch.optim.Adam = adam
from babyworld.experiments.benchmarks.measure import trainer_samples  # noqa: E402

print(KIND, trainer_samples("Point", 8, 64, 6, 0))
