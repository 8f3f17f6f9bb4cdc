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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from babyworld.parent import DEFAULT_PARENT, make_parent

#: key -> (threshold, text, lower is better)
TARGETS: dict[str, tuple[float, str, bool]] = {
    "parent_ratio": (0.8, "parent tokens/s at N=64 / raw forward tokens/s >= 0.8", False),
    "scripted_vs_minigrid": (10.0, "scripted-parent env steps/s / Minigrid steps/s >= 10", False),
    "warm_start_s": (2.0, "warm start of the default parent < 2 s", True),
    "peak_rss_gb": (2.5, "peak RSS with the default parent and 64 envs < 2.5 GB", True),
    "store_second_run_hit_rate": (
        1.0,
        "answer store hit rate on a second identical run = 1",
        False,
    ),
    "demo_first_update_s": (
        30.0,
        "make demo's first update (512 steps, empty answer store, from process start) < 30 s",
        True,
    ),
    "best_path_speedup_64": (
        2.0,
        "env steps/s at N=64 of the best path agreeing >= 99% with torch fp32 / today's >= 2",
        False,
    ),
}
Section = Literal["llm", "scripted", "fresh", "paths", "profile", "store", "demo"]
SECTIONS: tuple[Section, ...] = ("llm", "scripted", "fresh", "paths", "profile", "store", "demo")
#: the parent paths compared (spec options after '?'); the first is the algorithm of the path
#: before issue 16 (torch, transformers' generate, the prefix expanded to the batch; its logits
#: are now kept by index, a bit-identical fix of that path too), the second today's default (the
#: plain greedy loop over cascade attention)
PATHS: tuple[str, ...] = (
    "smollm2?decode=generate&attention=expand",
    "smollm2",
    "smollm2?attention=expand",
    "smollm2?dtype=float32",
    "ct2",
    "ct2?compute_type=float32",
)
#: the reference of the judge agreement
REFERENCE = "smollm2?dtype=float32"


@dataclass
class BenchConfig:
    """``babyworld bench``: measure the parent, the envs and the trainer on this machine."""

    quick: bool = False
    """tiny sizes for CI (seconds): a tiny random LLM stands in for the default parent"""
    out: Path | None = None
    """output directory for bench.json and bench.md; default runs/bench__<time>"""
    parent: str = DEFAULT_PARENT
    """parent spec of the LLM rows (ignored with --quick)"""
    level: Literal["Point", "Name"] = "Point"
    """level stepped by the env rows"""
    threads: int = 0
    """torch CPU threads; 0: 1 with --quick (tiny models), torch's default otherwise"""
    seed: int = 0
    """seeds the envs and the random actions"""
    sections: tuple[Section, ...] = SECTIONS
    """which measurements to run (see the module docstring)"""
    paths: tuple[str, ...] = PATHS
    """parent paths of the 'paths' section (the first is the baseline of the ratios)"""
    agreement_situations: int = 50
    """situations per level of the judge agreement with torch fp32 (0: not measured; at most 2
    with --quick)"""

    def __post_init__(self) -> None:
        if self.agreement_situations < 0:
            raise ValueError(f"agreement_situations must be >= 0, got {self.agreement_situations}")
        unknown = set(self.sections) - set(SECTIONS)
        if unknown or not self.sections:
            raise ValueError(f"sections must be some of {SECTIONS}, got {self.sections}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0 picks the default), got {self.threads}")
        if self.level not in ("Point", "Name"):
            raise ValueError(f"unknown level {self.level!r}; choose Point or Name")


@dataclass(frozen=True)
class Sizes:
    """How much each measurement runs."""

    raw_repeats: int
    raw_shapes: tuple[tuple[int, int], ...]  # (batch, tokens per row)
    env_steps: tuple[tuple[int, int], ...]  # (N, timed vector steps)
    scripted_steps: int
    minigrid_steps: int
    trainer_rollout: int
    trainer_iters: int
    repeat_episodes: int
    memory_steps: int
    path_steps: tuple[tuple[int, int], ...]  # (N, timed vector steps) per parent path
    profile_steps: tuple[tuple[int, int], ...]
    store_steps: int  # timed vector steps of each of the two store runs (N = 8)


