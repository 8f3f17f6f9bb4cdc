"""A parent served by an OpenAI-compatible completions server (vLLM, SGLang, ...).

``make_parent("openai:http://HOST:PORT/v1#MODEL")`` gives the same parent protocol as the
in-process :class:`~babyworld.parent.hf.HFParent`, over HTTP:

- **Scoring** sends each (context, continuation) as one token-id prompt (the context's ids, then
  the continuation's, tokenised separately as the in-process parent does) with ``max_tokens=1``
  and vLLM's ``prompt_logprobs=0``, and reads the log-probability the server reports for each
  continuation token.
- **Generation** sends token-id prompts to ``/completions`` stopping at the first newline, with the
  temperature and the seed; greedy (``temperature=0``) by default. A prompt's ``avoid`` words
  (constrained decoding) go as ``logit_bias`` of -100 on the tokens that spell one alone (each
  spelling the server tokenises to a single token), the tokens the in-process parent masks.
- **Tokenisation** uses the server's own ``/tokenize`` endpoint (vLLM's), so ids always match the
  served model; each distinct text is tokenised once per process.

A batch is cut into chunks of ``chunk_size`` prompts, and the chunks go out concurrently (up to
``concurrency`` requests in flight) so that the server batches them. Every request has a timeout;
the OpenAI client retries connection errors, 408/409/429 and 5xx answers ``max_retries`` times
with exponential backoff; then :class:`ParentServerError` names the URL and what to do.
"""

from __future__ import annotations

import functools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from babyworld.parent.base import DEFAULT_CACHE_BYTES, Parent, StoreSetting
from babyworld.parent.vocab import avoid_of, avoided_words

#: the bias that rules a token out (the OpenAI API's floor; vLLM clamps to it)
BANNED = -100

T = TypeVar("T")
SPEC_PREFIX = "openai:"
_INSTALL_HINT = "the served parent needs the 'openai' package: pip install 'babyworld[served]'"


class ParentServerError(RuntimeError):
    """The parent's server is unreachable, timed out, or answered something unusable."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``"openai:<base url>#<model name>"`` -> ``(base url, model name)``.

    Raises:
        ValueError: the spec lacks the URL or the model name.
    """
    body = spec[len(SPEC_PREFIX) :] if spec.startswith(SPEC_PREFIX) else spec
    url, sep, model = body.rpartition("#")
    if not sep or not url or not model or not url.startswith(("http://", "https://")):
        raise ValueError(
            f"bad served-parent spec {spec!r}: write 'openai:<base url>#<model name>', e.g. "
            "'openai:http://127.0.0.1:8000/v1#smollm2' (the URL ends where the OpenAI API "
            "starts, usually /v1; the name is the server's --served-model-name)"
        )
    return url.rstrip("/"), model


