"""The two students side by side: ``python -m babyworld.experiments.studies.student_compare``.

Trains ``--student.kind steps`` and ``--student.kind tokens`` with the same config (parent,
seed, steps, PPO settings) on each level, one after the other in this process, and prints a
table: success over the last 500 episodes, the first step at which it reached 0.9, samples per
second (env steps over the run's wall-clock, parent included) and the tokens/steps speed ratio.
Writes ``compare.json`` next to the runs. The scripted parent is the default here (a learning
benchmark of the students, labelled as such); pass ``--parent smollm2`` for the real one.

With ``--curricula.stages`` (tasks of one level, e.g. ``Request[max_words=1]
Request[max_words=2] Request``) that level trains through the stages with the ladder curriculum
(``--curricula.*`` settings) instead of on the level alone; its runs are named ``..__ladder``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import STUDENT_KINDS, StudentConfig
from babyworld.experiments.config import CurriculumConfig, EnvConfig


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
    speed_steps: int = 2048
    """env steps of each short speed run (0: none); the kinds' speed runs alternate, twice, on
    the first level, so both see the same machine load"""
    student: StudentConfig = field(default_factory=StudentConfig)
    """sizes shared by both kinds (the kind is set per run)"""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    """env settings of every run (e.g. --env.reward-weights)"""
    curricula: CurriculumConfig = field(default_factory=CurriculumConfig)
    """with --curricula.stages (tasks of one of --levels): that level trains through them with
    the ladder curriculum (threshold, window, retest rate from here)"""

    def __post_init__(self) -> None:
        if len(self.steps) not in (1, len(self.levels)):
            raise ValueError(
                f"--steps takes one number or one per level ({len(self.levels)}), "
                f"got {len(self.steps)}"
            )
        if self.speed_steps < 0:
            raise ValueError(f"--speed-steps must be >= 0, got {self.speed_steps}")
        staged = self.curricula.single_level()
        if self.curricula.stages and staged not in self.levels:
            raise ValueError(
                f"--curricula.stages must all be tasks of one of --levels {self.levels}, got "
                f"{self.curricula.stages}"
            )
        unknown = set(self.kinds) - set(STUDENT_KINDS)
        if unknown:
            raise ValueError(
                f"unknown student kinds {sorted(unknown)}; choose from {STUDENT_KINDS}"
            )


def staged(cfg: CompareConfig, level: str) -> bool:
    """Whether ``level`` trains through ``--curricula.stages`` (the ladder) in the comparison."""
    return bool(cfg.curricula.stages) and cfg.curricula.single_level() == level


def run_name(cfg: CompareConfig, level: str, kind: str) -> str:
    """``{level}__{kind}__{seed}``, with ``__ladder`` when the level trains through stages."""
    return f"{level}__{kind}__{cfg.seed}" + ("__ladder" if staged(cfg, level) else "")


def _config(cfg: CompareConfig, level: str, kind: str, steps: int, out: Path):
    from babyworld.experiments.config import TrainConfig

    ladder = staged(cfg, level)
    return TrainConfig(
        level=level,  # type: ignore[arg-type]
        curriculum="ladder" if ladder else "fixed",
        curricula=cfg.curricula if ladder else CurriculumConfig(),
        parent=cfg.parent,
        seed=cfg.seed,
        steps=steps,
        threads=cfg.threads,
        out=out,
        student=dataclasses.replace(cfg.student, kind=kind),  # type: ignore[arg-type]
        ppo=cfg.ppo,
        env=cfg.env,
    )


def speed(cfg: CompareConfig) -> dict[str, float]:
    """Samples per second of each kind: short runs on the first level, alternating, twice.

    Returns:
        ``{kind: the better of its two runs' env steps per wall-clock second}``.
    """
    import shutil
    import tempfile
    import time

    from babyworld.experiments.train import train

    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(2):
            for kind in cfg.kinds:
                out = Path(tmp) / f"{kind}{rep}"
                t0 = time.perf_counter()
                train(_config(cfg, cfg.levels[0], kind, cfg.speed_steps, out), progress=False)
                sps = cfg.speed_steps / (time.perf_counter() - t0)
                best[kind] = max(best.get(kind, 0.0), sps)
                shutil.rmtree(out)
    return best


def compare(cfg: CompareConfig) -> list[dict]:
    """Train (or reuse) every run; return one row per (level, kind)."""
    from babyworld.experiments.train import train

    rows = []
    for k, level in enumerate(cfg.levels):
        steps = cfg.steps[k] if len(cfg.steps) > 1 else cfg.steps[0]
        for kind in cfg.kinds:
            run = cfg.out / run_name(cfg, level, kind)
            if not (run / "summary.json").is_file():
                train(_config(cfg, level, kind, steps, run), progress=False)
            s = json.loads((run / "summary.json").read_text())
            rows.append(
                {
                    "level": level,
                    "student": kind,
                    "stages": list(cfg.curricula.stages) if staged(cfg, level) else [level],
                    "stages_first_step": {
                        k: v["first_step"] for k, v in s["curriculum"].get("tasks", {}).items()
                    },
                    "stage_at_end": _stage_at_end(s),
                    "last_stage_success_last_500": _last_stage(s, cfg, level),
                    "steps": s["steps"],
                    "success_last_500": round(s["success_last_500"], 4),
                    "steps_to_90": s["steps_to_90"],
                    "samples_per_s": round(s["steps"] / (60 * s["minutes"]), 1),
                    "parent": s["parent"],
                    "run": str(run),
                }
            )
    return rows


def _stage_at_end(summary: dict) -> str | None:
    """The task the run played last to start (its stage at the end, on a ladder)."""
    tasks = summary["curriculum"].get("tasks", {})
    return max(tasks, key=lambda k: tasks[k]["first_step"]) if tasks else None


def _last_stage(summary: dict, cfg: CompareConfig, level: str) -> float | None:
    """Success of the last stage's episodes among the run's last 500 (the level's own task)."""
    last = cfg.curricula.tasks()[-1].name if staged(cfg, level) else level
    task = summary["curriculum"].get("tasks", {}).get(last, {})
    value = task.get("last_500_success")
    return None if value is None else round(value, 4)


def table(rows: list[dict], speeds: dict[str, float] | None = None) -> str:
    """A Markdown table of :func:`compare`'s rows, then the speed runs' samples/s and ratio.

    The samples/s of the training runs were measured at different times (a shared machine's load
    changes); the speed runs alternate the kinds, so their ratio is the one to quote.
    """
    lines = [
        "| level | student | steps | stage at the end | success (last 500) | last stage's "
        "success (its episodes among the last 500) | steps to 0.9 (last 500) | samples/s |",
        "|-|-|-|-|-|-|-|-|",
    ]
    for r in rows:
        stages = r.get("stages", [r["level"]])
        level = r["level"] if len(stages) < 2 else f"{r['level']} ({' → '.join(stages)})"
        last = r.get("last_stage_success_last_500")
        lines.append(
            f"| {level} | {r['student']} | {r['steps']} | {r.get('stage_at_end') or r['level']} | "
            f"{r['success_last_500']:.3f} | "
            f"{'–' if last is None else f'{last:.3f}'} | {r['steps_to_90'] or 'not reached'} | "
            f"{r['samples_per_s']:.0f} |"
        )
    if speeds:
        base = speeds.get("steps")
        lines.append("")
        for kind, sps in speeds.items():
            ratio = f" ({sps / base:.2f}x steps)" if base else ""
            lines.append(f"speed run, {kind}: {sps:.0f} samples/s{ratio}")
    return "\n".join(lines)


def main() -> None:
    """Entry point."""
    cfg = tyro.cli(CompareConfig)
    rows = compare(cfg)
    speeds = speed(cfg) if cfg.speed_steps else {}
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "compare.json").write_text(
        json.dumps({"runs": rows, "speed_samples_per_s": speeds}, indent=2) + "\n"
    )
    print(f"parent: {rows[0]['parent'] if rows else cfg.parent}, seed {cfg.seed}")
    print(table(rows, speeds))


if __name__ == "__main__":
    main()
