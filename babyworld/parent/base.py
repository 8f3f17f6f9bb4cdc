"""The parent protocol: batched generation and scoring, with an exact-request cache and counters.

A parent is anything that can (1) continue a batch of prompts and (2) return the per-token
log-probabilities of a batch of continuations given their contexts. Judging, interpreting and
curriculum design are built on these two calls (see :mod:`babyworld.parent.judge`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


class Prompt(str):
    """A prompt text that also carries its structured request.

    LLM parents read the text. The :class:`~babyworld.parent.scripted.ScriptedParent` reads
    ``kind`` and ``fields`` to fill its templates, so the same env code drives both.
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

    ``tokens`` counts the model tokens of every request the model answered (prompt + generated +
    scored); cached answers cost none. ``requests`` counts individual prompts or (context,
    continuation) pairs asked for. A parent that reuses shared prompt prefixes reads
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
        """Fraction of requests answered from the cache."""
        return self.cache_hits / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float]:
        """Counters plus derived figures, ready for logging."""
        d: dict[str, float] = asdict(self)
        d["tokens"] = self.tokens
        d["computed_tokens"] = self.computed_tokens
        d["hit_rate"] = self.hit_rate
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
        return (str(prompt), prompt.kind, tuple(sorted(prompt.fields.items())))
    return (str(prompt), None, ())


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        if self.size <= 0:
            return
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)

    def clear(self) -> None:
        self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


class Parent(ABC):
    """Base class of every parent: validation, an LRU cache of exact requests, and counters.

    Subclasses implement :meth:`_generate` and :meth:`_score` for a batch of cache misses; each is
    expected to be one batched model call (chunked only to bound memory).

    Attributes:
        label: human-readable name, shown in logs and tables.
        scripted: ``True`` for template parents with no language model.
    """

    label: str = "parent"
    scripted: bool = False

    def __init__(self, cache_size: int = 65536) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.stats = ParentStats()
        self._gen_cache = _LRU(cache_size)
        self._score_cache = _LRU(cache_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    def clear_cache(self) -> None:
        """Forget every cached answer (counters are kept)."""
        self._gen_cache.clear()
        self._score_cache.clear()

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
            "no no no ...").
        """
        if isinstance(prompts, str):
            raise TypeError("generate() takes a list of prompts; wrap a single prompt in a list")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        opts = (max_new_tokens, float(temperature), int(seed) if temperature > 0 else 0)
        return self._cached(
            self._gen_cache,
            [(_request_key(p), opts) for p in prompts],
            list(prompts),
            lambda misses: [
                shorten_repeats(text)
                for text in self._generate(
                    misses, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
                )
            ],
        )

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
        keys = [(_request_key(c), str(x)) for c, x in zip(contexts, continuations, strict=True)]
        return self._cached(
            self._score_cache,
            keys,
            list(zip(contexts, continuations, strict=True)),  # a Prompt keeps its structure
            lambda misses: self._score([c for c, _ in misses], [str(x) for _, x in misses]),
        )

    def _cached(
        self, cache: _LRU, keys: list[Any], payloads: list[Any], compute: Callable
    ) -> list[Any]:
        """Answer from the cache where possible; ``compute`` the distinct misses in one call."""
        out: list[Any] = [None] * len(keys)
        miss_idx: dict[Any, list[int]] = {}
        for i, k in enumerate(keys):
            hit = cache.get(k)
            if hit is not None:
                out[i] = hit
            else:
                miss_idx.setdefault(k, []).append(i)
        self.stats.requests += len(keys)
        self.stats.cache_hits += len(keys) - sum(len(v) for v in miss_idx.values())
        if miss_idx:
            misses = list(miss_idx)
            t0 = time.perf_counter()
            results = compute([payloads[miss_idx[k][0]] for k in misses])
            self.stats.seconds += time.perf_counter() - t0
            self.stats.calls += 1
            for k, r in zip(misses, results, strict=True):
                cache.put(k, r)
                for i in miss_idx[k]:
                    out[i] = r
        return [o.copy() if isinstance(o, np.ndarray) else o for o in out]

    @abstractmethod
    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """Generate for a batch of uncached prompts; update ``self.stats`` token counters."""

    @abstractmethod
    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        """Score a batch of uncached pairs; update ``self.stats.scored_tokens``."""
