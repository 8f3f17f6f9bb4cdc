"""Atomic, self-checking checkpoints that PyTorch opens as they are.

A checkpoint (format 3) is a ``torch.save`` file that ``torch.load(path, weights_only=True)``
reads without babyworld: a dict with ``format`` (3), ``config`` (the run's config as JSON text),
``model`` (the student's ``state_dict``), ``step``, ``updates`` and ``resume`` (everything else the
trainer needs to continue exactly, as a byte tensor that babyworld unpickles). The zip archive's
comment holds a SHA-256 digest of the file's bytes (with an empty comment):
``babyworld-checkpoint format 3 sha256 <hex>``. :func:`load_checkpoint` recomputes it before it
unpickles anything, so a truncated, bit-flipped, edited or foreign file is refused with one
message instead of being resumed. Format 2 (a one-line digest header before the ``torch.save``
payload) and format 1 (no digest) are still read. Every file is written to a temporary file in the
same folder, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

FORMAT = 3
#: The first bytes of every checkpoint of format 2.
MAGIC = b"babyworld-checkpoint"
_HEADER = re.compile(rb"^babyworld-checkpoint format (\d+) sha256 ([0-9a-f]{64}) bytes (\d+)\n")
#: The zip comment of format 3: the digest of the file with an empty comment.
_COMMENT = re.compile(rb"babyworld-checkpoint format 3 sha256 ([0-9a-f]{64})")
#: The first bytes of a ``torch.save`` zip file (formats 1 and 3).
_LEGACY = b"PK\x03\x04"
#: A zip archive's end-of-central-directory record: signature, 16 bytes, comment length.
_EOCD, _EOCD_SIZE = b"PK\x05\x06", 22


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


def write_text_atomic(text: str, path: str | Path) -> None:
    """Write a text file atomically (temporary file + rename)."""
    _write_atomic(path, "w", lambda f: f.write(text))


def _torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_checkpoint(path: str | Path, config: dict, trainer_state: dict) -> None:
    """Save a complete checkpoint (the run's config, the trainer's full state) with its digest."""
    rest = {k: v for k, v in trainer_state.items() if k != "model"}
    resume = torch.frombuffer(bytearray(_torch_bytes(rest)), dtype=torch.uint8)
    archive = _torch_bytes(
        {
            "format": FORMAT,
            "config": json.dumps(config, sort_keys=True),
            "model": trainer_state["model"],
            "step": int(trainer_state.get("global_step", 0)),
            "updates": int(trainer_state.get("updates", 0)),
            "resume": resume,
        }
    )
    end = archive.rfind(_EOCD)
    if end < 0 or end + _EOCD_SIZE != len(archive):  # torch writes no comment of its own
        raise RuntimeError("torch.save wrote a zip archive babyworld cannot sign; report this")
    comment = f"{MAGIC.decode()} format {FORMAT} sha256 {hashlib.sha256(archive).hexdigest()}"
    signed = archive[: end + 20] + struct.pack("<H", len(comment)) + comment.encode()
    _write_atomic(path, "wb", lambda f: f.write(signed))


def _signed_archive(data: bytes) -> bytes | None:
    """The archive of a format-3 file with its digest checked (None: the file is not format 3).

    Raises:
        ValueError: the file ends like format 3 but its digest does not match (the message).
    """
    end = data.rfind(_EOCD)
    if end < 0 or end + _EOCD_SIZE > len(data):
        return None
    (length,) = struct.unpack("<H", data[end + 20 : end + 22])
    match = _COMMENT.fullmatch(data[end + _EOCD_SIZE :])
    if match is None:
        if MAGIC in data[end + _EOCD_SIZE :] or end + _EOCD_SIZE + length != len(data):
            raise ValueError("is corrupt (its digest line is damaged)")
        return None  # an archive without babyworld's comment: format 1
    if length != len(data) - end - _EOCD_SIZE:
        raise ValueError("is corrupt (its digest line is damaged)")
    archive = data[: end + 20] + b"\0\0"
    if hashlib.sha256(archive).hexdigest() != match[1].decode():
        raise ValueError("is corrupt (its SHA-256 digest does not match)")
    return archive


def _unsign(ckpt: Any) -> dict:
    """A loaded format-3 dict in the form every caller reads: ``{format, config, trainer}``."""
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("resume"), torch.Tensor):
        return ckpt
    rest = torch.load(
        io.BytesIO(ckpt["resume"].numpy().tobytes()), map_location="cpu", weights_only=False
    )
    trainer = {"model": ckpt["model"], **rest}
    return {"format": ckpt["format"], "config": json.loads(ckpt["config"]), "trainer": trainer}


#: Config fields that may change between the sessions of a run (where and how long it runs).
RUN_ONLY = ("steps", "resume", "out", "ray", "workers")


def _payload(path: Path, data: bytes, damaged: str) -> tuple[bool, bytes]:
    """Whether ``data`` (the bytes of checkpoint ``path``) is signed, and its torch archive.

    Raises:
        CheckpointError: a damaged header or signature, a digest that does not match, or not a
            babyworld checkpoint (``damaged`` says what to do).
    """
    if data.startswith(MAGIC):
        match = _HEADER.match(data[:200])
        if match is None or int(match[1]) != 2:
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
        return False, payload
    if data.startswith(_LEGACY):  # format 3 (signed), or 1 (no digest: what torch checks)
        try:
            archive = _signed_archive(data)
        except ValueError as e:
            raise CheckpointError(f"checkpoint {path} {e}; {damaged}") from e
        return archive is not None, data if archive is None else archive
    raise CheckpointError(f"{path} is not a babyworld checkpoint; {damaged}")


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
    signed, payload = _payload(path, data, damaged)
    try:  # format 3 opens as weights only; the resume state inside was checked by the digest
        ckpt = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=signed)
        ckpt = _unsign(ckpt) if signed else ckpt
    except Exception as e:  # torch raises several kinds for a truncated or damaged file
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e}); {damaged}"
        ) from e
    if not signed and isinstance(ckpt, dict) and ckpt.get("format") == FORMAT:
        raise CheckpointError(
            f"checkpoint {path} is corrupt (its digest line is damaged); {damaged}"
        )
    if (
        not isinstance(ckpt, dict)
        or ckpt.get("format") not in (1, 2, FORMAT)
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
