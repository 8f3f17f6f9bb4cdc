"""``babyworld cache info|clear``: what the parent's persistent answer store holds, and emptying it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from babyworld.parent.store import AnswerStore, open_store
from babyworld.parent.store_file import ENV_MAX_MB, ENV_PATH, default_path


def _store(path: Path | None) -> AnswerStore | None:
    if path is not None:
        return AnswerStore(path)
    return open_store() if default_path() is not None else None


def _mb(n: int) -> str:
    """Bytes in KiB below 1 MiB, else in MiB."""
    return f"{n / 1024:,.0f} KiB" if n < 1 << 20 else f"{n / (1 << 20):,.1f} MiB"


def _engine(description: dict[str, Any]) -> str:
    parts = [str(description.get(k)) for k in ("engine", "dtype", "device") if k in description]
    return " ".join(parts) or "?"


def cache_info(path: Path | None = None) -> str:
    """A few lines: the store's file, its sizes and bound, and per model key what it holds.

    Args:
        path: the store's file (default: the settings', ``$BABYWORLD_STORE`` or the cache's).
    """
    store = _store(path)
    if store is None:
        return f"the answer store is off ({ENV_PATH}={_env_value()}); nothing is kept on disk"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        info = store.info()
    lines = [f"answer store: {info['path']}"]
    if not info["exists"]:
        return lines[0] + " (empty: no run has stored an answer yet)"
    if "disabled" in info:
        return "\n".join(lines + [f"unusable: {info['disabled']}"])
    lines.append(
        f"size: {_mb(info['file_bytes'])} on disk, {_mb(info.get('used_bytes', 0))} used, "
        f"bound {_mb(info['max_bytes'])} ({ENV_MAX_MB}); least recently used answers go first"
    )
    rows = [("model key", "label", "engine", "answers", "hits", "writes")]
    for m in info["models"]:
        rows.append(
            (
                m["key"],
                m["label"],
                _engine(m["description"]),
                f"{m['answers']:,}",
                f"{m['hits']:,}",
                f"{m['writes']:,}",
            )
        )
    if len(rows) == 1:
        lines.append("no answers stored")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        lines.append("hits: answers read by runs; writes: answers computed and stored")
    lines += [str(w.message) for w in seen]
    return "\n".join(lines)


def cache_clear(path: Path | None = None, model: str | None = None) -> str:
    """Empty the store (or remove an unusable file), or delete one model key's answers.

    Args:
        path: the store's file (default: the settings').
        model: a model key, or a unique prefix of one, as ``cache info`` prints it.

    Raises:
        ValueError: ``model`` matches no key, or more than one.
    """
    store = _store(path)
    if store is None:
        return f"the answer store is off ({ENV_PATH}={_env_value()}); nothing to clear"
    if not store.path.exists():
        return f"no answer store at {store.path}; nothing to clear"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unusable file is exactly what clear removes
        n = store.clear(model)
    if n < 0:
        return f"removed the unusable answer store {store.path}"
    what = f"model key {model}" if model is not None else "every model"
    return f"deleted {n:,} answers of {what} from {store.path}"


def _env_value() -> str:
    return os.environ.get(ENV_PATH, "")
