"""``babyworld bench``'s sections: each measures its rows into the table and returns its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babyworld.experiments.benchmarks.config import REFERENCE, BenchConfig, Sizes, Table
from babyworld.parent import make_parent


def llm_rows(cfg: BenchConfig, sizes: Sizes, table: Table) -> dict[str, Any]:
    """Items 1-3 and 6 with the LLM parent: raw forward, the envs at N = 1, 8, 64, the cache."""
    from babyworld.experiments.benchmarks import measure as m

    parent = m.llm_parent(cfg.parent, cfg.quick, cache_size=0)
    label = parent.label
    runtime = parent.runtime
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
        "parent_runtime": runtime,
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


def path_parent(cfg: BenchConfig, spec: str, threads: int, tmp: Path, **kwargs: Any) -> Any:
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


def path_rows(cfg: BenchConfig, sizes: Sizes, threads: int, table: Table) -> dict[str, Any]:
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
            ref = path_parent(cfg, REFERENCE, threads, Path(tmp), store=False)
            for level in rungs():
                reference[level] = []
                evaluate_judge(ref, level, situations, cfg.seed, decisions=reference[level])
            del ref
        base: dict[int, float] = {}
        for spec in cfg.paths:
            parent = path_parent(cfg, spec, threads, Path(tmp), cache_size=0, store=False)
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
                judge = path_parent(cfg, spec, threads, Path(tmp), store=False)
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


def profile_rows(cfg: BenchConfig, sizes: Sizes, table: Table) -> dict[str, Any]:
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


def store_rows(cfg: BenchConfig, sizes: Sizes, table: Table) -> dict[str, Any]:
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


def scripted_rows(cfg: BenchConfig, sizes: Sizes, table: Table) -> dict[str, Any]:
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


def demo_rows(cfg: BenchConfig, threads: int, table: Table) -> dict[str, Any]:
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


def fresh_process_rows(
    cfg: BenchConfig, sizes: Sizes, threads: int, label: str | None, table: Table
) -> dict[str, Any]:
    """Item 7: warm start and peak memory of the LLM parent with 64 envs, in a fresh process.

    ``label``: the parent's label as the other sections give it (``None``: the child's own).
    """
    from babyworld.experiments.benchmarks import measure as m

    child = m.fresh_process(cfg.parent, cfg.quick, cfg.level, threads, cfg.seed, sizes.memory_steps)
    label = label or child["label"]
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
        "llm_parent": label,
        "parent_runtime": child["runtime"],
        "warm_start_s": child["load_s"],
        "start_to_parent_s": child["start_s"],
        "reload_s": child["reload_s"],
        "peak_rss_gb": child["peak_rss"] / 2**30,
    }