FULL = Sizes(
    raw_repeats=3,
    raw_shapes=((32, 32), (32, 128), (64, 128)),
    env_steps=((1, 12), (8, 6), (64, 3)),
    scripted_steps=4000,
    minigrid_steps=4000,
    trainer_rollout=64,
    trainer_iters=3,
    repeat_episodes=2,
    memory_steps=3,
    path_steps=((8, 2), (64, 1)),
    profile_steps=((8, 2), (64, 1)),
    store_steps=2,
)
QUICK = Sizes(
    raw_repeats=1,
    raw_shapes=((4, 8),),
    env_steps=((1, 2), (8, 1), (64, 1)),
    scripted_steps=128,
    minigrid_steps=64,
    trainer_rollout=4,
    trainer_iters=1,
    repeat_episodes=1,
    memory_steps=1,
    path_steps=((8, 1), (64, 1)),
    profile_steps=((8, 1), (64, 1)),
    store_steps=1,
)


def simd_level(flags: set[str]) -> str:
    """The widest x86 vector extension among the CPU's ``flags``: what the parent's speed hangs on."""
    return next(
        (name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags),
        "no AVX2",
    )


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, torch threads and versions of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
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
        "simd": simd_level(flags),
        "bf16_matmul": bool(flags & {"avx512_bf16", "amx_bf16"}),
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


class _Table:
    """Rows of the result table, each logged as it is measured."""

    def __init__(self, log: Any) -> None:
        self.rows: list[dict[str, Any]] = []
        self.log = log

    def add(
        self, measure: str, parent: str, value: float | None, unit: str, note: str = ""
    ) -> None:
        self.rows.append(
            {"measure": measure, "parent": parent, "value": value, "unit": unit, "note": note}
        )
        shown = "skipped" if value is None else f"{value:,.3g} {unit}"
        self.log(f"  {measure} [{parent}]: {shown} {note}".rstrip())


def _run(cfg: BenchConfig, threads: int, log: Any) -> dict[str, Any]:
    sizes = QUICK if cfg.quick else FULL
    table = _Table(log)
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
        figures |= _llm_rows(cfg, sizes, table)
    if "paths" in cfg.sections:
        figures |= _path_rows(cfg, sizes, threads, table)
    if "profile" in cfg.sections:
        figures |= _profile_rows(cfg, sizes, table)
    if "store" in cfg.sections:
        figures |= _store_rows(cfg, sizes, table)
    if "scripted" in cfg.sections:
        figures |= _scripted_rows(cfg, sizes, table)
    if "fresh" in cfg.sections:
        label = figures.get("llm_parent", cfg.parent)
        figures |= _fresh_process_rows(cfg, sizes, threads, label, table)
    if "demo" in cfg.sections:
        figures |= _demo_rows(cfg, threads, table)
    out |= figures
    out["rows"] = table.rows
    out["targets"] = targets(figures, judged=not cfg.quick)
    out["seconds"] = time.perf_counter() - started
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _llm_rows(cfg: BenchConfig, sizes: Sizes, table: _Table) -> dict[str, Any]:
    """Items 1-3 and 6 with the LLM parent: raw forward, the envs at N = 1, 8, 64, the cache."""
    from babyworld.experiments.benchmarks import measure as m

    parent = m.llm_parent(cfg.parent, cfg.quick, cache_size=0)
    label = parent.label
    dtype = str(getattr(parent, "dtype", "")).removeprefix("torch.")
    raw = [m.raw_forward(parent, b, n, sizes.raw_repeats) for b, n in sizes.raw_shapes]
    for r in raw:
        shape = f"batch {r['batch']} x {r['length']} tokens"
        table.add(f"raw forward, {shape}", label, r["tokens_per_s"], "tokens/s")
    raw_tps = max(r["tokens_per_s"] for r in raw)

    runs = {}
    for n, steps in sizes.env_steps:
        parent.clear_cache()
        r = runs[n] = m.env_run(parent, cfg.level, n, steps, cfg.seed)
        share = f"({r['parent_seconds_share']:.0%} of the time in the parent)"
        table.add(f"env N={n}", label, r["steps_per_s"], "steps/s", share)
        computed = f"(computed by the model: {r['computed_tokens_per_s']:,.0f}/s; the rest read from stored prefixes)"
        table.add(f"parent tokens N={n}", label, r["parent_tokens_per_s"], "tokens/s", computed)
    big = max(runs)
    parent_ratio = runs[big]["parent_tokens_per_s"] / raw_tps
    computed_ratio = runs[big]["computed_tokens_per_s"] / raw_tps
    note = "tokens/s / the best raw forward tokens/s"
    table.add(f"parent_ratio N={big}", label, parent_ratio, "x raw", f"(parent {note})")
    table.add(f"computed_ratio N={big}", label, computed_ratio, "x raw", f"(computed {note})")

    # the same N=64 run with every prompt token computed (prefix reuse off)
    del parent
    plain = m.llm_parent(cfg.parent, cfg.quick, cache_size=0, prefix_cache=False)
    r = m.env_run(plain, cfg.level, big, dict(sizes.env_steps)[big], cfg.seed)
    del plain
    plain_ratio = r["parent_tokens_per_s"] / raw_tps
    speedup = runs[big]["steps_per_s"] / r["steps_per_s"]
    table.add(
        f"env N={big}, no prefix reuse",
        label,
        r["steps_per_s"],
        "steps/s",
        f"(prefix reuse makes N={big} {speedup:.2f}x faster)",
    )
    table.add(
        f"parent_ratio N={big}, no prefix reuse",
        label,
        plain_ratio,
        "x raw",
        "(every prompt token computed)",
    )

    cached = m.llm_parent(cfg.parent, cfg.quick)
    hit = m.repeated_scenes(cached, cfg.level, 8, sizes.repeat_episodes, cfg.seed)
    del cached
    table.add(
        "cache hit rate, repeated scenes N=8",
        label,
        hit,
        "fraction",
        f"({sizes.repeat_episodes} episode(s) played twice)",
    )
    return {
        "llm_parent": label,
        "parent_dtype": dtype,
        "raw_tokens_per_s": raw_tps,
        "parent_ratio": parent_ratio,
        "computed_ratio": computed_ratio,
        "parent_ratio_no_prefix_reuse": plain_ratio,
        "prefix_speedup": speedup,
        "env_steps_per_s": {str(n): x["steps_per_s"] for n, x in runs.items()},
        "parent_tokens_per_s": {str(n): x["parent_tokens_per_s"] for n, x in runs.items()},
        "computed_tokens_per_s": {str(n): x["computed_tokens_per_s"] for n, x in runs.items()},
        "parent_seconds_share": {str(n): x["parent_seconds_share"] for n, x in runs.items()},
        "hit_rate_repeated": hit,
    }


