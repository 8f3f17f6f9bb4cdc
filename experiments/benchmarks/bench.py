"""``babyworld bench``: throughput, cache and memory figures of the parent, the envs and the trainer.

Everything is measured in one run on one machine, so the ratios compare like with like:

1. raw batched forward throughput of the parent model alone (the machine's limit);
2. env steps/s and parent tokens/s through the native vector env at N = 1, 8, 64 (exact-request
   cache off, so every request reaches the model; shared prompt prefixes reused, the default);
3. their ratio to (1): ``parent_ratio`` at N = 64;
4. env steps/s with the scripted parent beside Minigrid's ``BabyAI-GoToLocal-v0`` (random actions);
5. trainer samples/s (PPO collect + update, scripted parent);
6. cache hit rate on a repeated-scene workload;
7. warm start of the LLM parent and peak memory with it and 64 envs (a fresh process);
8. a row per parent path (torch bf16 and fp32, the plain greedy loop, CTranslate2 int8 and fp32):
   env steps/s at N = 8 and 64, tokens/s, the ratio to today's path, and in-env judge agreement
   with torch fp32;
9. the time profile of one env step at N = 8 and 64 (tokenising, prompt building, prefill,
   decode, scoring, store, env Python);
10. the answer store's hit rate on a second identical run (a temporary store);
11. ``make demo``'s first update: its main job for 512 env steps in a fresh process with an empty
    answer store, from process start (:mod:`babyworld.experiments.benchmarks.bench_demo`).

``--sections`` picks some of them (``llm`` = 1-3 and 6, ``scripted`` = 4-6, ``fresh`` = 7,
``paths`` = 8, ``profile`` = 9, ``store`` = 10, ``demo`` = 11).

``--quick`` shrinks every size for CI (seconds) and puts a tiny randomly initialised LLM in place
of the default parent; every row names the parent it used, and no target is judged.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from babyworld.experiments.benchmarks import sections
from babyworld.experiments.benchmarks.config import (
    AVX2,
    AVX512,
    FULL,
    QUICK,
    TARGETS,
    BenchConfig,
    Table,
)


def simd_level(flags: set[str] | frozenset[str]) -> str:
    """The widest x86 vector extension among the CPU's ``flags``: what the parent's speed hangs on."""
    return next(
        (name for flag, name in (("avx512f", AVX512), ("avx2", AVX2)) if flag in flags),
        "no AVX2",
    )


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, torch threads and versions of this machine."""
    import torch

    from babyworld.parent.cpu import cpu_flags, native_bf16

    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem, 1),
        "simd": simd_level(cpu_flags()),
        "bf16_matmul": native_bf16(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run_bench(cfg: BenchConfig, log: Any = print) -> dict[str, Any]:
    """Run every measurement; return the results (rows, headline figures, targets).

    Sets torch's thread count for the run and restores it afterwards.
    """
    import torch

    threads_before = torch.get_num_threads()
    threads = cfg.threads or (1 if cfg.quick else threads_before)
    torch.set_num_threads(threads)
    try:
        return _run(cfg, threads, log)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: BenchConfig, threads: int, log: Any) -> dict[str, Any]:
    sizes = QUICK if cfg.quick else FULL
    table = Table(log)
    started = time.perf_counter()
    out: dict[str, Any] = {
        "quick": cfg.quick,
        "level": cfg.level,
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "threads": threads,
    }
    log(f"babyworld bench ({'quick' if cfg.quick else 'full'}) on {out['machine']}")
    figures: dict[str, Any] = {}
    if "llm" in cfg.sections:
        figures |= sections.llm_rows(cfg, sizes, table)
    if "paths" in cfg.sections:
        figures |= sections.path_rows(cfg, sizes, threads, table)
    if "profile" in cfg.sections:
        figures |= sections.profile_rows(cfg, sizes, table)
    if "store" in cfg.sections:
        figures |= sections.store_rows(cfg, sizes, table)
    if "scripted" in cfg.sections:
        figures |= sections.scripted_rows(cfg, sizes, table)
    if "fresh" in cfg.sections:
        figures = (
            sections.fresh_process_rows(cfg, sizes, threads, figures.get("llm_parent"), table)
            | figures
        )
    if "demo" in cfg.sections:
        figures |= sections.demo_rows(cfg, threads, table)
    out |= figures
    out["rows"] = table.rows
    out["targets"] = targets(figures, judged=not cfg.quick, simd=out["machine"]["simd"])
    out["seconds"] = time.perf_counter() - started
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def targets(
    figures: dict[str, Any], judged: bool = True, simd: str | None = None
) -> dict[str, dict[str, Any]]:
    """Each target's threshold, measured value and verdict.

    Args:
        figures: the headline figures of :func:`run_bench`.
        judged: ``False`` for a ``--quick`` run, whose sizes are too small and whose LLM is a
            stand-in: its figures are reported but no target is judged.
        simd: this machine's CPU kind (:func:`simd_level`); a target set per kind is judged
            against its own (``None``, or a CPU without AVX2: such targets are not judged).

    Returns:
        Per target: its text, threshold, value and ``met`` (``None``: not measured or not judged).
    """
    res = {}
    for key, (threshold, text, lower_is_better) in TARGETS.items():
        if isinstance(threshold, dict):
            threshold = threshold.get(simd) if simd is not None else None
        value = figures.get(key)
        met = None
        if judged and value is not None and math.isfinite(value) and threshold is not None:
            met = value < threshold if lower_is_better else value >= threshold
        res[key] = {"target": text, "threshold": threshold, "value": value, "met": met}
    return res


