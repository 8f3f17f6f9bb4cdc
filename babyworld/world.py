"""The world engine: objects, scenes, tasks and their verifiers, independent of any text.

Everything random takes a ``numpy.random.Generator`` (the env's ``np_random``), so a seeded reset
replays the same scenes and tasks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from babyworld.validation import check_choice

COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "white")
SHAPES: tuple[str, ...] = ("ball", "box", "key", "cup", "bird", "car")
ATTRIBUTES: tuple[str, ...] = ("shape", "color")

#: Features of one percept slot: one-hot colour, one-hot shape, present, attended.
PERCEPT_FEATURES: int = len(COLORS) + len(SHAPES) + 2


@dataclass(frozen=True)
class WorldObject:
    """A toy with a colour and a shape."""

    color: str
    shape: str

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise ValueError(f"unknown color {self.color!r}; choose one of {COLORS}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; choose one of {SHAPES}")

    @functools.cached_property
    def name(self) -> str:
        """Its full description, e.g. ``"red ball"``."""
        return f"{self.color} {self.shape}"

    def attribute(self, kind: str) -> str:
        """The value of one attribute (``"shape"`` or ``"color"``)."""
        if kind not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {kind!r}; choose one of {ATTRIBUTES}")
        return self.shape if kind == "shape" else self.color


@dataclass(frozen=True)
class Scene:
    """Objects on the table, one per slot (slot order is what the baby's symbols refer to)."""

    objects: tuple[WorldObject, ...]

    def percept(self, n_slots: int, attended: int | None = None) -> np.ndarray:
        """Numeric view of the scene.

        Args:
            n_slots: number of rows; slots past ``len(objects)`` are all zeros.
            attended: slot the parent is showing (its ``attended`` feature is 1), or ``None``.

        Returns:
            ``float32`` vector of shape ``[n_slots * PERCEPT_FEATURES]`` (slot-major) with entries
            in {0, 1}: flat, so any agent's MLP takes it as is.
        """
        if len(self.objects) > n_slots:
            raise ValueError(f"scene has {len(self.objects)} objects but only {n_slots} slots")
        if attended is not None and not 0 <= attended < len(self.objects):
            raise ValueError(
                f"attended must index one of the {len(self.objects)} objects, got {attended}"
            )
        out = np.zeros((n_slots, PERCEPT_FEATURES), dtype=np.float32)
        for i, obj in enumerate(self.objects):
            out[i, COLORS.index(obj.color)] = 1.0
            out[i, len(COLORS) + SHAPES.index(obj.shape)] = 1.0
            out[i, -2] = 1.0
        if attended is not None:
            out[attended, -1] = 1.0
        return out.reshape(-1)


#: Which toys a scene may hold: every toy, the training split, or the held-out split.
SPLITS: tuple[str, ...] = ("all", "train", "held_out")


def is_held_out(color: str, shape: str) -> bool:
    """Whether the toy is held out of the training split (``(colour i + shape j) % 6 == 0``).

    A seed-independent rule that holds out one toy of each colour and one of each shape (red
    ball, green car, blue bird, yellow cup, purple key, white box): every colour and every shape
    is met in training, each with five partners, but these six combinations never.
    """
    return (COLORS.index(color) + SHAPES.index(shape)) % len(SHAPES) == 0


#: Toy indices ``k`` (colour ``k // 6``, shape ``k % 6``) of each split.
_HELD_OUT_KINDS = tuple(
    k
    for k in range(len(COLORS) * len(SHAPES))
    if is_held_out(COLORS[k // len(SHAPES)], SHAPES[k % len(SHAPES)])
)
_SPLIT_KINDS: dict[str, tuple[int, ...]] = {
    "all": tuple(range(len(COLORS) * len(SHAPES))),
    "train": tuple(k for k in range(len(COLORS) * len(SHAPES)) if k not in _HELD_OUT_KINDS),
    "held_out": _HELD_OUT_KINDS,
}


def split_size(split: str) -> int:
    """How many distinct toys a scene of ``split`` can draw from."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    return len(_SPLIT_KINDS[split])


def check_split(what: str, split: Any, n_objects: int) -> str:
    """``split`` if it is one of :data:`SPLITS` and holds ``n_objects`` distinct toys.

    Raises:
        ValueError: an unknown split, or one with fewer toys than a scene needs.
    """
    check_choice(what, split, SPLITS)
    if n_objects > split_size(split):
        raise ValueError(
            f"{what}={split!r} holds {split_size(split)} distinct toys, fewer than the "
            f"{n_objects} a scene of this env needs; lower n_objects or use another split"
        )
    return split


def sample_scene(rng: np.random.Generator, n_objects: int, split: str = "all") -> Scene:
    """Draw ``n_objects`` distinct objects (no two share both colour and shape) of ``split``.

    ``"train"`` never draws a held-out toy (:func:`is_held_out`), ``"held_out"`` draws only held-out
    toys, so every toy of its scenes is a combination training never showed. ``"all"`` draws as
    babyworld always has (the same scenes for the same generator state).
    """
    n_kinds = split_size(split)
    if not 1 <= n_objects <= n_kinds:
        where = "" if split == "all" else f" (the {split!r} split has {n_kinds} toys)"
        raise ValueError(f"n_objects must be in [1, {n_kinds}], got {n_objects}{where}")
    if split == "all":
        flat = rng.choice(n_kinds, size=n_objects, replace=False)
    else:
        kinds = _SPLIT_KINDS[split]
        flat = [kinds[int(i)] for i in rng.choice(n_kinds, size=n_objects, replace=False)]
    return Scene(
        tuple(
            WorldObject(COLORS[int(k) // len(SHAPES)], SHAPES[int(k) % len(SHAPES)]) for k in flat
        )
    )


@dataclass(frozen=True)
class FetchTask:
    """The parent wants the object in ``target`` slot; the baby must point at it."""

    scene: Scene
    target: int

    @property
    def wanted(self) -> WorldObject:
        """The object the parent wants."""
        return self.scene.objects[self.target]

    def verify(self, chosen_slot: int) -> bool:
        """Success iff the baby chose the wanted slot."""
        return int(chosen_slot) == self.target


@dataclass(frozen=True)
class NameTask:
    """The parent shows the object in ``slot`` and asks for its ``attribute``."""

    scene: Scene
    slot: int
    attribute: str

    @property
    def shown(self) -> WorldObject:
        """The object being shown."""
        return self.scene.objects[self.slot]

    @property
    def answer(self) -> str:
        """The one right word."""
        return self.shown.attribute(self.attribute)

    def verify(self, word: str) -> bool:
        """Success iff the baby said the right word."""
        return word == self.answer
