"""Agents: reference learners and baselines (the from-scratch student arrives with its own module)."""

from babyworld.agents.baselines import RandomBaby

__all__ = ["RandomBaby"]
