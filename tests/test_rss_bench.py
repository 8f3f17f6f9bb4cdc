"""The memory benchmark's plumbing at a tiny size (its figures come from a long run, not tests)."""

from __future__ import annotations

from babyworld.experiments.benchmarks.rss_bench import measure_level, table


def test_measure_level_reports_rss_and_the_cache_against_its_budget():
    r = measure_level("Name", warmup=16, steps=64, num_envs=2, cache_bytes=1 << 20)
    assert (r.level, r.warmup_steps, r.steps) == ("Name", 16, 64)
    assert 0 < r.rss_warm_mb <= r.rss_max_mb and r.rss_end_mb <= r.rss_max_mb
    assert r.cache_budget_mb == 1.0 and 0 < r.cache_mb <= 1.0 and r.cache_entries > 0
    assert r.growth == r.rss_end_mb / r.rss_warm_mb - 1
    lines = table([r]).splitlines()
    assert lines[0].startswith("| level | RSS after warm-up (MiB) |") and lines[2].startswith(
        "| Name | "
    )
