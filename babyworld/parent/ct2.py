"""A parent run by CTranslate2: the same model converted offline, no transformers at run time.

CTranslate2 runs a converted causal LM (``config.json`` + ``model.bin``) with its own C++ kernels;
the ``tokenizers`` library reads the model's ``tokenizer.json``. Neither imports transformers, so
a warm start is the engine's load alone. Generation is ``Generator.generate_batch`` (greedy unless
sampling is asked for; the few-shot script every request of a group shares is passed as its
``static_prompt``, whose state the engine keeps); scoring is ``Generator.score_batch``.

Specs (see :func:`~babyworld.parent.factory.make_parent`):

- ``"ct2"``: the default parent (SmolLM2-135M-Instruct), converted from babyworld's own torch
  cache on first use into ``<cache>/smollm2-...-ct2-<weights>`` (about 15 s, once, atomically);
- ``"ct2:<dir>"``: a directory converted with CTranslate2's ``ct2-transformers-converter ...
  --copy_files tokenizer.json`` (or :func:`convert`).

Torch (``smollm2``, ``hf:<dir>``) stays the reference and the path for any Hugging Face model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.parent.base import DEFAULT_CACHE_BYTES, Parent, StoreSetting
from babyworld.parent.digest import digest, files_digest
from babyworld.parent.prefix import prefix_groups
from babyworld.parent.vocab import Vocabulary, avoid_of

#: compute types offered (``int8``: int8 weights and matmuls; ``int8_float32``: int8 weights,
#: float32 compute; ``float32``: the reference precision).
COMPUTE_TYPES = ("int8", "int8_float32", "float32")
#: marker written into a converted directory: what it was converted from.
MARKER = "BABYWORLD_SOURCE.json"
_TORCH_HINT = (
    "run the model with torch instead: --parent smollm2 (the default parent) or "
    "--parent hf:<model dir> (any Hugging Face causal LM)"
)


class CT2Error(OSError):
    """A CTranslate2 model directory that cannot serve as a parent (the message says why)."""


def weights_for(compute_type: str) -> str:
    """How a conversion stores weights for ``compute_type`` (``int8`` or ``float32``)."""
    return "float32" if compute_type == "float32" else "int8"


def _source_fingerprint(source: Path) -> dict[str, Any]:
    """What a torch model directory holds, cheaply: its config's digest, weight files' sizes."""
    files = sorted(p for p in source.iterdir() if p.suffix in (".safetensors", ".bin"))
    return {
        "source": str(source.resolve()),
        "config": digest((source / "config.json").read_bytes()),
        "weight_files": {p.name: p.stat().st_size for p in files},
    }


def convert(source: Path, target: Path, weights: str = "int8") -> Path:
    """Convert a Hugging Face causal LM directory into a CTranslate2 directory (atomically).

    Args:
        source: a local model directory (``config.json``, weights, ``tokenizer.json``).
        target: the directory to create (must not exist).
        weights: ``"int8"`` or ``"float32"`` weights on disk.

    Raises:
        CT2Error: the source is missing or has no ``tokenizer.json``, or CTranslate2 cannot
            convert its architecture (the message names the torch path).
    """
    if weights not in ("int8", "float32"):
        raise ValueError(f"weights must be 'int8' or 'float32', got {weights!r}")
    if not (source / "config.json").is_file():
        raise CT2Error(f"{source} is not a model directory (no config.json); {_TORCH_HINT}")
    if not (source / "tokenizer.json").is_file():
        raise CT2Error(
            f"{source} has no tokenizer.json (a fast tokenizer), which the CTranslate2 parent "
            f"reads; {_TORCH_HINT}"
        )
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as e:
        raise CT2Error(f"the ct2 parent needs: pip install ctranslate2==4.8.5 ({e})") from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        try:
            TransformersConverter(str(source), copy_files=["tokenizer.json"]).convert(
                str(tmp / "model"), quantization=None if weights == "float32" else "int8"
            )
        except Exception as e:  # the converter raises ValueError, KeyError, ... per architecture
            raise CT2Error(
                f"CTranslate2 cannot convert the model in {source} ({type(e).__name__}: {e}); "
                + _TORCH_HINT.replace("<model dir>", str(source))
            ) from e
        marker = {**_source_fingerprint(source), "weights": weights}
        (tmp / "model" / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        try:
            os.rename(tmp / "model", target)
        except OSError:
            if not (target / MARKER).is_file():  # lost a race to a complete conversion: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def default_dir(weights: str) -> Path:
    """Where the default parent's conversion with ``weights`` lives (beside its torch cache)."""
    from babyworld.parent.smollm2 import cache_dir

    torch_dir = cache_dir()
    return torch_dir.with_name(f"{torch_dir.name}-ct2-{weights}")


