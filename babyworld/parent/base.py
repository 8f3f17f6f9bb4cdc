"""The parent protocol: batched generation and scoring, with answer caches and counters.

A parent is anything that can (1) continue a batch of prompts and (2) return the per-token
log-probabilities of a batch of continuations given their contexts. Judging, interpreting and
curriculum design are built on these two calls (see :mod:`babyworld.parent.judge`).

Answers are looked up in two layers before the model runs: an in-memory LRU cache of exact
requests (bounded by entries and by bytes), then, for parents that can name what their answers
depend on, the persistent :class:`~babyworld.parent.store.AnswerStore` shared by every process on
the machine (greedy answers only).
"""

from __future__ import annotations

import json
import numbers
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.parent.lru import LRUCache
from babyworld.parent.store import AnswerStore, ModelKey, StoreWarning, open_store

#: Default byte budget of a parent's in-memory answer cache (both kinds together).
DEFAULT_CACHE_BYTES = 16 << 20
#: Version of what babyworld stores as an answer (post-processing of generations included);
#: part of every model key, so a change of it never reads older answers.
ANSWER_FORMAT = 1


class Prompt(str):
    """A prompt text that also carries its structured request.

    LLM parents read the text. The :class:`~babyworld.parent.scripted.ScriptedParent` reads
    ``kind`` and ``fields`` to fill its templates, so the same env code drives both.

    A field ``opening`` holds the first words of the answer, which the text already ends with:
    :meth:`Parent.generate` returns the opening followed by the parent's continuation (the env
    decides how a reaction begins, e.g. by the parent's own verdict; the parent says the rest).
    A field ``avoid`` lists words (space-separated) the continuation must not say: the LLM
    backends never pick a token that spells one of them (:mod:`babyworld.parent.vocab`), so a reaction
    names only toys the parent has in view (constrained decoding; the words stay the LLM's).
    """

    kind: str
    fields: Mapping[str, str]

    def __new__(cls, text: str, kind: str, **fields: str) -> Prompt:
        """A prompt ``text`` of request ``kind`` with its structured ``fields``."""
        obj = super().__new__(cls, text)
        obj.kind = kind
        obj.fields = dict(fields)
        return obj

    def __reduce__(self) -> tuple:
        return (_make_prompt, (str(self), self.kind, dict(self.fields)))


def _make_prompt(text: str, kind: str, fields: dict[str, str]) -> Prompt:
    return Prompt(text, kind, **fields)


@dataclass
class ParentStats:
    """Cumulative counters of one parent instance (logged under ``parent/``).

    ``requests`` counts individual prompts or (context, continuation) pairs asked for; each is
    answered from the in-memory cache (``cache_hits``), from the persistent answer store
    (``store_hits``, ``store_seconds`` spent reading and writing it) or by the model
    (``computed_requests``). ``tokens`` counts the model tokens of every request the model
    answered (prompt + generated + scored); stored and cached answers cost none. A parent that
    reuses shared prompt prefixes reads
    ``prefix_hit_tokens`` of those tokens from stored keys/values instead of computing them, and
    computed ``prefix_built_tokens`` to build the stored prefixes; ``computed_tokens`` is what the
    model really ran. ``seconds`` is wall-clock time inside model calls (``calls`` of them).
    """

    calls: int = 0
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    scored_tokens: int = 0
    seconds: float = 0.0
    prefix_hit_tokens: int = 0
    prefix_built_tokens: int = 0
    store_hits: int = 0
    store_seconds: float = 0.0

    @property
    def computed_requests(self) -> int:
        """Requests the model answered (neither cached in memory nor stored)."""
        return self.requests - self.cache_hits - self.store_hits

    @property
    def computed_tokens(self) -> int:
        """Tokens the model actually ran (prefix reuse subtracted, prefix building added)."""
        return self.tokens - self.prefix_hit_tokens + self.prefix_built_tokens

    @property
    def latency(self) -> float:
        """Mean seconds per batched model call."""
        return self.seconds / self.calls if self.calls else 0.0

    @property
    def tokens(self) -> int:
        """All tokens the model processed."""
        return self.prompt_tokens + self.generated_tokens + self.scored_tokens

    @property
    def hit_rate(self) -> float:
        """Fraction of requests answered without the model (memory cache or answer store)."""
        return (self.cache_hits + self.store_hits) / self.requests if self.requests else 0.0

    @property
    def store_hit_rate(self) -> float:
        """Fraction of the memory cache's misses that the answer store answered."""
        asked = self.requests - self.cache_hits
        return self.store_hits / asked if asked else 0.0

    def as_dict(self) -> dict[str, float]:
        """Counters plus derived figures, ready for logging."""
        d: dict[str, float] = asdict(self)
        d["tokens"] = self.tokens
        d["computed_tokens"] = self.computed_tokens
        d["computed_requests"] = self.computed_requests
        d["hit_rate"] = self.hit_rate
        d["store_hit_rate"] = self.store_hit_rate
        d["latency"] = self.latency
        return d


