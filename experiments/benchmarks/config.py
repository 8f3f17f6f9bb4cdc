"""``babyworld bench``'s settings: the sections, their sizes, the targets, the parent paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from babyworld.parent import DEFAULT_PARENT

#: The CPU kinds a speed target may be set for, by their widest vector extension (the names
#: :func:`~babyworld.experiments.benchmarks.bench.simd_level` gives)
AVX512, AVX2 = "AVX-512", "AVX2"
#: key -> (threshold, text, lower is better); a threshold given per CPU kind (a dict keyed by
#: :func:`~babyworld.experiments.benchmarks.bench.simd_level`) is judged against this machine's
#: kind. The targets of the issue "Every CPU" (README "Speed" gives the figures met and not met).
TARGETS: dict[str, tuple[float | dict[str, float], str, bool]] = {
    "parent_ratio": (0.8, "parent tokens/s at N=64 / raw forward tokens/s >= 0.8", False),
    "scripted_vs_minigrid": (10.0, "scripted-parent env steps/s / Minigrid steps/s >= 10", False),
    "trainer_samples_per_s": (
        {AVX512: 1500.0, AVX2: 1000.0},
        "PPO collect + update samples/s, scripted parent, >= 1,500 (AVX2: >= 1,000)",
        False,
    ),
    "warm_start_s": (1.0, "warm start of the default parent < 1 s", True),
    "peak_rss_gb": (2.5, "peak RSS with the default parent and 64 envs < 2.5 GB", True),
    "store_second_run_hit_rate": (
        1.0,
        "answer store hit rate on a second identical run = 1",
        False,
    ),
    "demo_first_update_s": (
        20.0,
        "make demo's first update (512 steps, empty answer store, from process start) < 20 s",
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


class Table:
    """Rows of the result table, each logged as it is measured."""

    def __init__(self, log: Any) -> None:
        self.rows: list[dict[str, Any]] = []
        self.log = log

    def add(
        self, measure: str, parent: str, value: float | None, unit: str, note: str = ""
    ) -> None:
        """One row, logged as it comes."""
        self.rows.append(
            {"measure": measure, "parent": parent, "value": value, "unit": unit, "note": note}
        )
        shown = "skipped" if value is None else f"{value:,.3g} {unit}"
        self.log(f"  {measure} [{parent}]: {shown} {note}".rstrip())
