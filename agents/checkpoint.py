"""Atomic, self-checking checkpoints: a SHA-256 digest of the payload is written with it.

A checkpoint file is a one-line header (``babyworld-checkpoint format 2 sha256 <hex> bytes <n>``)
followed by the ``torch.save`` payload. :func:`load_checkpoint` recomputes the digest before it
unpickles anything, so a truncated, bit-flipped, edited or foreign file is refused with one
message instead of being resumed. Every file is written to a temporary file in the same folder,
fsynced, then renamed over the old one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

FORMAT = 2
#: The first bytes of every checkpoint of format 2.
MAGIC = b"babyworld-checkpoint"
_HEADER = re.compile(rb"^babyworld-checkpoint format (\d+) sha256 ([0-9a-f]{64}) bytes (\d+)\n")
#: The first bytes of a ``torch.save`` zip file: format 1, written before digests (still read).
_LEGACY = b"PK\x03\x04"


class CheckpointError(ValueError, RuntimeError):
    """A checkpoint is missing, truncated, corrupt or from an incompatible run.

    A ``ValueError`` (bad input) and, as before, a ``RuntimeError``.
    """


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
    """Save a complete checkpoint (the run's config, the trainer's full state) with its digest."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "config": config, "trainer": trainer_state}, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    header = f"{MAGIC.decode()} format {FORMAT} sha256 {digest} bytes {len(payload)}\n".encode()
    _write_atomic(path, "wb", lambda f: (f.write(header), f.write(payload)))


#: Config fields that may change between the sessions of a run (where and how long it runs).
RUN_ONLY = ("steps", "resume", "out", "ray", "workers")


def load_checkpoint(
    path: str | Path,
    expect_config: dict | None = None,
    upgrade: Callable[[dict], dict] | None = None,
) -> dict:
    """Load a checkpoint after checking its digest, then its structure and config.

    ``upgrade`` maps the checkpoint's saved config to the form of ``expect_config`` before they
    are compared (e.g. settings added since it was written, at their defaults).

    Raises:
        CheckpointError: the file is missing, unreadable, truncated, damaged (its digest does not
            match), not a babyworld checkpoint, or its config differs from ``expect_config`` in
            a field other than :data:`RUN_ONLY`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; is this a babyworld run directory?")
    damaged = (
        f"it cannot be resumed: restore the file from a copy, or start the run again in another "
        f"directory (babyworld never overwrites {path.parent})"
    )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"checkpoint {path} cannot be read ({e}); {damaged}") from e
    if data.startswith(MAGIC):
        match = _HEADER.match(data[:200])
        if match is None or int(match[1]) != FORMAT:
            raise CheckpointError(
                f"checkpoint {path} is corrupt (its header is damaged); {damaged}"
            )
        payload = data[match.end() :]
        if len(payload) != int(match[3]):
            raise CheckpointError(
                f"checkpoint {path} is truncated or corrupt ({len(payload)} bytes of payload, "
                f"its header says {int(match[3])}); {damaged}"
            )
        if hashlib.sha256(payload).hexdigest() != match[2].decode():
            raise CheckpointError(
                f"checkpoint {path} is corrupt (its SHA-256 digest does not match); {damaged}"
            )
    elif data.startswith(_LEGACY):  # format 1 (no digest): what torch itself can check
        payload = data
    else:
        raise CheckpointError(f"{path} is not a babyworld checkpoint; {damaged}")
    try:
        ckpt = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises several kinds for a truncated or damaged file
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e}); {damaged}"
        ) from e
    if (
        not isinstance(ckpt, dict)
        or ckpt.get("format") not in (1, FORMAT)
        or not isinstance(ckpt.get("trainer"), dict)
        or not isinstance(ckpt.get("config"), dict)
    ):
        raise CheckpointError(f"{path} is not a babyworld checkpoint of format {FORMAT}; {damaged}")
    if expect_config is not None:
        saved = ckpt["config"] if upgrade is None else upgrade(ckpt["config"])
        diff = {
            k: (saved.get(k), v)
            for k, v in expect_config.items()
            if k not in RUN_ONLY and saved.get(k) != v
        }
        if diff:
            raise CheckpointError(
                f"checkpoint {path} was written by another config: "
                + ", ".join(f"{k}: checkpoint {a!r} vs run {b!r}" for k, (a, b) in diff.items())
            )
    return ckpt
