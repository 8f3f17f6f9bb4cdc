"""Memory over a long run: RSS of every level after warm-up and over the next N steps.

``python -m babyworld.experiments.benchmarks.rss_bench`` runs each level in a fresh process (the native
vector env, random allowed acts, the scripted parent by default) for ``--warmup`` steps, then
``--steps`` more, and prints the resident set size (``VmRSS``) after warm-up, at the end and at its
highest, with the parent's in-memory answer cache (entries and approximate bytes against its
budget). A parent whose caches were bounded only by entries grew RSS 2.4x over 200,000 steps;
with the byte budget RSS stays within a few percent once the cache is full::

    python -m babyworld.experiments.benchmarks.rss_bench                       # every level, 20k + 200k steps
    python -m babyworld.experiments.benchmarks.rss_bench --levels Chat --steps 20000
    python -m babyworld.experiments.benchmarks.rss_bench --cache-bytes 0       # no cache: the floor

A figure, not a timed test: run it on a quiet machine and say which.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class RssResult:
    """One level's memory figures (megabytes are 2**20 bytes)."""

    level: str
    warmup_steps: int
    steps: int
    rss_warm_mb: float
    rss_end_mb: float
    rss_max_mb: float
    cache_entries: int
    cache_mb: float
    cache_budget_mb: float
    steps_per_s: float

    @property
    def growth(self) -> float:
        """RSS at the end over RSS after warm-up, minus one."""
        return self.rss_end_mb / self.rss_warm_mb - 1

    @property
    def max_growth(self) -> float:
        """Highest RSS after warm-up over RSS after warm-up, minus one."""
        return self.rss_max_mb / self.rss_warm_mb - 1


def rss_mb() -> float:
    """This process's resident set size in MiB (Linux ``/proc/self/status``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status (Linux only)")


def measure_level(
    level: str,
    *,
    warmup: int = 20_000,
    steps: int = 200_000,
    num_envs: int = 16,
    parent: str = "scripted",
    cache_bytes: int | None = None,
    seed: int = 0,
) -> RssResult:
    """Step ``level``'s native vector env with random allowed acts; RSS after warm-up and after.

    Args:
        level: a registered level name.
        warmup: env steps (summed over envs) before the reference RSS is read.
        steps: env steps measured after warm-up.
        num_envs: envs of the vector env.
        parent: parent spec (not shared with other code: a fresh instance).
        cache_bytes: the parent's in-memory cache budget (``None``: its default).
        seed: seeds the envs and the acts.
    """
    import gymnasium as gym

    from babyworld import env_id
    from babyworld.parent import make_parent

    kwargs: dict[str, Any] = {} if cache_bytes is None else {"cache_bytes": cache_bytes}
    the_parent = make_parent(parent, shared=False, **kwargs)
    envs = gym.make_vec(env_id(level), num_envs=num_envs, parent=the_parent)
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)

    def run(n: int, watch: list[float] | None) -> None:
        for t in range(-(-n // num_envs)):
            masks = envs.unwrapped.action_masks()
            acts = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
            envs.step(acts)
            if watch is not None and t % 256 == 0:
                watch.append(rss_mb())

    run(warmup, None)
    warm = rss_mb()
    watch = [warm]
    t0 = time.perf_counter()
    run(steps, watch)
    seconds = time.perf_counter() - t0
    end = rss_mb()
    memory = the_parent._memory
    envs.close()
    return RssResult(
        level=level,
        warmup_steps=warmup,
        steps=steps,
        rss_warm_mb=warm,
        rss_end_mb=end,
        rss_max_mb=max(watch + [end]),
        cache_entries=len(memory),
        cache_mb=memory.nbytes / 2**20,
        cache_budget_mb=memory.max_bytes / 2**20,
        steps_per_s=steps / seconds,
    )


def _child(queue: Any, level: str, kwargs: dict[str, Any]) -> None:
    queue.put(asdict(measure_level(level, **kwargs)))


def measure_levels(levels: list[str], **kwargs: Any) -> list[RssResult]:
    """:func:`measure_level` for each level, each in a fresh process (its own RSS baseline)."""
    ctx = multiprocessing.get_context("spawn")
    out = []
    for level in levels:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(queue, level, kwargs))
        proc.start()
        result = queue.get()
        proc.join()
        out.append(RssResult(**result))
    return out


def table(results: list[RssResult]) -> str:
    """A markdown table of the figures."""
    lines = [
        "| level | RSS after warm-up (MiB) | RSS at the end | highest | growth | highest growth "
        "| cache entries | cache MiB / budget | steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.level} | {r.rss_warm_mb:.1f} | {r.rss_end_mb:.1f} | {r.rss_max_mb:.1f} "
            f"| {r.growth:+.1%} | {r.max_growth:+.1%} | {r.cache_entries:,} "
            f"| {r.cache_mb:.1f} / {r.cache_budget_mb:.0f} | {r.steps_per_s:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    from babyworld.envs.registration import LEVELS

    ap = argparse.ArgumentParser(prog="python -m babyworld.experiments.benchmarks.rss_bench")
    ap.add_argument("--levels", nargs="+", default=list(LEVELS), choices=list(LEVELS))
    ap.add_argument("--warmup", type=int, default=20_000, help="env steps before the reference")
    ap.add_argument("--steps", type=int, default=200_000, help="env steps measured after it")
    ap.add_argument("--num-envs", type=int, default=16)
    ap.add_argument("--parent", default="scripted")
    ap.add_argument("--cache-bytes", type=int, default=None, help="the parent's cache budget")
    a = ap.parse_args(argv)
    for name in ("warmup", "steps", "num_envs"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    results = measure_levels(
        a.levels,
        warmup=a.warmup,
        steps=a.steps,
        num_envs=a.num_envs,
        parent=a.parent,
        cache_bytes=a.cache_bytes,
    )
    print(table(results))


if __name__ == "__main__":
    main()
