"""A persistent answer store: a frozen greedy parent's answers in SQLite, shared by every process.

A frozen parent answering greedily is a pure function of (model fingerprint, engine and compute
type, request, decoding settings). :class:`AnswerStore` keeps those answers in one SQLite file
(standard library ``sqlite3``, WAL mode) under babyworld's cache directory, so that every run and
every process on the machine (ablation levels side by side, Ray workers on one host, a second
identical run) reads what any of them computed.

- **Keyed by model.** Every parent registers a *model key*: a digest of a description of
  everything its answers depend on (weights, tokenizer, engine and versions, compute type,
  babyworld's answer format). Each answer row is addressed by a digest of (model key, kind,
  request, decoding settings), so a different model, engine or setting never reads another's
  answers.
- **Checked.** Each row carries a digest of its address and value; a row that fails it is
  dropped and treated as a miss, never returned.
- **Bounded.** The file's used pages stay under ``max_bytes``: past it the least recently used
  answers (to within ``touch_seconds``) are deleted.
- **Safe.** Writes are SQLite transactions (atomic under a kill mid-write; WAL lets readers go on
  while one process writes); concurrent writers wait up to ``timeout`` seconds for the lock, and
  a write that still cannot get it is skipped (the answer stays in memory).
- **Never in the way.** A file that is corrupt, from another babyworld version (schema), or on a
  read-only disk gives one :class:`StoreWarning` naming the file and what to do, and the store
  switches itself off: the parent goes on with its in-memory cache only.

Settings: :mod:`babyworld.parent.store_file` (``BABYWORLD_STORE``, ``BABYWORLD_STORE_MAX_MB``).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babyworld.parent.store_file import (
    DEFAULT_MAX_BYTES,
    Unusable,
    busy,
    connect,
    default_max_bytes,
    default_path,
    explain,
    now_ms,
    side,
    transaction,
)

#: Eviction deletes down to this fraction of ``max_bytes``, so it runs rarely.
_EVICT_TO = 0.8


class StoreWarning(UserWarning):
    """The answer store cannot be used (or lost a row); babyworld goes on without it."""


@dataclass(frozen=True)
class ModelKey:
    """What a parent's answers depend on, and the digest that names it in the store.

    Attributes:
        label: a short human-readable name (``babyworld cache info`` shows it).
        description: everything the answers depend on (JSON-ready); its digest is ``key``.
    """

    label: str
    description: Mapping[str, Any]

    @functools.cached_property
    def key(self) -> str:
        """Hex digest of the description (canonical JSON)."""
        text = json.dumps(self.description, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


_OPEN: dict[tuple[Path, int], AnswerStore] = {}
_OPEN_LOCK = threading.Lock()


def open_store(path: str | Path | None = None, max_bytes: int | None = None) -> AnswerStore | None:
    """The process's :class:`AnswerStore` for ``path`` (default: :func:`default_path`).

    Parents of one process share one store object (and connection) per file. Nothing is opened
    until the store is first used.

    Returns:
        The store, or ``None`` when the settings switch it off.
    """
    if path is None:
        path = default_path()
        if path is None:
            return None
    path = Path(path).expanduser().absolute()
    limit = default_max_bytes() if max_bytes is None else int(max_bytes)
    with _OPEN_LOCK:
        store = _OPEN.get((path, limit))
        if store is None:
            store = _OPEN[(path, limit)] = AnswerStore(path, max_bytes=limit)
        return store


def _checksum(digest: bytes, value: bytes) -> bytes:
    return hashlib.blake2b(digest + value, digest_size=8).digest()


class AnswerStore:
    """Answers of frozen greedy parents in one SQLite file (see the module docstring).

    Args:
        path: the store's file (created with its directory on first use).
        max_bytes: bound of the file's used pages; the least recently used answers go first.
        timeout: seconds a writer waits for another process's lock before skipping its write.
        touch_seconds: a hit refreshes an answer's last-use time at most this often (reads stay
            reads); eviction order is least recently used to within this.

    Attributes:
        disabled: why the store switched itself off (``None`` while it works).
        skipped_writes: writes this process skipped because another held the lock too long.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = 10.0,
        touch_seconds: float = 60.0,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.timeout = float(timeout)
        self.touch_seconds = float(touch_seconds)
        self.disabled: str | None = None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._models: dict[str, int] = {}
        self._pending_hits: dict[int, int] = {}
        self._last_flush = 0.0
        self.skipped_writes = 0

    def __repr__(self) -> str:
        state = f", disabled: {self.disabled}" if self.disabled else ""
        return f"AnswerStore({str(self.path)!r}{state})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_conn=None, _pid=-1, _models={}, _pending_hits={}, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ opening and failing
    def _disable(self, why: str) -> None:
        if self.disabled is None:
            self.disabled = why
            warnings.warn(
                f"babyworld's answer store {self.path}: {why}. Going on without it (answers are "
                "cached in memory only, and computed again by the next run).",
                StoreWarning,
                stacklevel=4,
            )
        self._conn = None

    def _connect(self) -> sqlite3.Connection | None:
        """The connection of this process (opened, and the schema checked, on first use)."""
        if self.disabled is not None:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited through fork() must not be used; open our own.
        self._conn, self._models, self._pending_hits = None, {}, {}
        try:
            conn = connect(self.path, self.timeout)
        except Unusable as e:
            self._disable(str(e))
            return None
        if conn is None:  # busy: another process holds the lock; try again at the next call
            return None
        self._conn, self._pid = conn, os.getpid()
        atexit.unregister(self.close)
        atexit.register(self.close)  # flush the hit counters at exit
        return conn

    def _model_id(self, conn: sqlite3.Connection, model: ModelKey, create: bool) -> int | None:
        key = model.key
        if key in self._models:
            return self._models[key]
        row = conn.execute("SELECT id FROM models WHERE key=?", (key,)).fetchone()
        if row is None:
            if not create:
                return None
            with transaction(conn):
                conn.execute(
                    "INSERT OR IGNORE INTO models (key, label, description, created) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        key,
                        model.label,
                        json.dumps(dict(model.description), sort_keys=True),
                        time.time(),
                    ),
                )
            row = conn.execute("SELECT id FROM models WHERE key=?", (key,)).fetchone()
        self._models[key] = int(row[0])
        return self._models[key]

    @staticmethod
    def digest(model: ModelKey, request: bytes) -> bytes:
        """The address of one answer: a digest of the model key and the request's bytes."""
        return hashlib.blake2b(model.key.encode() + b"\0" + request, digest_size=20).digest()

    # ------------------------------------------------------------------ reading and writing
    def get_many(self, model: ModelKey, requests: Sequence[bytes]) -> list[bytes | None]:
        """The stored answer of each request (``None`` where there is none).

        Never raises on a store problem: a failure reads as misses (and may switch the store
        off with a :class:`StoreWarning`).
        """
        out: list[bytes | None] = [None] * len(requests)
        if not requests:
            return out
        with self._lock:
            conn = self._connect()
            if conn is None:
                return out
            digests = [self.digest(model, r) for r in requests]
            where = {d: i for i, d in enumerate(digests)}
            found: dict[bytes, tuple[bytes, int]] = {}
            bad: list[bytes] = []
            try:
                mid = self._model_id(conn, model, create=False)
                if mid is None:
                    return out
                unique = list(where)
                for start in range(0, len(unique), 500):
                    part = unique[start : start + 500]
                    rows = conn.execute(
                        "SELECT digest, value, checksum, used FROM answers WHERE digest IN "
                        f"({','.join('?' * len(part))})",
                        part,
                    ).fetchall()
                    for d, value, check, used in rows:
                        d, value = bytes(d), bytes(value)
                        if _checksum(d, value) != bytes(check):
                            bad.append(d)
                        else:
                            found[d] = (value, int(used))
            except sqlite3.OperationalError as e:
                if busy(e):
                    return out
                self._disable(explain(e))
                return out
            except sqlite3.Error as e:
                self._disable(explain(e))
                return out
            for i, d in enumerate(digests):
                if d in found:
                    out[i] = found[d][0]
            now = now_ms()
            stale = [d for d, (_, used) in found.items() if now - used >= 1000 * self.touch_seconds]
            self._pending_hits[mid] = self._pending_hits.get(mid, 0) + len(found)
            if bad:
                warnings.warn(
                    f"babyworld's answer store {self.path}: {len(bad)} stored answer(s) failed "
                    "their checksum and were dropped (computed again instead)",
                    StoreWarning,
                    stacklevel=3,
                )
            if stale or bad or time.monotonic() - self._last_flush >= self.touch_seconds:
                self._write(conn, lambda: self._touch(conn, stale, bad, now))
        return out

    def put_many(self, model: ModelKey, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Store ``(request, answer)`` pairs (an answer already there is kept), then evict.

        Never raises on a store problem (see :meth:`get_many`); a write that cannot get the
        lock within ``timeout`` seconds is skipped.
        """
        if not items:
            return
        with self._lock:
            conn = self._connect()
            if conn is None:
                return
            now = now_ms()
            rows = []
            for request, value in items:
                d = self.digest(model, request)
                rows.append((d, value, _checksum(d, value), now))

            def write() -> None:
                mid = self._model_id(conn, model, create=True)
                with transaction(conn):
                    before = conn.total_changes
                    conn.executemany(
                        "INSERT OR IGNORE INTO answers (digest, model, value, checksum, used) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(d, mid, v, c, u) for d, v, c, u in rows],
                    )
                    added = conn.total_changes - before
                    conn.execute("UPDATE models SET writes = writes + ? WHERE id=?", (added, mid))
                    self._flush_hits(conn)
                    self._evict(conn)

            self._write(conn, write)

    def _write(self, conn: sqlite3.Connection, fn: Any) -> None:
        try:
            fn()
        except sqlite3.OperationalError as e:
            if busy(e):
                self.skipped_writes += 1
                return
            self._disable(explain(e))
        except sqlite3.Error as e:
            self._disable(explain(e))

    def _touch(
        self, conn: sqlite3.Connection, stale: list[bytes], bad: list[bytes], now: int
    ) -> None:
        with transaction(conn):
            if stale:
                conn.executemany(
                    "UPDATE answers SET used=? WHERE digest=?", [(now, d) for d in stale]
                )
            if bad:
                conn.executemany("DELETE FROM answers WHERE digest=?", [(d,) for d in bad])
            self._flush_hits(conn)

    def _flush_hits(self, conn: sqlite3.Connection) -> None:
        for mid, n in self._pending_hits.items():
            if n:
                conn.execute("UPDATE models SET hits = hits + ? WHERE id=?", (n, mid))
        self._pending_hits = {}
        self._last_flush = time.monotonic()

    def _used_bytes(self, conn: sqlite3.Connection) -> int:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * conn.execute("PRAGMA page_size").fetchone()[0]

    def _evict(self, conn: sqlite3.Connection) -> int:
        """Delete least recently used answers until the used pages fit ``max_bytes``."""
        deleted = 0
        for _ in range(8):
            used = self._used_bytes(conn)
            if used <= self.max_bytes:
                break
            rows = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            if not rows:
                break
            target = _EVICT_TO * self.max_bytes
            k = max(1, int(rows * (used - target) / used) + 1)
            conn.execute(
                "DELETE FROM answers WHERE digest IN "
                "(SELECT digest FROM answers ORDER BY used LIMIT ?)",
                (k,),
            )
            deleted += k
        return deleted

    # ------------------------------------------------------------------ maintenance
    def info(self) -> dict[str, Any]:
        """Path, sizes, and per model key: label, answers, hits and writes (JSON-ready)."""
        out: dict[str, Any] = {
            "path": str(self.path),
            "exists": self.path.exists(),
            "max_bytes": self.max_bytes,
            "file_bytes": sum(
                p.stat().st_size
                for p in (self.path, side(self.path, "-wal"), side(self.path, "-shm"))
                if p.exists()
            ),
            "models": [],
        }
        if not self.path.exists():
            return out
        with self._lock:
            conn = self._connect()
            if conn is None:
                out["disabled"] = self.disabled
                return out
            try:
                self._write(conn, lambda: _flush(self, conn))
                out["used_bytes"] = self._used_bytes(conn)
                counts = dict(
                    conn.execute("SELECT model, COUNT(*) FROM answers GROUP BY model").fetchall()
                )
                for mid, key, label, desc, hits, writes in conn.execute(
                    "SELECT id, key, label, description, hits, writes FROM models ORDER BY id"
                ):
                    out["models"].append(
                        {
                            "key": key,
                            "label": label,
                            "answers": int(counts.get(mid, 0)),
                            "hits": int(hits),
                            "writes": int(writes),
                            "description": json.loads(desc),
                        }
                    )
            except sqlite3.Error as e:
                self._disable(explain(e))
                out["disabled"] = self.disabled
        return out

    def clear(self, model: str | None = None) -> int:
        """Delete every answer, or one model key's answers.

        A usable store is emptied in place (processes using it go on); a damaged file, or one
        of another babyworld version, is removed with its WAL files.

        Args:
            model: a model key (or a unique prefix of one, as ``babyworld cache info`` prints);
                ``None``: every answer of every model.

        Returns:
            The number of answers deleted (-1: an unreadable file was removed uncounted).

        Raises:
            ValueError: ``model`` matches no key or more than one, or the store is unreadable
                (then only a whole clear can remove it).
        """
        with self._lock:
            conn = self._connect()
            if conn is None and self.disabled is None:
                raise ValueError(
                    f"the store {self.path} is locked by another process; try again in a moment"
                )
            if conn is None:
                if model is not None:
                    raise ValueError(
                        f"cannot read the store {self.path} ({self.disabled}); clear it whole "
                        "with `babyworld cache clear`"
                    )
                self._conn, self._models, self.disabled = None, {}, None
                for p in (self.path, side(self.path, "-wal"), side(self.path, "-shm")):
                    p.unlink(missing_ok=True)
                return -1
            rows = conn.execute("SELECT id, key FROM models").fetchall()
            chosen = rows if model is None else [r for r in rows if r[1].startswith(model)]
            if model is not None and len(chosen) != 1:
                raise ValueError(
                    f"model key {model!r} matches {len(chosen)} of the store's keys "
                    f"({', '.join(k for _, k in rows) or 'none'}); give one of them (or a "
                    "unique prefix), as `babyworld cache info` prints them"
                )
            with transaction(conn):
                if model is None:
                    n = conn.execute("DELETE FROM answers").rowcount
                    conn.execute("DELETE FROM models")
                else:
                    n = conn.execute("DELETE FROM answers WHERE model=?", (chosen[0][0],)).rowcount
                    conn.execute("DELETE FROM models WHERE id=?", (chosen[0][0],))
            self._models, self._pending_hits = {}, {}
            try:
                conn.execute("VACUUM")  # give the space back to the disk
            except sqlite3.OperationalError:  # another process is reading: the pages are reused
                pass
            return int(n)

    def close(self) -> None:
        """Flush pending hit counters and close this process's connection."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._write(self._conn, lambda: _flush(self, self._conn))
                self._conn.close()
            self._conn = None


def _flush(store: AnswerStore, conn: sqlite3.Connection) -> None:
    if any(store._pending_hits.values()):
        with transaction(conn):
            store._flush_hits(conn)
