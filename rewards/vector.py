"""The reward vector: component names, bounds, default weights and the scalar combination."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Component:
    """One component of the reward vector: the one place its facts are written.

    ``low``/``high`` bound it (times ``progress_beta`` when ``per_beta``), ``weight`` is its
    default weight in the scalar reward, ``computed_by`` says who computes it.
    """

    name: str
    low: float
    high: float
    weight: float
    computed_by: str
    per_beta: bool = False


#: The reward vector's components, in vector order. Everything else (names, positions, default
#: weights, bounds) is derived from this table: add a component here and nowhere else.
COMPONENTS: tuple[Component, ...] = (
    Component("task", 0.0, 1.0, 1.0, "the env: the verdict on the act (verifier or parent)"),
    Component("consistency", -1.0, 1.0, 0.1, "the env: the parent's judgement of the act"),
    Component(
        "predictability",
        -1.0,
        0.0,
        0.05,
        "the env's estimators, or the trainer's world model (student_rewards)",
    ),
    Component(
        "mdl", -1.0, 0.0, 0.05, "the env's estimators, or the trainer's latent (student_rewards)"
    ),
    Component(
        "progress",
        -1.0,
        1.0,
        0.5,
        "the env's success tracker, or the curriculum (curriculum_progress)",
        per_beta=True,
    ),
)
#: Order of the components in every reward vector.
REWARD_NAMES: tuple[str, ...] = tuple(c.name for c in COMPONENTS)
#: Position of each component in the vector, by name (address components by name, never by number).
REWARD_INDEX: dict[str, int] = {name: i for i, name in enumerate(REWARD_NAMES)}
_NAME_SET = frozenset(REWARD_NAMES)
#: Default weights of the scalar reward ``w · r``: the task dominates, the dense signals shape.
DEFAULT_WEIGHTS: dict[str, float] = {c.name: c.weight for c in COMPONENTS}


#: Where the verdict behind ``task`` (and ``progress`` and the curricula) comes from: the world's
#: hand-written verifier, or the parent's judgement (the verifier then only scores, held out).
REWARD_SOURCES: tuple[str, ...] = ("verifier", "parent")


def check_reward_source(source: object) -> str:
    """``source`` if it is one of :data:`REWARD_SOURCES`, else ``ValueError`` naming them."""
    if not isinstance(source, str) or source not in REWARD_SOURCES:
        raise ValueError(f"unknown reward source {source!r}; choose one of {REWARD_SOURCES}")
    return source


def parse_weights(text: str) -> dict[str, float]:
    """Reward weights from ``"task=0,consistency=1"`` (names as :data:`REWARD_NAMES`).

    A name left out weighs 0. Refused with ``ValueError``: a malformed item, an unknown or
    repeated name, a weight that is not a finite number, and all weights 0 (nothing to learn).
    """
    weights: dict[str, float] = {}
    for item in str(text).split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(
                f"reward weights must look like 'task=0,consistency=1', got {text!r}; names are "
                f"{REWARD_NAMES}"
            )
        if name not in REWARD_NAMES:
            raise ValueError(f"unknown reward component {name!r}; names are {REWARD_NAMES}")
        if name in weights:
            raise ValueError(f"reward component {name!r} is weighted twice in {text!r}")
        try:
            w = float(value)
        except ValueError:
            raise ValueError(
                f"weight of {name!r} must be a number, got {value.strip()!r}"
            ) from None
        if not np.isfinite(w):
            raise ValueError(f"weight of {name!r} must be finite, got {value.strip()!r}")
        weights[name] = w
    if not any(weights.values()):
        raise ValueError(
            f"all reward weights are 0 in {text!r}: the agent would have nothing to learn from; "
            "give at least one component a non-zero weight"
        )
    return weights


def format_weights(weights: Mapping[str, float]) -> str:
    """Inverse of :func:`parse_weights`, every component named, in :data:`REWARD_NAMES` order."""
    return ",".join(f"{k}={float(weights.get(k, 0.0)):g}" for k in REWARD_NAMES)


#: The largest ``sum |w_k|`` of reward weights: ``w · r`` stays below float32's largest finite
#: value for every ``r`` in ``[-1, 1]^K`` (summed in float32, with a margin for rounding).
MAX_WEIGHT_SUM = float(np.finfo(np.float32).max) / 2


def reward_bounds(progress_beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each component, in :data:`REWARD_NAMES` order."""
    scale = [progress_beta if c.per_beta else 1.0 for c in COMPONENTS]
    low = np.array([c.low * k for c, k in zip(COMPONENTS, scale, strict=True)], np.float32)
    high = np.array([c.high * k for c, k in zip(COMPONENTS, scale, strict=True)], np.float32)
    return low, high


def resolve_weights(
    weights: Sequence[float] | Mapping[str, float] | np.ndarray | None,
) -> np.ndarray:
    """Weights as a ``float32`` array of shape ``[len(REWARD_NAMES)]``.

    Accepts ``None`` (the defaults), a mapping from component names (missing names weigh 0), or a
    sequence with one weight per component. Every weight must be a real number (not a bool, a
    string or a complex number), finite, and small enough that ``w · r`` stays finite in
    ``float32`` for every reward vector ``r`` with components in ``[-1, 1]`` (the widest
    ``reward_space``): ``sum |w_k| <=`` :data:`MAX_WEIGHT_SUM`.

    Raises:
        ValueError: an unknown component name, a wrong shape, or a weight that is not such a
            number.
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
        values = [weights.get(k, 0.0) for k in REWARD_NAMES]
    elif isinstance(weights, str | bytes) or not isinstance(weights, Sequence | np.ndarray):
        raise ValueError(
            f"reward_weights must be a mapping from {REWARD_NAMES} to weights or a sequence of "
            f"{n} weights, got {weights!r}"
        )
    else:
        values = list(np.asarray(weights, dtype=object).ravel()) if np.ndim(weights) else []
        if np.shape(weights) != (n,):
            raise ValueError(
                f"reward_weights must have shape ({n},) — one weight per component "
                f"{REWARD_NAMES} — got shape {np.shape(weights)}"
            )
    for k, v in zip(REWARD_NAMES, values, strict=True):
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
            raise ValueError(f"reward weight of {k!r} must be a real number, got {v!r}")
    w = np.array([float(v) for v in values], dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValueError(f"reward_weights must be finite, got {w.tolist()}")
    if np.abs(w).sum() > MAX_WEIGHT_SUM:
        raise ValueError(
            f"reward_weights must have sum |w| <= {MAX_WEIGHT_SUM:.3g} so that w · r stays finite "
            f"for every reward in reward_space, got {w.tolist()}"
        )
    return w.astype(np.float32)


def combine(vector: np.ndarray, weights: np.ndarray) -> float:
    """The scalar reward ``sum_k w_k r_k`` (works on ``[..., K]`` arrays too)."""
    return (
        float(np.dot(vector, weights)) if np.ndim(vector) == 1 else np.tensordot(vector, weights, 1)
    )


def reward_vector(**values: float) -> np.ndarray:
    """The components named in ``values`` as one ``float32`` vector, in :data:`REWARD_NAMES` order.

    Raises:
        KeyError: a component is missing or unknown (named).
    """
    if values.keys() != _NAME_SET:
        raise KeyError(f"a reward vector needs exactly {REWARD_NAMES}, got {sorted(values)}")
    return np.array([values[name] for name in REWARD_NAMES], dtype=np.float32)
