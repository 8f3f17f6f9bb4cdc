"""Parents: frozen language models (or a scripted stand-in) that play the baby's world."""

from babyworld.parent.base import Parent, ParentStats, Prompt
from babyworld.parent.factory import DEFAULT_PARENT, make_parent, resolve_parent
from babyworld.parent.judge import Interpretation, calibrated_scores, choose, interpret

__all__ = [
    "DEFAULT_PARENT",
    "Interpretation",
    "Parent",
    "ParentStats",
    "Prompt",
    "calibrated_scores",
    "choose",
    "interpret",
    "make_parent",
    "resolve_parent",
]