def shorten_repeats(text: str, keep: int = 2) -> str:
    """Cut ``text`` before the first word said more than ``keep`` times in a row.

    Words compare case- and punctuation-insensitively; the cut drops trailing commas and spaces:
    ``"Oh no, no no no no"`` becomes ``"Oh no, no"`` and ``"Yes, yes, yes, yes,"`` becomes
    ``"Yes, yes"``.
    """
    words = text.split()
    run, last = 0, None
    for i, word in enumerate(words):
        key = word.strip(".,!?;:'\"").lower()
        run = run + 1 if key and key == last else 1
        last = key
        if run > keep:
            return " ".join(words[:i]).rstrip(" ,;:")
    return text


def _request_key(prompt: str) -> tuple:
    """Cache key of a prompt: its text plus, for a structured :class:`Prompt`, kind and fields.

    Two prompts with the same text but different structure must not share an answer (the scripted
    parent answers from the structure).
    """
    if isinstance(prompt, Prompt):
        key = prompt.__dict__.get("_key")  # a Prompt does not change: its key is kept on it
        if key is None:
            key = prompt.__dict__["_key"] = (
                str(prompt),
                prompt.kind,
                tuple(sorted(prompt.fields.items())),
            )
        return key
    return (str(prompt), None, ())


def _store_request(key: tuple) -> bytes:
    """The bytes that address a request in the answer store (its whole memory-cache key)."""
    return json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()


def _encode(answer: Any) -> bytes:
    """An answer as stored: a generation's UTF-8 text, a score's little-endian float64 values."""
    if isinstance(answer, str):
        return answer.encode()
    return np.ascontiguousarray(answer, dtype="<f8").tobytes()


def _decode(kind: str, blob: bytes) -> Any:
    """The answer :func:`_encode` stored (``None`` if the bytes cannot be one)."""
    if kind == "generate":
        try:
            return blob.decode()
        except UnicodeDecodeError:
            return None
    if len(blob) % 8:
        return None
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


StoreSetting = bool | str | Path | AnswerStore | None
"""A parent's ``store=`` argument (see :class:`Parent`)."""


