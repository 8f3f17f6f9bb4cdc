"""The persistent answer store: sharing, keys, bounds, concurrent writers, kills and bad files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from babyworld.parent.base import ParentStats, Prompt
from babyworld.parent.scripted import ScriptedParent
from babyworld.parent.store import AnswerStore, ModelKey, StoreWarning
from babyworld.parent.store_file import (
    ENV_MAX_MB,
    ENV_PATH,
    SCHEMA_VERSION,
    default_max_bytes,
    default_path,
)

CTX = "the child wants the red ball"
# The scripted parent's model: p(w) = 0.5 * [w in context] / 5 + 0.5 / 1000 per word (5 distinct
# context words: the, child, wants, red, ball).
IN_CTX = np.log(0.5 / 5 + 0.5 / 1000)
UNSEEN = np.log(0.5 / 1000)
ASK = Prompt("Ask for the red ball.", kind="ask_for", object="red ball")


def _requests(n: int, start: int = 0) -> tuple[list[str], list[str]]:
    return [f"the child wants toy {i}" for i in range(start, start + n)], [
        f" toy {i}" for i in range(start, start + n)
    ]


def _fresh(path, **kwargs) -> ScriptedParent:
    """A scripted parent on its own store object (as a new process would have)."""
    return ScriptedParent(store=AnswerStore(path, **kwargs))


# --------------------------------------------------------------------------- sharing and keys


def test_a_second_parent_reads_every_answer_and_computes_nothing(tmp_path):
    path = tmp_path / "answers.sqlite3"
    first = _fresh(path)
    a = first.score([CTX, CTX], [" red ball", " blue car"])
    g = first.generate([ASK])
    assert (first.stats.store_hits, first.stats.computed_requests) == (0, 3)
    second = _fresh(path)
    b = second.score([CTX, CTX], [" red ball", " blue car"])
    assert second.generate([ASK]) == g == ["Can you hand me the red ball?"]
    np.testing.assert_allclose(b[0], [IN_CTX, IN_CTX], atol=1e-12)
    np.testing.assert_allclose(b[1], [UNSEEN, UNSEEN], atol=1e-12)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype == np.float64 and np.array_equal(x, y)
    s = second.stats
    assert (s.requests, s.cache_hits, s.store_hits, s.computed_requests) == (3, 0, 3, 0)
    assert (s.calls, s.computed_tokens, s.hit_rate, s.store_hit_rate) == (0, 0, 1.0, 1.0)
    second.score([CTX], [" red ball"])  # now from memory
    assert (second.stats.cache_hits, second.stats.store_hits) == (1, 3)
    second.store.close()  # flushes its hit counter (as at exit)
    (model,) = AnswerStore(path).info()["models"]
    assert (model["answers"], model["hits"], model["writes"]) == (3, 3, 3)


def test_other_models_and_settings_never_read_each_others_answers(tmp_path):
    path = tmp_path / "answers.sqlite3"
    base = _fresh(path)
    base.score([CTX], [" red ball"])
    base.generate([ASK], max_new_tokens=24)
    other = ScriptedParent(copy=0.25, store=AnswerStore(path))
    (lp,) = other.score([CTX], [" red ball"])
    assert other.stats.store_hits == 0
    np.testing.assert_allclose(lp, [np.log(0.25 / 5 + 0.75 / 1000)] * 2, atol=1e-12)
    same = _fresh(path)
    assert same.generate([ASK], max_new_tokens=3) == ["Can you hand"]  # another setting
    assert same.stats.store_hits == 0
    assert same.generate([ASK], max_new_tokens=24) == ["Can you hand me the red ball?"]
    assert same.stats.store_hits == 1
    keys = {m["label"]: m["answers"] for m in AnswerStore(path).info()["models"]}
    assert len(AnswerStore(path).info()["models"]) == 2 and keys["scripted"] >= 1


def test_sampled_generation_is_never_stored(tmp_path):
    path = tmp_path / "answers.sqlite3"
    p = _fresh(path)
    p.generate([ASK], temperature=1.0, seed=4)
    assert p.stats.calls == 1
    assert AnswerStore(path).info()["models"] == []  # nothing was written
    q = _fresh(path)
    q.generate([ASK], temperature=1.0, seed=4)
    assert (q.stats.store_hits, q.stats.calls) == (0, 1)


def test_the_store_is_off_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_PATH, "off")
    assert default_path() is None
    from babyworld.parent.hf import HFParent

    assert HFParent.store_by_default and ScriptedParent(store=True).store is None
    monkeypatch.setenv(ENV_PATH, str(tmp_path))  # a directory: the file inside it
    assert default_path() == tmp_path / "answers.sqlite3"
    assert ScriptedParent().store is None  # the scripted parent stores only when asked
    assert ScriptedParent(store=False).store is None
    assert ScriptedParent(store=True).store.path == tmp_path / "answers.sqlite3"
    assert ScriptedParent(store=tmp_path / "x.db").store.path == tmp_path / "x.db"
    monkeypatch.setenv(ENV_MAX_MB, "2")
    assert default_max_bytes() == 2 << 20
    monkeypatch.setenv(ENV_MAX_MB, "lots")
    with pytest.raises(ValueError, match=r"BABYWORLD_STORE_MAX_MB must be a positive number"):
        default_max_bytes()
    with pytest.raises(TypeError, match=r"store must be None, True, False, a file path"):
        ScriptedParent(store=3)


def test_the_test_session_uses_its_own_store():
    path = default_path()
    assert path is not None and "babyworld-test-store-" in str(path)


def test_clear_cache_with_store_forgets_the_stored_answers(tmp_path):
    path = tmp_path / "answers.sqlite3"
    p = _fresh(path)
    p.score([CTX], [" red ball"])
    p.clear_cache()
    p.score([CTX], [" red ball"])
    assert (p.stats.store_hits, p.stats.calls) == (1, 1)
    p.clear_cache(store=True)
    p.score([CTX], [" red ball"])
    assert (p.stats.store_hits, p.stats.calls) == (1, 2)


# --------------------------------------------------------------------------- bounds


def test_store_is_bounded_and_evicts_least_recently_used(tmp_path):
    path = tmp_path / "answers.sqlite3"
    store = AnswerStore(path, max_bytes=256 << 10, touch_seconds=0)
    key = ModelKey("test", {"m": 1})
    store.put_many(key, [(b"keep", b"kept")])
    for start in range(0, 6000, 500):
        store.put_many(key, [(f"r{i}".encode(), b"x" * 40) for i in range(start, start + 500)])
        assert store.get_many(key, [b"keep"]) == [b"kept"]  # used: never the least recent
        time.sleep(0.001)
    info = store.info()
    assert info["used_bytes"] <= 256 << 10
    assert 0 < info["models"][0]["answers"] < 6001
    assert store.get_many(key, [b"r0", b"r5999"]) == [None, b"x" * 40]  # oldest gone, newest kept


def test_memory_cache_is_bounded_by_bytes():
    p = ScriptedParent(cache_bytes=64 << 10)
    ctx, cont = _requests(2000)
    p.score(ctx, cont)
    assert 0 < p._memory.nbytes <= 64 << 10
    assert len(p._memory) < 2000
    p.score(ctx[-10:], cont[-10:])  # the most recent answers are still there
    assert p.stats.cache_hits == 10
    with pytest.raises(ValueError, match=r"cache_bytes must be an integer >= 0, got -1"):
        ScriptedParent(cache_bytes=-1)


def test_lru_cache_counts_bytes_and_evicts_the_least_recent():
    from babyworld.parent.lru import LRUCache, approx_bytes

    assert approx_bytes("k1") == 51 and approx_bytes("x" * 100) == 149  # CPython str sizes
    cache = LRUCache(100, max_bytes=700)
    cache.put("k1", "x" * 100)  # 51 + 149 + 120 bytes per entry = 320
    cache.put("k2", "x" * 100)
    assert (len(cache), cache.nbytes) == (2, 640)
    cache.get("k1")  # k1 is now the most recent
    cache.put("k3", "x" * 100)  # 960 > 700: k2 goes
    assert (cache.get("k2"), cache.nbytes) == (None, 640) and cache.get("k1") == "x" * 100
    cache.put("big", "x" * 600)  # 51 + 649 + 120 > 700 on its own: not kept, nothing evicted
    assert (cache.get("big"), len(cache), cache.nbytes) == (None, 2, 640)


def test_new_stats_fields_sum_and_derive():
    s = ParentStats(requests=10, cache_hits=4, store_hits=3, scored_tokens=5)
    d = s.as_dict()
    assert (d["computed_requests"], d["hit_rate"], d["store_hit_rate"]) == (3, 0.7, 0.5)
    assert d["store_hits"] == 3 and d["store_seconds"] == 0.0


# --------------------------------------------------------------------------- processes

_WRITER = textwrap.dedent(
    """
    import sys
    from babyworld.parent.scripted import ScriptedParent
    from babyworld.parent.store import AnswerStore

    path, start, stop, batch = sys.argv[1], *map(int, sys.argv[2:5])
    p = ScriptedParent(cache_size=0, store=AnswerStore(path))
    i = start
    while stop < 0 or i < stop:
        n = batch if stop < 0 else min(batch, stop - i)
        p.score([f"the child wants toy {j}" for j in range(i, i + n)],
                [f" toy {j}" for j in range(i, i + n)])
        i += n
        print(i, flush=True)
    """
)


def _writer(path, start: int, stop: int, batch: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-W", "error::UserWarning", "-c", _WRITER, str(path)]
        + [str(start), str(stop), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_against_fresh_answers(path, n: int) -> int:
    """Every stored answer of the first ``n`` requests equals a fresh one; returns how many."""
    ctx, cont = _requests(n)
    stored = _fresh(path)
    got = stored.score(ctx, cont)
    want = ScriptedParent(store=False).score(ctx, cont)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    return stored.stats.store_hits


@pytest.mark.parametrize("writers", [2, 4])
def test_processes_write_at_once(tmp_path, writers):
    """N processes store overlapping answers together: no lost or wrong answer, no lock error
    (``-W error::UserWarning`` turns a store warning into a failure of the writer)."""
    path = tmp_path / "answers.sqlite3"
    procs = [_writer(path, 1500 * k, 1500 * k + 3000, 100) for k in range(writers)]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    n = 1500 * (writers - 1) + 3000
    assert _check_against_fresh_answers(path, n) == n


def test_a_writer_killed_mid_write_leaves_a_readable_correct_store(tmp_path):
    path = tmp_path / "answers.sqlite3"
    rng = np.random.default_rng(0)
    for _ in range(3):
        proc = _writer(path, 0, -1, 2000)  # writes 2,000 answers per transaction, forever
        first = proc.stdout.readline()
        assert first.strip() == "2000", proc.stderr.read()
        time.sleep(float(rng.uniform(0.05, 0.4)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no store warning: nothing is damaged
            hits = _check_against_fresh_answers(path, 12000)
        assert hits >= 2000  # at least the first committed batch
    # ... and the store still takes writes afterwards.
    p = _fresh(path)
    p.score(["a brand new context"], [" words"])
    assert _fresh(path).score(["a brand new context"], [" words"]) is not None


# --------------------------------------------------------------------------- bad files


def _expect_memory_only(path, match: str) -> None:
    """A parent on ``path`` warns once (``match``), then answers right from memory only."""
    p = _fresh(path)
    with pytest.warns(StoreWarning, match=match):
        (lp,) = p.score([CTX], [" red ball"])
    np.testing.assert_allclose(lp, [IN_CTX, IN_CTX], atol=1e-12)
    assert p.store is None and p.stats.store_hits == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning, not one per call
        assert p.generate([ASK]) == ["Can you hand me the red ball?"]
        p.score([CTX], [" red ball"])
    assert (p.stats.cache_hits, p.stats.calls) == (1, 2)


def test_a_file_that_is_not_a_store_falls_back_to_memory(tmp_path):
    path = tmp_path / "answers.sqlite3"
    path.write_bytes(b"this is not an SQLite file at all" * 200)
    _expect_memory_only(path, r"answers.sqlite3: the file is damaged .*babyworld cache clear")


def test_a_damaged_store_never_gives_a_wrong_answer(tmp_path):
    path = tmp_path / "answers.sqlite3"
    _fresh(path).score(*_requests(3000))
    data = bytearray(path.read_bytes() or b"")
    if len(data) < 8192:  # everything still in the WAL: fold it into the file first
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for i in rng.integers(4096, len(data), size=400):  # flip bits past the header page
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    for side in ("-wal", "-shm"):
        (tmp_path / f"answers.sqlite3{side}").unlink(missing_ok=True)
    ctx, cont = _requests(3000)
    p = _fresh(path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = p.score(ctx, cont)
    want = ScriptedParent(store=False).score(ctx, cont)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    assert all(issubclass(w.category, StoreWarning) for w in seen)
    assert seen  # the damage was noticed (a damaged page or a failed checksum)


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_a_store_damaged_while_a_parent_uses_it_never_gives_a_wrong_answer(tmp_path, damage):
    path = tmp_path / "answers.sqlite3"
    p = ScriptedParent(store=AnswerStore(path), cache_size=0)  # every answer read from the store
    p.score(*_requests(2000))
    p.score(*_requests(10))
    assert p.stats.store_hits == 10  # it reads its answers back from the file
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    size = path.stat().st_size
    with path.open("r+b") as f:  # under the open connection
        if damage == "truncate":
            f.truncate(size // 2)
        else:
            f.seek(4096)
            f.write(np.random.default_rng(2).bytes(size - 4096))
    ctx, cont = _requests(3000)  # 2000 answers it stored, 1000 new ones
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = p.score(ctx, cont)
    want = ScriptedParent(store=False).score(ctx, cont)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    assert all(issubclass(w.category, StoreWarning) for w in seen)
    assert seen  # the damage was noticed


def test_a_row_with_a_wrong_value_is_dropped_not_returned(tmp_path):
    path = tmp_path / "answers.sqlite3"
    _fresh(path).score([CTX], [" red ball"])
    conn = sqlite3.connect(path)
    fake = np.array([0.0, 0.0], dtype="<f8").tobytes()
    assert conn.execute("UPDATE answers SET value=?", (fake,)).rowcount == 1
    conn.commit()
    conn.close()
    p = _fresh(path)
    with pytest.warns(StoreWarning, match=r"1 stored answer\(s\) failed their checksum"):
        (lp,) = p.score([CTX], [" red ball"])
    np.testing.assert_allclose(lp, [IN_CTX, IN_CTX], atol=1e-12)
    assert (p.stats.store_hits, p.stats.calls) == (0, 1)
    q = _fresh(path)  # the bad row was replaced by the recomputed answer
    np.testing.assert_allclose(q.score([CTX], [" red ball"])[0], [IN_CTX, IN_CTX], atol=1e-12)
    assert q.stats.store_hits == 1


def test_a_store_of_another_version_is_left_alone(tmp_path):
    path = tmp_path / "answers.sqlite3"
    _fresh(path).score([CTX], [" red ball"])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE name='schema'")
    conn.commit()
    conn.close()
    _expect_memory_only(
        path,
        rf"written by another babyworld version \(store schema 99; this version reads schema "
        rf"{SCHEMA_VERSION}\)",
    )
    conn = sqlite3.connect(path)  # untouched
    assert conn.execute("SELECT COUNT(*) FROM answers").fetchone() == (1,)


def _read_only_targets(tmp_path) -> list:
    """Store paths this process cannot write: a read-only directory, or for root (who writes
    anywhere) a new directory and a file under the kernel's read-only ``/sys/fs``."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return [ro / "answers.sqlite3", ro / "new" / "answers.sqlite3"]
    if not os.path.isdir("/sys/fs"):
        pytest.skip("running as root without /sys/fs: no read-only directory to test with")
    return [Path("/sys/fs/answers.sqlite3"), Path("/sys/fs/babyworld-test/answers.sqlite3")]


