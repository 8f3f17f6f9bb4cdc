"""A parent backed by any Hugging Face causal language model, run in-process with PyTorch."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from babyworld.parent.base import Parent


def best_cpu_dtype() -> torch.dtype:
    """``bfloat16`` when the CPU has native bf16 matmul (AVX512-BF16 or AMX), else ``float32``."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return torch.float32
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else torch.float32


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    """Map ``"auto" | "bfloat16" | "float16" | "float32"`` to a torch dtype for ``device``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return best_cpu_dtype() if device == "cpu" else torch.bfloat16
    table = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(table)}")
    return table[dtype]


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
        cache_size: entries of the exact-request LRU cache (0 disables it).
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
    ) -> None:
        super().__init__(cache_size=cache_size)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.device = torch.device(device)
        self.dtype = resolve_dtype(dtype, self.device.type)
        self.max_batch = max_batch
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

    @torch.inference_mode()
    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        ctx = [list(self._encode(c)) or [self.start_id] for c in contexts]
        cont = [list(self._encode(x)) for x in continuations]
        out: list[np.ndarray | None] = [None] * len(contexts)
        # Sort by length so each chunk pads little; results go back to their places.
        order = sorted(range(len(ctx)), key=lambda i: len(ctx[i]) + len(cont[i]))
        for start in range(0, len(order), self.max_batch):
            chunk = order[start : start + self.max_batch]
            seqs = [ctx[i] + cont[i] for i in chunk]
            ids, mask = self._left_pad(seqs)
            keep = max(len(cont[i]) for i in chunk) + 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep
            ).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            for row, i in enumerate(chunk):
                n = len(cont[i])
                # logits at position t predict token t+1; the last n targets are the continuation.
                lp = logp[row, keep - 1 - n : keep - 1]
                tgt = torch.tensor(cont[i], device=lp.device)
                out[i] = lp.gather(1, tgt[:, None])[:, 0].double().cpu().numpy()
            self.stats.scored_tokens += int(mask.sum())
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        out: list[str] = []
        for start in range(0, len(prompts), self.max_batch):
            chunk = [
                list(self._encode(p)) or [self.start_id]
                for p in prompts[start : start + self.max_batch]
            ]
            ids, mask = self._left_pad(chunk)
            kwargs: dict = {"do_sample": temperature > 0}
            if temperature > 0:
                kwargs["temperature"] = temperature
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                gen = self.model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=self.pad_id,
                    stop_strings=["\n"],
                    tokenizer=self.tokenizer,
                    **kwargs,
                )
            self.stats.prompt_tokens += int(mask.sum())
            for row in gen[:, ids.shape[1] :].tolist():
                kept = []
                for t in row:
                    if (
                        t in self._newline_ids
                        or t == self.tokenizer.eos_token_id
                        or t == self.pad_id
                    ):
                        break
                    kept.append(t)
                self.stats.generated_tokens += len(kept)
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
                out.append(text.split("\n")[0].strip())
        return out
