"""Reward components (pure functions), their online estimators, and the reward vector."""

from babyworld.rewards import components
from babyworld.rewards.estimators import AdaptiveCode, SuccessTracker, TokenPredictor
from babyworld.rewards.vector import (
    DEFAULT_WEIGHTS,
    REWARD_NAMES,
    combine,
    resolve_weights,
    reward_bounds,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "REWARD_NAMES",
    "AdaptiveCode",
    "SuccessTracker",
    "TokenPredictor",
    "combine",
    "components",
    "resolve_weights",
    "reward_bounds",
]
