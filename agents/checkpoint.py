"""Atomic, validated checkpoints: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or from an incompatible run."""


def _write_atomic(path: str | Path, mode: str, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename it over."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` so that a crash never leaves a partial file under that name."""
    _write_atomic(path, "wb", lambda f: torch.save(obj, f))


def write_text_atomic(text: str, path: str | Path) -> None:
    """Write a text file atomically (temporary file + rename)."""
    _write_atomic(path, "w", lambda f: f.write(text))


def save_checkpoint(path: str | Path, config: dict, trainer_state: dict) -> None:
    """Save a complete checkpoint (format tag, the run's config, the trainer's full state)."""
    save_atomic({"format": FORMAT, "config": config, "trainer": trainer_state}, path)


#: Config fields that may change between the sessions of a run (where and how long it runs).
RUN_ONLY = ("steps", "resume", "out", "ray", "workers")


def load_checkpoint(path: str | Path, expect_config: dict | None = None) -> dict:
    """Load and validate a checkpoint.

    Raises:
        CheckpointError: the file is missing, unreadable (truncated or corrupt), of another format,
            or its config differs from ``expect_config`` in a field other than ``steps``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; is this a babyworld run directory?")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises several kinds for a truncated or damaged file
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e}); it cannot be "
            "resumed — start a new run in another directory"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "trainer" not in ckpt:
        raise CheckpointError(f"{path} is not a babyworld checkpoint of format {FORMAT}")
    if expect_config is not None:
        diff = {
            k: (ckpt["config"].get(k), v)
            for k, v in expect_config.items()
            if k not in RUN_ONLY and ckpt["config"].get(k) != v
        }
        if diff:
            raise CheckpointError(
                f"checkpoint {path} was written by another config: "
                + ", ".join(f"{k}: checkpoint {a!r} vs run {b!r}" for k, (a, b) in diff.items())
            )
    return ckpt
