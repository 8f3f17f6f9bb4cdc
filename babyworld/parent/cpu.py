"""This machine's CPU and the dtype the torch parent computes in on it (``dtype="auto"``)."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch


@functools.cache
def cpu_flags() -> frozenset[str]:
    """This machine's x86 feature flags (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "flags:")
    return frozenset(line.split(":", 1)[1].split())


#: the CPU flags that give each half-precision dtype native matrix products
NATIVE_FLAGS = {
    torch.bfloat16: frozenset({"avx512_bf16", "amx_bf16"}),
    torch.float16: frozenset({"avx512_fp16", "amx_fp16"}),
}


def native_bf16() -> bool:
    """Whether the CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX)."""
    return bool(cpu_flags() & NATIVE_FLAGS[torch.bfloat16])


def best_cpu_dtype() -> torch.dtype:
    """``bfloat16`` when the CPU has native bf16 matmul (AVX512-BF16 or AMX), else ``float32``.

    No int8 path replaces float32 where bf16 is not native: measured on an AVX2 machine, torch's
    dynamic int8 agreed with float32 on 0.904 of in-env judge decisions (the bar is 0.99) and
    its answers depend on the other prompts of the batch; CTranslate2 int8 passes the bar but was
    slower there (docs/performance.md, "The dtype on each CPU").
    """
    return torch.bfloat16 if native_bf16() else torch.float32


#: a forced half-precision dtype without native support: how much slower it ran than float32
_EMULATED = (
    "on this CPU {dtype} has no native matrix products (none of the flags {flags}): they are "
    "emulated, and ran 1.2-9x slower than float32 on an AVX2 machine (docs/performance.md); "
    "pass dtype='auto' (float32 here) unless you need {dtype}'s answers"
)


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    """Map ``"auto" | "bfloat16" | "float16" | "float32"`` to a torch dtype for ``device``.

    A half-precision dtype forced on a CPU without native support is kept, with a warning that
    says how much slower it runs (never a silent slowdown).
    """
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype == "auto":
        return best_cpu_dtype() if device == "cpu" else torch.bfloat16
    else:
        table = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
        if dtype not in table:
            raise ValueError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(table)}")
        resolved = table[dtype]
    needs = NATIVE_FLAGS.get(resolved)
    if device == "cpu" and needs is not None and not cpu_flags() & needs:
        name, flags = str(resolved).removeprefix("torch."), ", ".join(sorted(needs))
        warnings.warn(_EMULATED.format(dtype=name, flags=flags), UserWarning, stacklevel=3)
    return resolved