class Parent(ABC):
    """Base class of every parent: validation, answer caches, and counters.

    Subclasses implement :meth:`_generate` and :meth:`_score` for a batch of cache misses; each is
    expected to be one batched model call (chunked only to bound memory). A subclass whose
    answers are a pure function of the request also implements :meth:`_store_description`, and
    its greedy answers are then kept in the persistent answer store.

    Args:
        cache_size: most entries of the in-memory cache of exact requests (generation and
            scoring together); 0 switches both the memory cache and, unless ``store`` asks for
            it explicitly, the persistent store off.
        cache_bytes: byte budget of the in-memory cache (approximate; least recently used
            answers go first).
        store: the persistent answer store. ``None``: the settings decide (on by default for
            parents with :attr:`store_by_default`; ``BABYWORLD_STORE`` names the file or
            ``off``); ``False``: off; ``True``: on, at the settings' file; a path: that file; or
            an :class:`~babyworld.parent.store.AnswerStore`.

    Attributes:
        label: human-readable name, shown in logs and tables.
        scripted: ``True`` for template parents with no language model.
        store_by_default: whether ``store=None`` uses the persistent store.
    """

    label: str = "parent"
    scripted: bool = False
    store_by_default: bool = True

    def __init__(
        self,
        cache_size: int = 65536,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        store: StoreSetting = None,
    ) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        if (
            isinstance(cache_bytes, bool)
            or not isinstance(cache_bytes, numbers.Integral)
            or cache_bytes < 0
        ):
            raise ValueError(f"cache_bytes must be an integer >= 0, got {cache_bytes!r}")
        self.stats = ParentStats()
        #: Seconds per stage of the model calls, for profiles (``babyworld bench``): subclasses
        #: add ``tokenize``, ``prefix``, ``prefill``, ``decode``, ``score``, ``post``.
        self.timings: dict[str, float] = {}
        self._memory = LRUCache(cache_size, cache_bytes)
        self._store = self._resolve_store(store, cache_size)
        self._model_key: ModelKey | None = None

    def _resolve_store(self, store: StoreSetting, cache_size: int) -> AnswerStore | None:
        if store is None:
            return open_store() if self.store_by_default and cache_size > 0 else None
        if store is False:
            return None
        if store is True:
            return open_store()
        if isinstance(store, AnswerStore):
            return store
        if isinstance(store, str | Path):
            return open_store(store)
        raise TypeError(
            f"store must be None, True, False, a file path or an AnswerStore, got {store!r}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    @property
    def runtime(self) -> str:
        """How this parent computes on this machine: engine, dtype and why.

        A run prints it at its start and keeps it in its ``config.json``.
        """
        return type(self).__name__

    def _clock(self, stage: str, since: float) -> float:
        """Add the seconds since ``since`` to ``self.timings[stage]``; return the time now."""
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now

    @property
    def store(self) -> AnswerStore | None:
        """The persistent answer store this parent reads and writes (``None``: none)."""
        if self._store is None or self._store.disabled is not None:
            return None
        return self._store

    def clear_cache(self, *, store: bool = False) -> None:
        """Forget every cached answer (counters are kept).

        Args:
            store: also delete this parent's answers from the persistent store (for every
                process that shares it).
        """
        self._memory.clear()
        if store and self.store is not None:
            key = self.model_key()
            if key is not None and key.key in {m["key"] for m in self.store.info()["models"]}:
                self.store.clear(key.key)

    def model_key(self) -> ModelKey | None:
        """What this parent's answers depend on (``None``: they cannot be stored).

        Computed once, on first use (it may hash the model's weights).
        """
        if self._model_key is None:
            description = self._store_description()
            if description is None:
                return None
            self._model_key = ModelKey(
                self.label,
                {"parent": type(self).__name__, "answers": ANSWER_FORMAT, **description},
            )
        return self._model_key

    def _store_model_key(self) -> ModelKey | None:
        """:meth:`model_key`, or ``None`` (store switched off, with a warning) if it fails."""
        try:
            return self.model_key()
        except Exception as e:  # noqa: BLE001 - a model that cannot be fingerprinted still runs
            warnings.warn(
                f"{self!r} cannot name what its answers depend on ({type(e).__name__}: {e}); "
                "its answers are not kept in the persistent store",
                StoreWarning,
                stacklevel=4,
            )
            self._store = None
            return None

    def _store_description(self) -> dict[str, Any] | None:
        """Everything the answers depend on besides the request (JSON-ready; ``None``: unknown).

        Subclasses whose answers are a pure function of the request and of this description
        override it; the default keeps the parent out of the persistent store.
        """
        return None

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 24,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> list[str]:
        """Continue each prompt; one batched call for all uncached prompts.

        Args:
            prompts: N prompt texts.
            max_new_tokens: at most this many new tokens per prompt.
            temperature: 0 means greedy decoding (the default, deterministic); > 0 samples.
            seed: seeds sampling. A sampled answer is reproducible for the same batch of cache
                misses (the seed is set once per batch), and is cached under (prompt, seed).

        Returns:
            N continuations, each cut at its first newline, stripped, and cut before a word
            said a third time in a row (:func:`shorten_repeats`: small models loop on
            "no no no ..."); a :class:`Prompt` with an ``opening`` gets it in front.
        """
        if isinstance(prompts, str):
            raise TypeError("generate() takes a list of prompts; wrap a single prompt in a list")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        opts = (max_new_tokens, float(temperature), int(seed) if temperature > 0 else 0)
        answers = self._cached(
            [("generate", _request_key(p), opts) for p in prompts],
            list(prompts),
            lambda misses: [
                shorten_repeats(text)
                for text in self._generate(
                    misses, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
                )
            ],
            storable=temperature == 0,  # a sampled answer depends on its batch: never stored
        )
        return [
            f"{p.fields['opening']} {a}".strip()
            if isinstance(p, Prompt) and p.fields.get("opening")
            else a
            for p, a in zip(prompts, answers, strict=True)
        ]

    def score(self, contexts: Sequence[str], continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probabilities (natural log) of each continuation given its context.

        Args:
            contexts: N context texts.
            continuations: N continuation texts (usually starting with a space).

        Returns:
            N ``float64`` arrays, one log-probability per continuation token of the parent.
        """
        if isinstance(contexts, str) or isinstance(continuations, str):
            raise TypeError("score() takes lists of contexts and continuations")
        if len(contexts) != len(continuations):
            raise ValueError(
                f"got {len(contexts)} contexts but {len(continuations)} continuations; "
                "pass one continuation per context"
            )
        for c in continuations:
            if not c.strip():
                raise ValueError("cannot score an empty continuation; pass at least one word")
        keys = [
            ("score", _request_key(c), str(x)) for c, x in zip(contexts, continuations, strict=True)
        ]
        return self._cached(
            keys,
            list(zip(contexts, continuations, strict=True)),  # a Prompt keeps its structure
            lambda misses: self._score([c for c, _ in misses], [str(x) for _, x in misses]),
            storable=True,
        )

    def _cached(
        self, keys: list[tuple], payloads: list[Any], compute: Callable, storable: bool
    ) -> list[Any]:
        """Answer from memory, then the store, where possible; ``compute`` the rest in one call.

        Args:
            keys: one hashable key per request; ``key[0]`` is ``"generate"`` or ``"score"``.
            payloads: what ``compute`` takes for each request.
            compute: answers a list of distinct missing payloads, in order.
            storable: the answers may be read from and written to the persistent store.
        """
        out: list[Any] = [None] * len(keys)
        miss_idx: dict[Any, list[int]] = {}
        for i, k in enumerate(keys):
            hit = self._memory.get(k)
            if hit is not None:
                out[i] = hit
            else:
                miss_idx.setdefault(k, []).append(i)
        self.stats.requests += len(keys)
        self.stats.cache_hits += len(keys) - sum(len(v) for v in miss_idx.values())
        misses = list(miss_idx)
        store = self.store if storable and misses else None
        model = self._store_model_key() if store is not None else None
        if store is not None and model is not None:
            t0 = time.perf_counter()
            blobs = store.get_many(model, [_store_request(k) for k in misses])
            left = []
            for k, blob in zip(misses, blobs, strict=True):
                answer = None if blob is None else _decode(k[0], blob)
                if answer is None:
                    left.append(k)
                    continue
                self._memory.put(k, answer)
                self.stats.store_hits += len(miss_idx[k])
                for i in miss_idx[k]:
                    out[i] = answer
            misses = left
            self.stats.store_seconds += time.perf_counter() - t0
        if misses:
            t0 = time.perf_counter()
            results = compute([payloads[miss_idx[k][0]] for k in misses])
            self.stats.seconds += time.perf_counter() - t0
            self.stats.calls += 1
            for k, r in zip(misses, results, strict=True):
                self._memory.put(k, r)
                for i in miss_idx[k]:
                    out[i] = r
            if store is not None and model is not None:
                t0 = time.perf_counter()
                store.put_many(
                    model,
                    [(_store_request(k), _encode(r)) for k, r in zip(misses, results, strict=True)],
                )
                self.stats.store_seconds += time.perf_counter() - t0
        return [o.copy() if isinstance(o, np.ndarray) else o for o in out]

    @abstractmethod
    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """Generate for a batch of uncached prompts; update ``self.stats`` token counters."""

    @abstractmethod
    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        """Score a batch of uncached pairs; update ``self.stats.scored_tokens``."""
