"""The two students side by side: ``python -m babyworld.experiments.student_compare``.

Trains ``--student.kind steps`` and ``--student.kind tokens`` with the same config (parent,
seed, steps, PPO settings) on each level, one after the other in this process, and prints a
table: success over the last 500 episodes, the first step at which it reached 0.9, samples per
second (env steps over the run's wall-clock, parent included) and the tokens/steps speed ratio.
Writes ``compare.json`` next to the runs. The scripted parent is the default here (a learning
benchmark of the students, labelled as such); pass ``--parent smollm2`` for the real one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import STUDENT_KINDS, StudentConfig


@dataclass
class CompareConfig:
    """``student_compare``: every student kind on every level, same settings."""

    levels: tuple[str, ...] = ("Name", "Request")
    """levels to train on (fixed curriculum)"""
    steps: tuple[int, ...] = (20_480, 40_960)
    """env steps per level (one number for all, or one per level)"""
    kinds: tuple[str, ...] = STUDENT_KINDS
    """student kinds to compare"""
    parent: str = "scripted"
    """parent spec (the scripted parent by default: a benchmark of the students)"""
    seed: int = 0
    """seed of every run"""
    out: Path = Path("runs/student_compare")
    """directory of the runs and of compare.json (a run already finished there is reused)"""
    threads: int = 1
    """torch CPU threads"""
    student: StudentConfig = field(default_factory=StudentConfig)
    """sizes shared by both kinds (the kind is set per run)"""
    ppo: PPOConfig = field(default_factory=PPOConfig)

    def __post_init__(self) -> None:
        if len(self.steps) not in (1, len(self.levels)):
            raise ValueError(
                f"--steps takes one number or one per level ({len(self.levels)}), "
                f"got {len(self.steps)}"
            )
        unknown = set(self.kinds) - set(STUDENT_KINDS)
        if unknown:
            raise ValueError(
                f"unknown student kinds {sorted(unknown)}; choose from {STUDENT_KINDS}"
            )


def compare(cfg: CompareConfig) -> list[dict]:
    """Train (or reuse) every run; return one row per (level, kind)."""
    from babyworld.experiments.config import TrainConfig
    from babyworld.experiments.train import train

    rows = []
    for k, level in enumerate(cfg.levels):
        steps = cfg.steps[k] if len(cfg.steps) > 1 else cfg.steps[0]
        for kind in cfg.kinds:
            run = cfg.out / f"{level}__{kind}__{cfg.seed}"
            if not (run / "summary.json").is_file():
                train(
                    TrainConfig(
                        level=level,  # type: ignore[arg-type]
                        parent=cfg.parent,
                        seed=cfg.seed,
                        steps=steps,
                        threads=cfg.threads,
                        out=run,
                        student=dataclasses.replace(cfg.student, kind=kind),  # type: ignore[arg-type]
                        ppo=cfg.ppo,
                    ),
                    progress=False,
                )
            s = json.loads((run / "summary.json").read_text())
            rows.append(
                {
                    "level": level,
                    "student": kind,
                    "steps": s["steps"],
                    "success_last_500": round(s["success_last_500"], 4),
                    "steps_to_90": s["steps_to_90"],
                    "samples_per_s": round(s["steps"] / (60 * s["minutes"]), 1),
                    "parent": s["parent"],
                    "run": str(run),
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    """A Markdown table of :func:`compare`'s rows, with each level's speed ratio to ``steps``."""
    base = {r["level"]: r["samples_per_s"] for r in rows if r["student"] == "steps"}
    lines = [
        "| level | student | steps | success (last 500) | steps to 0.9 | samples/s | speed vs steps |",
        "|-|-|-|-|-|-|-|",
    ]
    for r in rows:
        ratio = r["samples_per_s"] / base[r["level"]] if r["level"] in base else float("nan")
        lines.append(
            f"| {r['level']} | {r['student']} | {r['steps']} | {r['success_last_500']:.3f} | "
            f"{r['steps_to_90'] or 'not reached'} | {r['samples_per_s']:.0f} | {ratio:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    """Entry point."""
    cfg = tyro.cli(CompareConfig)
    rows = compare(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "compare.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"parent: {rows[0]['parent'] if rows else cfg.parent}, seed {cfg.seed}")
    print(table(rows))


if __name__ == "__main__":
    main()
