"""A parent backed by any Hugging Face causal language model, run in-process with PyTorch."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babyworld.parent.base import DEFAULT_CACHE_BYTES, Parent, StoreSetting
from babyworld.parent.cascade import NAME as CASCADE
from babyworld.parent.cascade import cache_kwarg, plain_dynamic_cache
from babyworld.parent.cascade import install as install_cascade
from babyworld.parent.cascade import register as register_cascade
from babyworld.parent.cpu import native_bf16, resolve_dtype
from babyworld.parent.digest import digest, tokenizer_digest, weights_digest
from babyworld.parent.greedy import greedy_loop, last_positions
from babyworld.parent.prefix import KV, PrefixStore, prefix_groups
from babyworld.parent.vocab import Vocabulary, avoid_of
from babyworld.validation import ValidationError


class _Ban:
    """A logits processor that rules out each row's avoided tokens (``mask``: ``[rows, vocab]``)."""

    def __init__(self, mask: torch.Tensor) -> None:
        self.mask = mask

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.masked_fill(self.mask, float("-inf"))


class _FirstTokenClock:
    """A logits processor that notes when ``generate`` first asks for one (prefill is over)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.at is None:
            self.at = time.perf_counter()
        return scores


class HFParent(Parent):
    """Parent over a ``transformers`` causal LM (a hub id or a local directory).

    Scoring is one forward pass per chunk of ``max_batch`` pairs, left-padded so that only the
    last positions (the continuations) are projected to the vocabulary. Generation is greedy by
    default and stops at the first newline.

    Args:
        model_or_path: hub id, local directory, or an already-built ``PreTrainedModel``.
        tokenizer: tokenizer to use with a model object (loaded from the path otherwise).
        dtype: ``"auto"`` picks bf16 on CPUs with native bf16 support, else fp32.
        device: torch device string.
        max_batch: largest number of sequences in one forward pass.
        label: name shown in logs (defaults to the path).
        cache_size: entries of the exact-request LRU cache (0 disables it, and the persistent
            store unless ``store`` asks for it).
        cache_bytes: byte budget of the exact-request cache.
        store: the persistent answer store shared by every process (on by default; see
            :class:`~babyworld.parent.base.Parent`). Answers are keyed by a digest of the
            weights, the tokenizer, the generation config, the compute dtype, the device type
            and the torch and transformers versions, computed on first use.
        prefix_cache: reuse the keys/values of prompt prefixes shared by several requests (the
            envs' few-shot scripts) instead of recomputing them; results equal the plain path up
            to floating-point rounding. Applies to models whose cache is a plain full-attention
            ``DynamicCache`` (Llama, GPT-2, SmolLM2, ...); for others it is switched off and
            ``self.prefix_cache`` reads ``False``.
        min_prefix_tokens: a shared prefix shorter than this is not reused.
        prefix_cache_size: most prefixes whose keys/values are kept.
        decode: how greedy answers are decoded: ``"loop"`` (the default: a plain loop of forward
            passes that drops finished rows; the same argmax rule, the same answers, faster side
            by side) or ``"generate"`` (transformers' ``generate``, the path before it). Sampled
            answers (``temperature > 0``) always use ``generate``.
        attention: how rows read a stored prefix: ``"cascade"`` (the default: the prefix's
            keys/values stay at batch 1 and every row's attention reads them in place,
            :mod:`babyworld.parent.cascade`; for models on transformers' SDPA attention, which this
            switches to the cascade function) or ``"expand"`` (the prefix is expanded to the
            batch and concatenated with each row's keys, the path before it). Both give the same
            answers up to floating-point rounding; ``decode="generate"`` always expands.
    """

    def __init__(
        self,
        model_or_path: str | Path | torch.nn.Module,
        tokenizer: object | None = None,
        *,
        dtype: str | torch.dtype = "auto",
        device: str = "cpu",
        max_batch: int = 64,
        label: str | None = None,
        cache_size: int = 65536,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        store: StoreSetting = None,
        prefix_cache: bool = True,
        min_prefix_tokens: int = 16,
        prefix_cache_size: int = 16,
        decode: str = "loop",
        attention: str = "cascade",
    ) -> None:
        super().__init__(cache_size=cache_size, cache_bytes=cache_bytes, store=store)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not isinstance(prefix_cache, bool):
            raise ValidationError(f"prefix_cache must be True or False, got {prefix_cache!r}")
        if min_prefix_tokens < 1:
            raise ValueError(f"min_prefix_tokens must be >= 1, got {min_prefix_tokens}")
        if prefix_cache_size < 1:
            raise ValueError(
                f"prefix_cache_size must be >= 1, got {prefix_cache_size} "
                "(to switch prefix reuse off pass prefix_cache=False)"
            )
        if decode not in ("generate", "loop"):
            raise ValueError(f"decode must be 'generate' or 'loop', got {decode!r}")
        if attention not in ("cascade", "expand"):
            raise ValueError(f"attention must be 'cascade' or 'expand', got {attention!r}")
        self.decode, self.max_batch, self._auto = decode, max_batch, dtype == "auto"
        self._vocab: tuple[Vocabulary, torch.Tensor] | None = None  # with the stop tokens' mask
        self.device = torch.device(device)
        self.dtype = resolve_dtype(dtype, self.device.type)
        if isinstance(model_or_path, torch.nn.Module):
            if tokenizer is None:
                raise ValueError("pass tokenizer= together with a model object")
            model = model_or_path
            self.label = label or type(model).__name__
        else:
            source = str(model_or_path)
            self.label = label or source
            try:
                tokenizer = tokenizer or AutoTokenizer.from_pretrained(source)
                with _quiet_progress_bars():  # a bar per load would sit in the middle of logs
                    model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype)
            except Exception as e:  # transformers and safetensors raise many kinds
                raise OSError(
                    f"could not load a causal LM from {source!r}: {e}\n"
                    "Pass an existing local directory (config.json, weights, tokenizer) or, with "
                    "network access, a hub id; or use the default parent 'smollm2'."
                ) from e
        self.model = model.to(device=self.device, dtype=self.dtype).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)
        start = (
            tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        )
        self.start_id = int(start if start is not None else self.pad_id)
        nl = tokenizer.encode("\n", add_special_tokens=False)
        self._newline_ids = set(nl[-1:])
        self._cache_kwarg = cache_kwarg(self.model)
        self.prefix_cache = prefix_cache and plain_dynamic_cache(self.model)
        self.min_prefix_tokens = min_prefix_tokens
        self._prefixes = PrefixStore(prefix_cache_size, min_prefix_tokens)
        #: whether rows read stored prefixes in place (cascade attention) rather than expanded
        self.cascade = (
            attention == "cascade"
            and self.prefix_cache
            and install_cascade(self.model, self._cache_kwarg)
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a model on cascade attention needs its name registered in this process."""
        self.__dict__.update(state)
        if self.cascade:
            register_cascade()

    @property
    def _cascade_now(self) -> bool:
        """Cascade was installed and the model still runs it (not switched away since)."""
        return self.cascade and self.model.config._attn_implementation == CASCADE

    @property
    def runtime(self) -> str:
        """Torch, the dtype and why it was chosen, the attention and the decoding."""
        name = str(self.dtype).removeprefix("torch.")
        if self._auto and self.device.type == "cpu":
            why = f"auto: this CPU has {'native' if native_bf16() else 'no native'} bf16"
        else:
            why = "auto" if self._auto else "as requested"
        path = "cascade attention" if self.cascade else "prefix expanded to the batch"
        return f"torch {name} on {self.device.type} ({why}), {path}, {self.decode} decoding"

    def clear_cache(self, *, store: bool = False) -> None:
        """Forget every cached answer and stored prefix (counters are kept).

        Args:
            store: also delete this parent's answers from the persistent store.
        """
        super().clear_cache(store=store)
        self._prefixes.clear()

    def _store_description(self) -> dict[str, Any]:
        import transformers

        # Cascade attention rounds differently in bf16, so its answers get their own key; the
        # expanded path keeps the description (and the stored answers) it had before cascade.
        path = {"attention": "cascade"} if self.cascade else {}
        return {
            "engine": "torch",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "model": type(self.model).__name__,
            "weights": weights_digest(self.model),
            "config": digest(self.model.config.to_json_string(use_diff=False)),
            "generation": digest(self.model.generation_config.to_json_string(use_diff=False)),
            "tokenizer": tokenizer_digest(self.tokenizer),
            "ids": [self.pad_id, self.start_id, sorted(self._newline_ids)],
            "decode": self.decode,
            **path,
        }

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - the parent lives as long as the process
    def _encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, add_special_tokens=False))

    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s) :] = 1
        return ids.to(self.device), mask.to(self.device)

    # ------------------------------------------------------------------ batching and prefixes
    def _plan(
        self, seqs: list[list[int]], limits: list[int], build_singletons: bool
    ) -> list[tuple[int, KV | None, list[int]]]:
        """Split a batch into chunks of at most ``max_batch`` rows sharing a stored prefix.

        Returns ``(prefix_length, prefix_kv, indices)`` per chunk; ``(0, None, ...)`` chunks run
        without a prefix. Rows are sorted by length inside each group so chunks pad little.
        """
        jobs: list[tuple[int, KV | None, list[int]]] = []
        plain: list[int] = []
        if self.prefix_cache:
            for length, members in prefix_groups(seqs, limits, self.min_prefix_tokens):
                head = seqs[members[0]][:length]
                if length >= self.min_prefix_tokens and (len(members) > 1 or build_singletons):
                    jobs.append((length, self._prefix_kv(head), members))
                    continue
                have, kv = self._prefixes.longest(head)
                if kv is None:
                    plain += members
                else:
                    jobs.append((have, kv, members))
        else:
            plain = list(range(len(seqs)))
        if plain:
            jobs.append((0, None, plain))
        chunks = []
        for length, kv, members in jobs:
            members = sorted(members, key=lambda i: len(seqs[i]))
            for start in range(0, len(members), self.max_batch):
                chunks.append((length, kv, members[start : start + self.max_batch]))
        return chunks

    def _prefix_kv(self, tokens: list[int]) -> KV:
        """Keys/values of ``tokens`` (batch 1): the longest stored prefix plus the computed rest."""
        from transformers import DynamicCache

        have, kv = self._prefixes.longest(tokens)
        if kv is not None and have == len(tokens):
            return kv
        past = DynamicCache(ddp_cache_data=kv) if kv is not None else DynamicCache()
        rest = torch.tensor([tokens[have:]], dtype=torch.long, device=self.device)
        self.model(
            input_ids=rest,
            attention_mask=torch.ones((1, len(tokens)), dtype=torch.long, device=self.device),
            position_ids=torch.arange(have, len(tokens), device=self.device)[None],
            use_cache=True,
            **{self._cache_kwarg: past},
            logits_to_keep=1,
        )
        kv = [(layer.keys, layer.values) for layer in past.layers]
        self._prefixes.put(tokens, kv)
        self.stats.prefix_built_tokens += len(tokens) - have
        return kv

    def _batch(
        self, seqs: list[list[int]], length: int, kv: KV | None, cascade: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, object | None, dict[str, Any]]:
        """Inputs for rows whose first ``length`` tokens' keys/values are ``kv`` (or none).

        Returns ``(suffix ids, attention mask, position ids of the suffix, past key/values, extra
        forward kwargs)``; suffixes are left-padded, so padding sits between the prefix and each
        row's own tokens and is masked out. With ``cascade`` the prefix is passed as
        ``shared_prefix`` (read in place by every row) and the mask and past cover the suffix
        only; otherwise the past is the prefix expanded to the batch and the mask covers both.
        """
        ids, mask = self._left_pad([s[length:] for s in seqs])
        pos = (mask.cumsum(-1) - 1).clamp(min=0) + length
        self.stats.prefix_hit_tokens += length * len(seqs)
        if kv is None:
            return ids, mask, pos, None, {}
        if cascade:
            return ids, mask, pos, None, {"shared_prefix": kv}
        from transformers import DynamicCache

        b = len(seqs)
        past = DynamicCache(
            ddp_cache_data=[(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in kv]
        )
        ones = torch.ones((b, length), dtype=mask.dtype, device=mask.device)
        return ids, torch.cat([ones, mask], 1), pos, past, {}

    @torch.inference_mode()
    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        t = time.perf_counter()
        ctx = [list(self._encode(c)) or [self.start_id] for c in contexts]
        cont = [list(self._encode(x)) for x in continuations]
        seqs = [c + x for c, x in zip(ctx, cont, strict=True)]
        out: list[np.ndarray | None] = [None] * len(contexts)
        t = self._clock("tokenize", t)
        # The prefix must leave the last context token, whose logits predict the first target.
        plan = self._plan(seqs, [len(c) - 1 for c in ctx], build_singletons=False)
        t = self._clock("prefix", t)
        for length, kv, chunk in plan:
            ids, mask, pos, past, extra = self._batch(
                [seqs[i] for i in chunk], length, kv, self._cascade_now
            )
            keep = max(len(cont[i]) for i in chunk) + 1
            logits = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                logits_to_keep=last_positions(keep, ids.shape[1]),
                use_cache=past is not None,
                **{self._cache_kwarg: past},
                **extra,
            ).logits
            t = self._clock("score", t)
            logp = torch.log_softmax(logits.float(), dim=-1)
            for row, i in enumerate(chunk):
                n = len(cont[i])
                # logits at position t predict token t+1; the last n targets are the continuation.
                lp = logp[row, keep - 1 - n : keep - 1]
                tgt = torch.tensor(cont[i], device=lp.device)
                out[i] = lp.gather(1, tgt[:, None])[:, 0].double().cpu().numpy()
            self.stats.scored_tokens += sum(len(seqs[i]) for i in chunk)
            t = self._clock("post", t)
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        t = time.perf_counter()
        seqs = [list(self._encode(p)) or [self.start_id] for p in prompts]
        out: list[str | None] = [None] * len(prompts)
        t = self._clock("tokenize", t)
        plan = self._plan(seqs, [len(s) - 1 for s in seqs], build_singletons=True)
        t = self._clock("prefix", t)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for length, kv, chunk in plan:
                loop = temperature == 0 and self.decode == "loop"
                ids, mask, pos, past, extra = self._batch(
                    [seqs[i] for i in chunk], length, kv, loop and self._cascade_now
                )
                self.stats.prompt_tokens += sum(len(seqs[i]) for i in chunk)
                ban = self._ban([avoid_of(prompts[i]) for i in chunk])
                if loop:
                    rows = greedy_loop(
                        self.model,
                        ids,
                        cache_kwarg=self._cache_kwarg,
                        stops=self._vocabulary()[1],
                        clock=self._clock,
                        mask=mask,
                        pos=pos,
                        past=past,
                        max_new_tokens=max_new_tokens,
                        extra=extra,
                        ban=ban,
                    )
                else:
                    rows = self._hf_generate(
                        seqs[chunk[0]][:length], ids, mask, past, max_new_tokens, temperature, ban
                    )
                t = time.perf_counter()
                for i, row in zip(chunk, rows, strict=True):
                    out[i] = self._cut(row)
                t = self._clock("post", t)
        return out  # type: ignore[return-value]

    def _hf_generate(
        self,
        head: list[int],
        ids: torch.Tensor,
        mask: torch.Tensor,
        past: object | None,
        max_new_tokens: int,
        temperature: float,
        ban: torch.Tensor | None = None,
    ) -> list[list[int]]:
        """Run transformers' ``generate`` on one chunk (prefix ``head`` already in ``past``)."""
        from transformers import LogitsProcessorList

        kwargs: dict = {"do_sample": temperature > 0}
        if temperature > 0:
            kwargs["temperature"] = temperature
        if head:
            ids = torch.cat([torch.tensor([head], device=self.device).expand(len(ids), -1), ids], 1)
        clock = _FirstTokenClock()
        t = time.perf_counter()
        gen = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.pad_id,
            stop_strings=["\n"],
            tokenizer=self.tokenizer,
            logits_processor=LogitsProcessorList(
                [clock] + ([_Ban(ban)] if ban is not None else [])
            ),
            **{self._cache_kwarg: past},
            **kwargs,
        )
        first = clock.at or time.perf_counter()
        self._clock("prefill", t)
        self.timings["prefill"] -= time.perf_counter() - first
        self._clock("decode", first)
        return gen[:, ids.shape[1] :].tolist()

    def _vocabulary(self) -> tuple[Vocabulary, torch.Tensor]:
        """The output vocabulary's texts (decoded once) and ``[vocab]`` bools of its stop tokens."""
        if self._vocab is None:
            size = self.model.get_output_embeddings().weight.shape[0]
            vocab = Vocabulary(self.tokenizer.batch_decode([[i] for i in range(size)]),
                               self.tokenizer.eos_token_id)  # fmt: skip
            stops = torch.isin(torch.arange(size), torch.tensor(vocab.stop_ids, dtype=torch.long))
            self._vocab = vocab, stops.to(self.device)
        return self._vocab

    def _ban(self, avoids: list[str]) -> torch.Tensor | None:
        """``[rows, vocab]`` bools: each row's avoided tokens (``None`` if no row avoids any)."""
        if not any(avoids):
            return None
        vocab, stops = self._vocabulary()
        mask = torch.zeros((len(avoids), len(stops)), dtype=torch.bool)
        for r, avoid in enumerate(avoids):
            mask[r, vocab.avoided(avoid)] = True
        return mask.to(self.device)

    def _cut(self, row: list[int]) -> str:
        """Generated ids up to the first newline, end or padding, as stripped text."""
        kept = []
        for t in row:
            if t in self._newline_ids or t == self.tokenizer.eos_token_id or t == self.pad_id:
                break
            kept.append(t)
        self.stats.generated_tokens += len(kept)
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return text.split("\n")[0].strip()


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Switch off the progress bars of transformers for the block, then restore them."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
