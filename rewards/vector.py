"""The reward vector: component names, bounds, default weights and the scalar combination."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: Order of the components in every reward vector.
REWARD_NAMES: tuple[str, ...] = ("task", "consistency", "predictability", "mdl", "progress")

#: Default weights of the scalar reward ``w · r``: the task dominates, the dense signals shape.
DEFAULT_WEIGHTS: dict[str, float] = {
    "task": 1.0,
    "consistency": 0.1,
    "predictability": 0.05,
    "mdl": 0.05,
    "progress": 0.5,
}


def reward_bounds(progress_beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each component, in :data:`REWARD_NAMES` order."""
    low = np.array([0.0, -1.0, -1.0, -1.0, -progress_beta], dtype=np.float32)
    high = np.array([1.0, 1.0, 0.0, 0.0, progress_beta], dtype=np.float32)
    return low, high


def resolve_weights(
    weights: Sequence[float] | Mapping[str, float] | np.ndarray | None,
) -> np.ndarray:
    """Weights as a ``float32`` array of shape ``[len(REWARD_NAMES)]``.

    Accepts ``None`` (the defaults), a mapping from component names (missing names weigh 0), or a
    sequence with one finite weight per component.
    """
    n = len(REWARD_NAMES)
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(REWARD_NAMES)
        if unknown:
            raise ValueError(
                f"unknown reward components {sorted(unknown)}; names are {REWARD_NAMES}"
            )
        w = np.array([float(weights.get(k, 0.0)) for k in REWARD_NAMES], dtype=np.float32)
    else:
        w = np.asarray(weights, dtype=np.float32)
        if w.shape != (n,):
            raise ValueError(
                f"reward_weights must have shape ({n},) — one weight per component "
                f"{REWARD_NAMES} — got shape {w.shape}"
            )
    if not np.isfinite(w).all():
        raise ValueError(f"reward_weights must be finite, got {w.tolist()}")
    return w


def combine(vector: np.ndarray, weights: np.ndarray) -> float:
    """The scalar reward ``sum_k w_k r_k`` (works on ``[..., K]`` arrays too)."""
    return (
        float(np.dot(vector, weights)) if np.ndim(vector) == 1 else np.tensordot(vector, weights, 1)
    )
