"""Baselines that need no learning, for demos and chance levels."""

from __future__ import annotations

import numpy as np


class RandomBaby:
    """Picks uniformly among the actions allowed by the mask (the chance-level baby).

    Args:
        seed: seeds its own generator, independent of the env's.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, action_mask: np.ndarray) -> int:
        """One allowed action id."""
        allowed = np.flatnonzero(np.asarray(action_mask, dtype=bool))
        if allowed.size == 0:
            raise ValueError("the action mask allows no action")
        return int(self.rng.choice(allowed))