class OpenAIParent(Parent):
    """Parent over an OpenAI-compatible completions endpoint with prompt log-probabilities.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model's name (vLLM's ``--served-model-name``).
        timeout: seconds before one HTTP request is abandoned (then retried).
        max_retries: retries of a failed request (connection error, timeout, 408/409/429/5xx),
            with exponential backoff (the OpenAI client's).
        chunk_size: prompts per HTTP request.
        concurrency: requests in flight at once.
        label: name shown in logs (default ``"served:<model>"``).
        cache_size: entries of the exact-request LRU cache (0 disables it).
        cache_bytes: byte budget of the exact-request cache.
        store: the persistent answer store; off unless asked for (babyworld cannot fingerprint
            a served model: its answers are keyed by URL and model name, so only opt in for a
            server whose model does not change), see :class:`~babyworld.parent.base.Parent`.
        check: ask the server for its models on construction, so that an unreachable server or
            a wrong model name fails here, not at the first step.

    Raises:
        ParentServerError: (with ``check``) the server does not answer.
        ValueError: (with ``check``) the server does not serve ``model``; the message lists
            what it serves. Bad argument values.
        ImportError: the ``openai`` package is missing.
    """

    store_by_default = False

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        chunk_size: int = 16,
        concurrency: int = 8,
        label: str | None = None,
        cache_size: int = 65536,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        store: StoreSetting = None,
        check: bool = True,
    ) -> None:
        super().__init__(cache_size=cache_size, cache_bytes=cache_bytes, store=store)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if chunk_size < 1 or concurrency < 1:
            raise ValueError(
                f"chunk_size and concurrency must be >= 1, got {chunk_size} and {concurrency}"
            )
        try:
            import openai
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(_INSTALL_HINT) from e
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.label = label or f"served:{model}"
        self.chunk_size = chunk_size
        self.timeout = float(timeout)
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key="EMPTY", timeout=timeout, max_retries=max_retries
        )
        self.max_retries = max_retries
        # /tokenize and /detokenize are vLLM's, at the server root (beside /v1), outside the API.
        self._root = (
            self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        )
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="babyworld-parent")
        if check:
            self.check_model()

    def __repr__(self) -> str:
        return f"OpenAIParent({self.base_url!r}, {self.model!r})"

    @property
    def runtime(self) -> str:
        """The server and the model it serves."""
        return f"served: {self.model!r} at {self.base_url}"

    def _store_description(self) -> dict[str, Any]:
        return {"engine": "served", "base_url": self.base_url, "model": self.model}

    # ------------------------------------------------------------------ errors
    def _fail(self, what: str, e: Exception | None = None) -> ParentServerError:
        detail = f" ({type(e).__name__}: {e})" if e is not None else ""
        return ParentServerError(f"parent server {self.base_url}: {what}{detail}")

    def _call(self, fn: Callable[[], T], what: str) -> T:
        """Run one request; turn the client's exceptions into messages naming the URL."""
        oa = self._openai
        try:
            return fn()
        except oa.APITimeoutError as e:
            raise self._fail(
                f"{what} timed out after {self.timeout:g} s (and retries); the server is "
                "overloaded or stuck: raise timeout= or check the server's log",
                e,
            ) from e
        except oa.APIConnectionError as e:
            raise self._fail(
                f"cannot connect for {what}; is the server running? Start one with "
                "`babyworld serve-parent` (see docs/scaling.md, 'A served parent')",
                e,
            ) from e
        except oa.NotFoundError as e:
            raise self._fail(
                f"{what}: not found; check the model name {self.model!r} and that the URL "
                "ends with the API root (usually /v1)",
                e,
            ) from e
        except oa.APIStatusError as e:
            raise self._fail(f"{what} was refused with HTTP {e.status_code}", e) from e

    def check_model(self) -> None:
        """Check that the server answers and serves ``self.model``.

        Raises:
            ParentServerError: no answer.
            ValueError: the model is not among the served ones.
        """
        served = [m.id for m in self._call(lambda: list(self._client.models.list()), "/models")]
        if self.model not in served:
            raise ValueError(
                f"parent server {self.base_url} serves {served}, not {self.model!r}; use one of "
                f"those names after '#' in the spec (e.g. 'openai:{self.base_url}#{served[0]}')"
                if served
                else f"parent server {self.base_url} serves no model"
            )

    # ------------------------------------------------------------------ tokenisation
    def _vllm(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to one of vLLM's own endpoints (``/tokenize``, ``/detokenize``)."""
        data = json.dumps({"model": self.model, **body}).encode()
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(
                self._root + path, data, {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    answer = json.loads(r.read())
                break
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise self._fail(
                        f"has no {path} endpoint (vLLM's); the served parent needs a "
                        "vLLM-compatible server"
                    ) from e
                if e.code < 500 or attempt == self.max_retries:
                    raise self._fail(f"{path} was refused with HTTP {e.code}", e) from e
            except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
                if attempt == self.max_retries:
                    raise self._fail(
                        f"cannot reach {path} (timeout {self.timeout:g} s); is the server "
                        "running? Start one with `babyworld serve-parent`",
                        e,
                    ) from e
            time.sleep(min(0.5 * 2**attempt, 8.0))
        if not isinstance(answer, dict):
            raise self._fail(f"{path} answered something unusable: {str(answer)[:200]!r}")
        return answer

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - the parent lives as long as the process
    def _encode(self, text: str, special: bool = False) -> tuple[int, ...]:
        answer = self._vllm("/tokenize", {"prompt": text, "add_special_tokens": special})
        tokens = answer.get("tokens")
        if not isinstance(tokens, list):
            raise self._fail(f"/tokenize answered something unusable: {str(answer)[:200]!r}")
        return tuple(int(t) for t in tokens)

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def _decode(self, token: int) -> str:
        text = self._vllm("/detokenize", {"tokens": [token]}).get("prompt")
        if not isinstance(text, str):
            raise self._fail(f"/detokenize answered something unusable for token {token}")
        return text

    def _encode_all(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text; the distinct texts are tokenised concurrently, once."""
        todo = list(dict.fromkeys(texts))
        ids = dict(zip(todo, self._pool.map(self._encode, todo), strict=True))
        return [list(ids[t]) for t in texts]

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one bias per distinct avoid set
    def _logit_bias(self, avoid: str) -> tuple[tuple[str, int], ...]:
        """``logit_bias`` items ruling out each spelling of ``avoid`` that is one token.

        Each single token is checked by decoding it back (vLLM's ``/detokenize``, once per
        process). For a byte-level BPE tokenizer (SmolLM2's) these are the tokens the in-process
        parent masks; a SentencePiece tokenizer decodes a word-start token without its space, so
        there a few more spellings stay possible than in-process. Not vLLM's ``bad_words``: those
        also ban multi-token spellings, and vLLM 0.32 caps their tokens at 128, fewer than a
        scene's avoided words need.
        """
        words = avoided_words(avoid)
        ones = [
            (w, t[0]) for w, t in zip(words, self._encode_all(words), strict=True) if len(t) == 1
        ]
        decoded = self._pool.map(self._decode, [t for _, t in ones])
        ids = sorted({t for (w, t), text in zip(ones, decoded, strict=True) if text == w})
        return tuple((str(i), BANNED) for i in ids)

    def _context_ids(self, texts: Sequence[str]) -> list[list[int]]:
        ids = self._encode_all(texts)
        for i, t in enumerate(texts):
            if not ids[i]:  # an empty context: start from the tokenizer's own start, if any
                ids[i] = list(self._encode(t, True))
                if not ids[i]:
                    raise ValueError(
                        "the served parent cannot score or continue an empty context (its "
                        "tokenizer adds no start token); give the context some text"
                    )
        return ids

    # ------------------------------------------------------------------ requests
    def _chunks(self, prompts: list[list[int]], request: Callable[[list[list[int]]], T]) -> list[T]:
        """``request`` for each chunk of ``chunk_size`` prompts, concurrently; answers in order."""
        parts = [prompts[i : i + self.chunk_size] for i in range(0, len(prompts), self.chunk_size)]
        return list(self._pool.map(request, parts))

    def _choices(self, resp: Any, n: int, what: str) -> list[Any]:
        choices = sorted(getattr(resp, "choices", None) or [], key=lambda c: c.index)
        if len(choices) != n:
            raise self._fail(f"{what} returned {len(choices)} answers for {n} prompts")
        return choices

    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        ctx = self._context_ids(contexts)
        cont = self._encode_all(continuations)
        seqs = [c + x for c, x in zip(ctx, cont, strict=True)]

        def request(part: list[list[int]]) -> list[list[dict | None]]:
            resp = self._call(
                lambda: self._client.completions.create(
                    model=self.model,
                    prompt=part,
                    max_tokens=1,
                    temperature=0.0,
                    extra_body={"prompt_logprobs": 0},
                ),
                "scoring (/completions with prompt_logprobs)",
            )
            out = []
            for choice in self._choices(resp, len(part), "scoring"):
                plp = getattr(choice, "prompt_logprobs", None)
                if plp is None and isinstance(getattr(choice, "model_extra", None), dict):
                    plp = choice.model_extra.get("prompt_logprobs")
                if not isinstance(plp, list):
                    raise self._fail(
                        "returned no prompt log-probabilities; the served parent needs a server "
                        "that supports vLLM's 'prompt_logprobs' request field (vLLM does; plain "
                        "OpenAI endpoints do not)"
                    )
                out.append(plp)
            return out

        answers = [plp for part in self._chunks(seqs, request) for plp in part]
        result = []
        for seq, n, plp in zip(seqs, (len(x) for x in cont), answers, strict=True):
            if len(plp) != len(seq):
                raise self._fail(
                    f"returned {len(plp)} prompt log-probabilities for a {len(seq)}-token prompt"
                )
            lps = []
            for t in range(len(seq) - n, len(seq)):
                entry = (plp[t] or {}).get(str(seq[t]))
                if entry is None:
                    raise self._fail(f"prompt log-probabilities lack token {seq[t]} at {t}")
                lps.append(float(entry["logprob"] if isinstance(entry, dict) else entry.logprob))
            result.append(np.asarray(lps, dtype=np.float64))
        self.stats.scored_tokens += sum(len(s) for s in seqs)
        return result

    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        seqs = self._context_ids(prompts)

        def request(part: list[list[int]], bias: dict[str, int]) -> tuple[list[str], int]:
            resp = self._call(
                lambda: self._client.completions.create(
                    model=self.model,
                    prompt=part,
                    max_tokens=max_new_tokens,
                    temperature=float(temperature),
                    seed=int(seed),
                    stop=["\n"],
                    logit_bias=bias or None,
                ),
                "generation (/completions)",
            )
            usage = getattr(resp, "usage", None)
            spent = int(usage.completion_tokens or 0) if usage is not None else 0
            return [c.text or "" for c in self._choices(resp, len(part), "generation")], spent

        # a logit_bias holds for a whole request: the rows go by avoid set, in chunks, and
        # every chunk of every set is sent concurrently
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(avoid_of(prompt), []).append(i)
        chunks = [
            (avoid, rows[k : k + self.chunk_size])
            for avoid, rows in groups.items()
            for k in range(0, len(rows), self.chunk_size)
        ]
        bias = {avoid: dict(self._logit_bias(avoid)) if avoid else {} for avoid in groups}
        parts = list(self._pool.map(lambda c: request([seqs[i] for i in c[1]], bias[c[0]]), chunks))
        out = [""] * len(prompts)
        for (_, chunk), (texts, _) in zip(chunks, parts, strict=True):
            for i, text in zip(chunk, texts, strict=True):
                out[i] = text.split("\n")[0].strip()
        self.stats.generated_tokens += sum(spent for _, spent in parts)
        self.stats.prompt_tokens += sum(len(s) for s in seqs)
        return out

    def close(self) -> None:
        """Close the HTTP connections and the request threads."""
        self._pool.shutdown(wait=False)
        self._client.close()


def wait_until_ready(spec: str, timeout: float = 600.0, poll: float = 2.0) -> OpenAIParent:
    """Wait for a served parent's server to start, then return the parent (not shared).

    vLLM takes minutes to start on a CPU; this polls its model list every ``poll`` seconds.

    Raises:
        ParentServerError: the server did not answer within ``timeout`` seconds (the last
            error is in the message).
        ValueError: the server answered but does not serve the spec's model.
    """
    url, model = parse_spec(spec)
    deadline = time.monotonic() + timeout
    while True:
        try:
            OpenAIParent(url, model, max_retries=0, timeout=min(30.0, timeout)).close()
            return OpenAIParent(url, model)
        except ParentServerError as e:
            if time.monotonic() > deadline:
                raise ParentServerError(
                    f"parent server {url} did not start within {timeout:g} s; last error: {e}"
                ) from e
            time.sleep(poll)


__all__ = ["OpenAIParent", "ParentServerError", "parse_spec", "wait_until_ready"]