def markdown(result: dict[str, Any]) -> str:
    """The results as a Markdown table plus the targets."""
    mc = result["machine"]
    load = mc.get("load_average")
    lines = [
        f"babyworld bench ({'quick' if result['quick'] else 'full'}), level {result['level']}; "
        f"{mc['cpu']}"
        + (
            f" ({mc['simd']}, native bf16: {'yes' if mc['bf16_matmul'] else 'no'})"
            if "simd" in mc
            else ""
        )
        + f", {mc['cores']} cores, {result.get('threads', mc['torch_threads'])} torch "
        f"threads; LLM parent {result.get('llm_parent', '?')} ({result.get('parent_runtime', '?')})"
        + (f"; 1-min load average {load[0]:.2f} at start" if load else "")
        + (f", {result['load_average_end'][0]:.2f} at end" if "load_average_end" in result else ""),
        "",
    ]
    if result["quick"]:
        lines += ["Quick run: tiny sizes and a stand-in LLM, a smoke test; no target judged.", ""]
    lines += [
        "| measure | parent | value | unit | note |",
        "|---|---|---:|---|---|",
    ]
    for r in result["rows"]:
        value = "skipped" if r["value"] is None else f"{r['value']:,.3g}"
        lines.append(f"| {r['measure']} | {r['parent']} | {value} | {r['unit']} | {r['note']} |")
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for t in result["targets"].values():
        value = "—" if t["value"] is None else f"{t['value']:,.3g}"
        met = {True: "yes", False: "no", None: "not judged"}[t["met"]]
        lines.append(f"| {t['target']} | {value} | {met} |")
    return "\n".join(lines) + "\n"


def bench(cfg: BenchConfig, log: Any = print) -> Path:
    """Run the benchmark and write ``bench.json`` and ``bench.md`` (atomically) to ``cfg.out``."""
    from babyworld.agents.checkpoint import write_text_atomic

    out = cfg.out or Path("runs") / f"bench__{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    result = run_bench(cfg, log)
    result["peak_rss_bench_process_gb"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    )
    write_text_atomic(json.dumps(result, indent=2) + "\n", out / "bench.json")
    write_text_atomic(markdown(result), out / "bench.md")
    return out
