"""The answer store's file: where it lives, its SQLite schema, and how it is opened.

Settings (read when a parent first needs the store, never at import):

- ``BABYWORLD_STORE``: the store's file (default ``$BABYWORLD_CACHE/answers.sqlite3``, i.e.
  ``~/.cache/babyworld/answers.sqlite3``); ``off`` (or ``0``, ``false``, ``no``) switches the
  store off for every parent.
- ``BABYWORLD_STORE_MAX_MB``: the size bound in MiB (default 1024).

What is kept in it, and how: :mod:`babyworld.parent.store`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path

#: Version of the file's layout; a file of another version is left alone (memory-only fallback).
SCHEMA_VERSION = 1
#: Default bound of the store's used pages (1 GiB).
DEFAULT_MAX_BYTES = 1 << 30
ENV_PATH = "BABYWORLD_STORE"
ENV_MAX_MB = "BABYWORLD_STORE_MAX_MB"
FILE_NAME = "answers.sqlite3"
_OFF = {"off", "0", "false", "no", "none"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,
    label TEXT NOT NULL,
    description TEXT NOT NULL,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    writes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS answers (
    digest BLOB PRIMARY KEY,
    model INTEGER NOT NULL,
    value BLOB NOT NULL,
    checksum BLOB NOT NULL,
    used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answers_used ON answers(used);
CREATE INDEX IF NOT EXISTS answers_model ON answers(model);
"""


def cache_root() -> Path:
    """Where babyworld keeps its files: ``$BABYWORLD_CACHE`` or ``~/.cache/babyworld``."""
    return Path(os.environ.get("BABYWORLD_CACHE", Path.home() / ".cache" / "babyworld"))


def default_path() -> Path | None:
    """The store file the settings name: ``$BABYWORLD_STORE``, or under the cache; ``None``: off."""
    value = os.environ.get(ENV_PATH)
    if value is not None:
        if value.strip().lower() in _OFF or not value.strip():
            return None
        path = Path(value).expanduser()
        return path / FILE_NAME if path.is_dir() else path
    return cache_root() / FILE_NAME


def default_max_bytes() -> int:
    """``$BABYWORLD_STORE_MAX_MB`` in bytes, or :data:`DEFAULT_MAX_BYTES`.

    Raises:
        ValueError: the variable is not a positive number.
    """
    value = os.environ.get(ENV_MAX_MB)
    if value is None:
        return DEFAULT_MAX_BYTES
    try:
        mb = float(value)
    except ValueError:
        mb = float("nan")
    if not mb > 0 or mb == float("inf"):
        raise ValueError(f"{ENV_MAX_MB} must be a positive number of MiB, got {value!r}")
    return int(mb * (1 << 20))


class Unusable(Exception):
    """The file cannot be a store: its message says why and what to do."""


def connect(path: Path, timeout: float) -> sqlite3.Connection | None:
    """A WAL connection to the store at ``path`` (the file and its schema made on first use).

    Returns:
        The connection (autocommit: writes go through :class:`transaction`), or ``None`` when
        another process held the lock past ``timeout`` seconds (try again later).

    Raises:
        Unusable: the directory or file cannot be written, is damaged, or holds another schema.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Unusable(explain(e)) from e
    conn = None
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = schema_version(conn)
        if version is None:
            with transaction(conn):
                create(conn)
            version = schema_version(conn)
    except sqlite3.Error as e:
        if conn is not None:
            conn.close()
        if isinstance(e, sqlite3.OperationalError) and busy(e):
            return None
        raise Unusable(explain(e)) from e
    if version != SCHEMA_VERSION:
        conn.close()
        raise Unusable(
            f"it was written by another babyworld version (store schema {version}; this "
            f"version reads schema {SCHEMA_VERSION}). Start a new store with `babyworld "
            f"cache clear`, or point {ENV_PATH} at another file"
        )
    return conn


def explain(e: Exception) -> str:
    """Why ``e`` makes the store unusable, and what to do (a :class:`StoreWarning`'s text)."""
    text = str(e)
    low = text.lower()
    denied = isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    if denied or "readonly" in low or "read-only" in low or "unable to open" in low:
        return (
            f"cannot write it ({text}); the disk or directory is read-only. Point "
            f"{ENV_PATH} at a writable file, or set {ENV_PATH}=off"
        )
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return (
            f"the file is damaged ({text}); delete it with `babyworld cache clear` (or "
            "remove the file) and a new store is made on the next run"
        )
    return f"{type(e).__name__}: {text}"


def schema_version(conn: sqlite3.Connection) -> int | str | None:
    """The file's schema version; ``None`` for a new (empty) file."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    if "meta" not in tables:
        return "unknown (no babyworld meta table)"
    row = conn.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
    if row is None:
        return "unknown (no version recorded)"
    try:
        return int(row[0])
    except ValueError:
        return repr(row[0])


def create(conn: sqlite3.Connection) -> None:
    """Make the tables of an empty file and record its schema version."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
    )


def now_ms() -> int:
    """Wall-clock milliseconds: the answers' last-use times (comparable across processes)."""
    return time.time_ns() // 1_000_000


def side(path: Path, suffix: str) -> Path:
    """SQLite's file beside ``path`` (``-wal``, ``-shm``)."""
    return path.with_name(path.name + suffix)


def busy(e: sqlite3.OperationalError) -> bool:
    """Whether ``e`` says another process holds the lock."""
    text = str(e).lower()
    return "locked" in text or "busy" in text


class transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        else:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