def ensure_default(weights: str) -> Path:
    """The default parent converted for CTranslate2, converting it on first use (cached)."""
    from babyworld.parent.smollm2 import ensure_cache

    target = default_dir(weights)
    if (target / MARKER).is_file():
        return target
    if target.exists():
        raise CT2Error(
            f"{target} is an incomplete CTranslate2 conversion (no {MARKER}); delete it and it "
            "will be converted again on the next run"
        )
    return convert(ensure_cache(), target, weights)


def check_default(path: Path) -> None:
    """Raise :class:`CT2Error` if ``path`` was not converted from the default parent's cache."""
    from babyworld.parent.smollm2 import cache_dir

    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError) as e:
        raise CT2Error(f"{path} has no readable {MARKER} ({e}); delete the directory") from e
    source = cache_dir()
    if not (source / "config.json").is_file():
        return  # the torch cache was deleted after conversion: nothing to compare with
    want = _source_fingerprint(source)
    got = {k: marker.get(k) for k in want}
    if got != want:
        raise CT2Error(
            f"{path} holds another model than the default parent (converted from "
            f"{marker.get('source')!r}, not {want['source']!r}); delete it and it will be "
            f"converted again, or {_TORCH_HINT}"
        )


class CT2Parent(Parent):
    """Parent over a causal LM converted for CTranslate2.

    Args:
        path: a converted directory (``config.json``, ``model.bin``, ``tokenizer.json``).
        compute_type: one of :data:`COMPUTE_TYPES`.
        threads: CPU threads of the engine (0: every core).
        max_batch: largest number of sequences in one engine call.
        label: name shown in logs (defaults to the path).
        cache_size: entries of the exact-request LRU cache (see :class:`Parent`).
        cache_bytes: byte budget of the exact-request cache.
        store: the persistent answer store (see :class:`Parent`); answers are keyed by a digest of
            the model files, the compute type and the engine's version.
        min_prefix_tokens: requests sharing at least this many leading tokens (cut back to a line
            boundary) are generated with that prefix as the engine's cached ``static_prompt``.

    Raises:
        CT2Error: the directory does not exist, is not a CTranslate2 model, lacks its tokenizer,
            holds a tokenizer of another vocabulary, or the engine cannot run it; each message
            names the torch path.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        compute_type: str = "int8",
        threads: int = 0,
        max_batch: int = 64,
        label: str | None = None,
        cache_size: int = 65536,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        store: StoreSetting = None,
        min_prefix_tokens: int = 16,
    ) -> None:
        super().__init__(cache_size=cache_size, cache_bytes=cache_bytes, store=store)
        if compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type must be one of {COMPUTE_TYPES}, got {compute_type!r}")
        if threads < 0 or max_batch < 1 or min_prefix_tokens < 1:
            raise ValueError(
                "threads must be >= 0, max_batch and min_prefix_tokens >= 1; got "
                f"{threads}, {max_batch}, {min_prefix_tokens}"
            )
        self.path = Path(path)
        self.label = label or str(path)
        self.compute_type = compute_type
        self.max_batch = max_batch
        self.min_prefix_tokens = min_prefix_tokens
        self._check_dir()
        import ctranslate2
        import tokenizers

        try:
            self.generator = ctranslate2.Generator(
                str(self.path),
                device="cpu",
                compute_type=compute_type,
                intra_threads=threads or (os.cpu_count() or 1),
            )
        except Exception as e:  # RuntimeError / ValueError for unsupported models or types
            raise CT2Error(
                f"CTranslate2 cannot run the model in {self.path} with compute type "
                f"{compute_type} ({type(e).__name__}: {e}); {_TORCH_HINT}"
            ) from e
        self.tokenizer = tokenizers.Tokenizer.from_file(str(self.path / "tokenizer.json"))
        vocab = json.loads((self.path / "vocabulary.json").read_text())
        size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        if len(vocab) < size or any(
            self.tokenizer.id_to_token(i) != vocab[i] for i in (0, size // 2, size - 1)
        ):
            raise CT2Error(
                f"{self.path}/tokenizer.json does not belong to the model beside it (its "
                f"vocabulary of {size} differs from the model's {len(vocab)} tokens); copy the "
                f"model's own tokenizer.json there, or {_TORCH_HINT}"
            )
        config = json.loads((self.path / "config.json").read_text())
        eos = config.get("eos_token")
        bos = config.get("bos_token")
        self.eos_id = vocab.index(eos) if eos in vocab else None
        self.start_token = bos if bos in vocab else (eos if eos in vocab else vocab[0])
        self._vocab = Vocabulary(self.tokenizer.decode_batch([[i] for i in range(len(vocab))]),
                                 self.eos_id)  # fmt: skip
        self._stop_ids = self._vocab.stop_ids
        self._line_ends = {self.tokenizer.id_to_token(i) for i in self._stop_ids}
        self._static_seen: set[tuple[str, ...]] = set()

    def _check_dir(self) -> None:
        p = self.path
        if not p.is_dir():
            raise CT2Error(f"no CTranslate2 model directory at {p}; {_TORCH_HINT}")
        missing = [
            n for n in ("config.json", "model.bin", "vocabulary.json") if not (p / n).is_file()
        ]
        if missing:
            hint = (
                f"it looks like a Hugging Face model: run it with torch (--parent hf:{p}) or "
                f"convert it: ct2-transformers-converter --model {p} --output_dir <dir> "
                "--quantization int8 --copy_files tokenizer.json"
                if (p / "config.json").is_file()
                else _TORCH_HINT
            )
            raise CT2Error(f"{p} is not a CTranslate2 model (missing {', '.join(missing)}); {hint}")
        if not (p / "tokenizer.json").is_file():
            raise CT2Error(
                f"{p} has no tokenizer.json; copy the model's tokenizer.json there (the converter's "
                f"--copy_files tokenizer.json does), or {_TORCH_HINT}"
            )

    @property
    def runtime(self) -> str:
        """CTranslate2 and its compute type."""
        return f"CTranslate2 {self.compute_type} on cpu"

    def _store_description(self) -> dict[str, Any]:
        import ctranslate2

        names = ("config.json", "model.bin", "vocabulary.json", "tokenizer.json")
        return {
            "engine": "ctranslate2",
            "ctranslate2": ctranslate2.__version__,
            "compute_type": self.compute_type,
            "device": "cpu",
            "files": files_digest(self.path / name for name in names),
        }

    def _tokens(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=False).tokens or [self.start_token]

    def _static_head(self, tokens: list[str], length: int) -> int:
        """``length`` cut back to just after a line end (a stable few-shot script boundary)."""
        for k in range(length, 0, -1):
            if tokens[k - 1] in self._line_ends:
                return k
        return 0

    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        t = time.perf_counter()
        seqs = [self._tokens(p) for p in prompts]
        t = self._clock("tokenize", t)
        opts: dict[str, Any] = {
            "max_length": max_new_tokens,
            "include_prompt_in_result": False,
            "end_token": self._stop_ids,
            "max_batch_size": self.max_batch,
        }
        if temperature > 0:
            import ctranslate2

            ctranslate2.set_random_seed(seed)
            opts |= {"sampling_topk": 0, "sampling_temperature": temperature}
        out: list[str | None] = [None] * len(prompts)
        avoids = [avoid_of(p) for p in prompts]
        groups = prefix_groups(seqs, [len(s) - 1 for s in seqs], self.min_prefix_tokens)
        for length, members in groups:
            head = self._static_head(seqs[members[0]], length)
            if head < self.min_prefix_tokens:
                head = 0
            static = seqs[members[0]][:head]
            key = tuple(static)
            if head and key not in self._static_seen:
                self._static_seen.add(key)
                self.stats.prefix_built_tokens += head
            self.stats.prefix_hit_tokens += head * len(members)
            self.stats.prompt_tokens += sum(len(seqs[i]) for i in members)
            t = time.perf_counter()
            results = {}
            for avoid in dict.fromkeys(avoids[i] for i in members):
                part = [i for i in members if avoids[i] == avoid]
                banned = self._vocab.avoided(avoid)
                suppress = [[self.tokenizer.id_to_token(b)] for b in banned] or None
                results |= zip(part, self.generator.generate_batch(
                    [seqs[i][head:] for i in part], static_prompt=static or None,
                    suppress_sequences=suppress, **opts,
                ), strict=True)  # fmt: skip
            t = self._clock("decode", t)
            for i, r in results.items():
                ids = r.sequences_ids[0]
                self.stats.generated_tokens += len(ids)
                out[i] = self.tokenizer.decode(ids).split("\n")[0].strip()
            self._clock("post", t)
        return out  # type: ignore[return-value]

    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        t = time.perf_counter()
        ctx = [self._tokens(c) for c in contexts]
        cont = [self.tokenizer.encode(x, add_special_tokens=False).tokens for x in continuations]
        t = self._clock("tokenize", t)
        results = self.generator.score_batch(
            [c + x for c, x in zip(ctx, cont, strict=True)], max_batch_size=self.max_batch
        )
        t = self._clock("score", t)
        out = []
        for r, x in zip(results, cont, strict=True):
            out.append(np.asarray(r.log_probs[len(r.log_probs) - len(x) :], dtype=np.float64))
            self.stats.scored_tokens += len(r.log_probs) + 1
        self._clock("post", t)
        return out


def load_ct2(spec_path: str | None, **kwargs: Any) -> CT2Parent:
    """The parent of spec ``ct2`` (``spec_path=None``: the default parent) or ``ct2:<dir>``."""
    compute_type = kwargs.get("compute_type", "int8")
    if compute_type not in COMPUTE_TYPES:
        raise ValueError(f"compute_type must be one of {COMPUTE_TYPES}, got {compute_type!r}")
    if spec_path is None:
        path = ensure_default(weights_for(compute_type))
        check_default(path)
        kwargs.setdefault("label", f"smollm2-ct2-{compute_type}")
        return CT2Parent(path, **kwargs)
    return CT2Parent(Path(spec_path).expanduser(), **kwargs)