def _path_parent(cfg: BenchConfig, spec: str, threads: int, tmp: Path, **kwargs: Any) -> Any:
    """A fresh parent of path ``spec`` (with --quick: the tiny stand-in run the same way)."""
    from babyworld.experiments.benchmarks import measure as m
    from babyworld.parent.factory import split_options

    base, options = split_options(spec)
    if base.startswith("ct2"):
        options.setdefault("threads", threads)
    options |= kwargs
    if not cfg.quick:
        return make_parent(base, shared=False, **options)
    if base.startswith("ct2"):
        return m.tiny_ct2_parent(tmp, **options)
    return m.tiny_parent(**options)


def _path_rows(cfg: BenchConfig, sizes: Sizes, threads: int, table: _Table) -> dict[str, Any]:
    """Item 8: every parent path side by side, and its judge agreement with torch fp32."""
    import tempfile

    from babyworld.envs import rungs
    from babyworld.experiments.benchmarks import measure as m
    from babyworld.parent.judge_eval import evaluate_judge

    figures: dict[str, Any] = {}
    situations = min(cfg.agreement_situations, 2) if cfg.quick else cfg.agreement_situations
    with tempfile.TemporaryDirectory(prefix="babyworld-bench-") as tmp:
        reference: dict[str, list] = {}
        if situations:
            ref = _path_parent(cfg, REFERENCE, threads, Path(tmp), store=False)
            for level in rungs():
                reference[level] = []
                evaluate_judge(ref, level, situations, cfg.seed, decisions=reference[level])
            del ref
        base: dict[int, float] = {}
        for spec in cfg.paths:
            parent = _path_parent(cfg, spec, threads, Path(tmp), cache_size=0, store=False)
            row: dict[str, Any] = {"label": parent.label}
            for n, steps in sizes.path_steps:
                parent.clear_cache()
                r = m.step_profile(parent, cfg.level, n, steps, cfg.seed)
                row[f"profile_{n}"] = r["stages"]
                row[f"seconds_per_step_{n}"] = r["seconds"] / steps
                base.setdefault(n, r["steps_per_s"])
                row[f"steps_per_s_{n}"] = r["steps_per_s"]
                row[f"tokens_per_s_{n}"] = r["parent_tokens_per_s"]
                row[f"computed_tokens_per_s_{n}"] = r["computed_tokens_per_s"]
                row[f"ratio_{n}"] = r["steps_per_s"] / base[n]
            if reference:
                agree = items = 0
                judge = _path_parent(cfg, spec, threads, Path(tmp), store=False)
                for level in rungs():
                    mine: list = []
                    evaluate_judge(judge, level, situations, cfg.seed, decisions=mine)
                    items += len(mine)
                    agree += sum(a[1] == b[1] for a, b in zip(mine, reference[level], strict=True))
                del judge
                row["agreement"], row["agreement_items"] = agree / items, items
            del parent
            figures[spec] = row
            shown = ", ".join(
                f"N={n}: {row[f'steps_per_s_{n}']:.3g} steps/s ({row[f'ratio_{n}']:.2f}x), "
                f"{row[f'computed_tokens_per_s_{n}']:,.0f} computed tokens/s"
                for n, _ in sizes.path_steps
            )
            agreement = (
                f"; judge agreement with {REFERENCE} {row['agreement']:.3f} over "
                f"{row['agreement_items']} items"
                if "agreement" in row
                else ""
            )
            big = max(n for n, _ in sizes.path_steps)
            for n, _ in sizes.path_steps:
                total = sum(row[f"profile_{n}"].values())
                shares = ", ".join(
                    f"{k} {v / total:.0%}"
                    for k, v in row[f"profile_{n}"].items()
                    if v >= 0.005 * total
                )
                table.add(
                    f"profile of path {spec}, N={n}",
                    row["label"],
                    row[f"seconds_per_step_{n}"],
                    "s/vector step",
                    f"({shares})",
                )
            table.add(
                f"path {spec}, env N={big}",
                row["label"],
                row[f"steps_per_s_{big}"],
                "steps/s",
                f"({shown}{agreement})",
            )
    big = max(n for n, _ in sizes.path_steps)
    good = [r[f"ratio_{big}"] for r in figures.values() if r.get("agreement", 0.0) >= 0.99]
    return {"paths": figures, "best_path_speedup_64": max(good) if good else None}


