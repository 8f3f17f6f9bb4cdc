"""Digests that name what a parent's answers depend on (the answer store's model keys)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def digest(data: str | bytes) -> str:
    """A 128-bit BLAKE2b hex digest of ``data`` (a text is encoded as UTF-8)."""
    return hashlib.blake2b(
        data.encode() if isinstance(data, str) else data, digest_size=16
    ).hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """:func:`digest` of the files' bytes one after another, read in 4 MiB chunks."""
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def weights_digest(model: Any) -> str:
    """Digest of a torch module's parameters and buffers: names, dtypes, shapes and bytes.

    About 0.3 s for 135M parameters.
    """
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """Digest of a tokenizer: a fast tokenizer's full JSON, else its class and vocabulary."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        text = backend.to_str()
    else:
        vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
        text = json.dumps([type(tokenizer).__name__, sorted(vocab.items())])
    special = json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str)
    return digest(text + special)