def test_a_read_only_store_directory_falls_back_to_memory(tmp_path):
    for path in _read_only_targets(tmp_path):
        _expect_memory_only(path, r"cannot write it .*the disk or directory is read-only")
    if (tmp_path / "ro").exists():
        (tmp_path / "ro").chmod(0o755)  # so that pytest can remove it


# --------------------------------------------------------------------------- model keys


def test_a_parent_that_cannot_be_fingerprinted_runs_without_the_store(tmp_path):
    class Odd(ScriptedParent):
        def _store_description(self):
            raise RuntimeError("no weights to hash")

    p = Odd(store=AnswerStore(tmp_path / "answers.sqlite3"))
    with pytest.warns(
        StoreWarning, match=r"answers depend on \(RuntimeError: no weights to hash\)"
    ):
        (lp,) = p.score([CTX], [" red ball"])
    np.testing.assert_allclose(lp, [IN_CTX, IN_CTX], atol=1e-12)
    assert p.store is None and not (tmp_path / "answers.sqlite3").exists()


def test_hf_parents_share_answers_only_with_the_same_weights_and_dtype(tmp_path):
    import torch
    from test_parent_unit import PAIRS, _tiny_lm

    from babyworld.parent.hf import HFParent

    store = AnswerStore(tmp_path / "answers.sqlite3")
    ctx, cont = [c for c, _ in PAIRS], [x for _, x in PAIRS]

    def parent(dtype: str = "float32", nudge: float = 0.0) -> HFParent:
        model, tok = _tiny_lm()  # the same seed: the same weights, built anew
        with torch.no_grad():
            model.lm_head.weight.add_(nudge)
        return HFParent(model, tokenizer=tok, dtype=dtype, store=store)

    a = parent()
    scores, text = a.score(ctx, cont), a.generate([ctx[0]], max_new_tokens=3)
    b = parent()
    assert b.model_key().key == a.model_key().key
    assert b.generate([ctx[0]], max_new_tokens=3) == text
    for x, y in zip(scores, b.score(ctx, cont), strict=True):
        assert np.array_equal(x, y)
    assert (b.stats.store_hits, b.stats.calls, b.stats.computed_tokens) == (len(PAIRS) + 1, 0, 0)
    for other in (parent(dtype="bfloat16"), parent(nudge=1e-3)):
        assert other.model_key().key != a.model_key().key
        other.score(ctx, cont)
        assert other.stats.store_hits == 0 and other.stats.computed_tokens > 0
    described = {m["description"]["dtype"] for m in store.info()["models"]}
    assert len(store.info()["models"]) == 3 and described == {"float32", "bfloat16"}