def _profile_rows(cfg: BenchConfig, sizes: Sizes, table: _Table) -> dict[str, Any]:
    """Item 9: where one env step's time goes with the default path (answer store off)."""
    from babyworld.experiments.benchmarks import measure as m

    out = {}
    for n, steps in sizes.profile_steps:
        parent = m.llm_parent(cfg.parent, cfg.quick, cache_size=0, store=False)
        prof = out[str(n)] = m.step_profile(parent, cfg.level, n, steps, cfg.seed)
        label = parent.label
        del parent
        shares = ", ".join(f"{k} {v:.0%}" for k, v in prof["shares"].items() if v >= 0.005)
        table.add(
            f"profile of one step, N={n}",
            label,
            prof["seconds"] / steps,
            "s/step",
            f"({shares})",
        )
    return {"profile": out}


def _store_rows(cfg: BenchConfig, sizes: Sizes, table: _Table) -> dict[str, Any]:
    """Item 10: a second identical run over the same (temporary) answer store."""
    import tempfile

    from babyworld.experiments.benchmarks import measure as m

    def factory(**kwargs: Any) -> Any:
        return m.llm_parent(cfg.parent, cfg.quick, **kwargs)

    with tempfile.TemporaryDirectory(prefix="babyworld-bench-") as tmp:
        r = m.store_second_run(
            factory, cfg.level, 8, sizes.store_steps, cfg.seed, Path(tmp) / "s.db"
        )
    table.add(
        "answer store hit rate, second identical run N=8",
        cfg.parent,
        r["second_store_hit_rate"],
        "fraction",
        f"(computed tokens: first run {r['first_computed_tokens']:,}, second "
        f"{r['second_computed_tokens']:,}; steps/s {r['first_steps_per_s']:.3g} then "
        f"{r['second_steps_per_s']:.3g})",
    )
    return {"store_second_run": r, "store_second_run_hit_rate": r["second_store_hit_rate"]}


