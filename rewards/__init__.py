"""Reward components (pure functions), their online estimators, and the reward vector."""

from babyworld.rewards import components
from babyworld.rewards.estimators import AdaptiveCode, SuccessTracker, TokenPredictor, estimate
from babyworld.rewards.vector import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    REWARD_INDEX,
    REWARD_NAMES,
    REWARD_SOURCES,
    Component,
    check_reward_source,
    combine,
    format_weights,
    parse_weights,
    resolve_weights,
    reward_bounds,
    reward_vector,
)

__all__ = [
    "COMPONENTS",
    "Component",
    "DEFAULT_WEIGHTS",
    "REWARD_INDEX",
    "REWARD_NAMES",
    "REWARD_SOURCES",
    "AdaptiveCode",
    "SuccessTracker",
    "check_reward_source",
    "TokenPredictor",
    "combine",
    "components",
    "estimate",
    "format_weights",
    "parse_weights",
    "resolve_weights",
    "reward_bounds",
    "reward_vector",
]