def _scripted_rows(cfg: BenchConfig, sizes: Sizes, table: _Table) -> dict[str, Any]:
    """Items 4-6 with the scripted parent: beside Minigrid, the cache, the trainer."""
    import gymnasium as gym

    from babyworld.envs import env_id
    from babyworld.experiments.benchmarks import measure as m

    scripted = make_parent("scripted", shared=False)
    sps = m.single_env_steps(
        lambda: gym.make(env_id(cfg.level), parent=scripted), sizes.scripted_steps, cfg.seed, True
    )
    table.add("env, one gym.make env", "scripted", sps, "steps/s")
    vec = m.env_run(scripted, cfg.level, 64, max(1, sizes.scripted_steps // 64), cfg.seed)
    share = f"({vec['parent_seconds_share']:.0%} of the time in the parent)"
    table.add("env N=64, native vector env", "scripted", vec["steps_per_s"], "steps/s", share)
    mg = m.minigrid_steps(sizes.minigrid_steps, cfg.seed)
    table.add(
        "BabyAI-GoToLocal-v0, one env, random actions",
        "none (Minigrid)",
        mg,
        "steps/s",
        "" if mg is not None else "(minigrid not installed: pip install 'babyworld[bench]')",
    )
    ratio = None if mg is None else max(sps, vec["steps_per_s"]) / mg
    if ratio is not None:
        note = "(the faster of the two scripted rows / Minigrid)"
        table.add("scripted env / Minigrid", "scripted", ratio, "x", note)

    fresh = make_parent("scripted", shared=False)  # an empty cache
    hit = m.repeated_scenes(fresh, cfg.level, 8, sizes.repeat_episodes, cfg.seed)
    table.add("cache hit rate, repeated scenes N=8", "scripted", hit, "fraction")

    tr = m.trainer_samples(cfg.level, 8, sizes.trainer_rollout, sizes.trainer_iters, cfg.seed)
    table.add("PPO collect + update, N=8", "scripted", tr, "samples/s")
    return {
        "scripted_steps_per_s": sps,
        "scripted_vector64_steps_per_s": vec["steps_per_s"],
        "scripted_vector64_parent_share": vec["parent_seconds_share"],
        "minigrid_steps_per_s": mg,
        "scripted_vs_minigrid": ratio,
        "hit_rate_repeated_scripted": hit,
        "trainer_samples_per_s": tr,
    }


def _demo_rows(cfg: BenchConfig, threads: int, table: _Table) -> dict[str, Any]:
    """Item 11: ``make demo``'s first update, cold (the scripted parent with --quick)."""
    from babyworld.experiments.benchmarks.bench_demo import FIRST_UPDATE_STEPS, demo_first_update

    parent = "scripted" if cfg.quick else cfg.parent
    r = demo_first_update(parent, threads)
    table.add(
        f"make demo: first update ({FIRST_UPDATE_STEPS} steps), empty answer store",
        parent,
        r["first_update_wall_s"],
        "s",
        f"(from process start to its first metrics row; the run's own clock: "
        f"{r['first_update_s']:.1f} s; the whole {FIRST_UPDATE_STEPS}-step job with its final "
        f"evaluation: {r['wall_s']:.1f} s; {r['computed_tokens'] or 0:,} parent tokens computed)",
    )
    key = "demo_first_update_s" if not cfg.quick else "demo_first_update_s_scripted"
    return {
        key: r["first_update_wall_s"],
        "demo_first_update_run_s": r["first_update_s"],
        "demo_job_wall_s": r["wall_s"],
    }


def _fresh_process_rows(
    cfg: BenchConfig, sizes: Sizes, threads: int, label: str, table: _Table
) -> dict[str, Any]:
    """Item 7: warm start and peak memory of the LLM parent with 64 envs, in a fresh process."""
    from babyworld.experiments.benchmarks import measure as m

    child = m.fresh_process(cfg.parent, cfg.quick, cfg.level, threads, cfg.seed, sizes.memory_steps)
    table.add(
        "warm start (first parent load in a fresh process)",
        label,
        child["load_s"],
        "s",
        f"(torch imported before; {child['start_s']:.1f} s from process start; "
        f"a second load in the same process: {child['reload_s']:.2f} s)",
    )
    table.add(
        "peak RSS, 64 envs",
        label,
        child["peak_rss"] / 2**30,
        "GB",
        f"(fresh process: imports, parent, reset and {sizes.memory_steps + 1} steps)",
    )
    return {
        "warm_start_s": child["load_s"],
        "start_to_parent_s": child["start_s"],
        "reload_s": child["reload_s"],
        "peak_rss_gb": child["peak_rss"] / 2**30,
    }


def targets(figures: dict[str, Any], judged: bool = True) -> dict[str, dict[str, Any]]:
    """Each target's threshold, measured value and verdict.

    Args:
        figures: the headline figures of :func:`run_bench`.
        judged: ``False`` for a ``--quick`` run, whose sizes are too small and whose LLM is a
            stand-in: its figures are reported but no target is judged.

    Returns:
        Per target: its text, threshold, value and ``met`` (``None``: not measured or not judged).
    """
    res = {}
    for key, (threshold, text, lower_is_better) in TARGETS.items():
        value = figures.get(key)
        met = None
        if judged and value is not None and math.isfinite(value):
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
        f"threads; LLM parent {result.get('llm_parent', '?')} in {result.get('parent_dtype', '?')}"
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
