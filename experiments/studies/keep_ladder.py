"""Which mechanism keeps the ladder? Every stage's held-out score at the end, by mechanism.

``python -m babyworld.experiments.studies.keep_ladder --out runs/keep_ladder`` trains the default
ladder (``--curriculum ladder``, the scripted parent) once per mechanism against forgetting and
seed, each run ``babyworld train`` in ``OUT/<mechanism>/seed<s>``; a finished run is skipped and
an interrupted one resumed, so the command is rerun to continue. The mechanisms
(docs/curricula.md): ``retest``, the ladder's fixed 10% re-tests (the default, the control);
``adaptive``, re-tests that follow the measured forgetting (``--curricula.retest-gain``);
``anchor``, an L2 anchor to the last promotion's weights (``--ppo.anchor-coef``); ``recall``, the
last promotion's student as a teacher on the re-tests (``--ppo.recall-coef``); ``replay``, each
passed stage's last steps replayed with the policy that passed it (``--ppo.replay-coef``). Their settings are
first guesses, not tuned. ``--report`` (also run at the end) writes ``per_seed.csv`` (each stage's
final greedy held-out score, from the run's ``retention`` summary, their mean and minimum) and
``keep.md`` (mean over seeds, per mechanism). ``--cost`` measures each mechanism's time per update
on its own finished seed-0 run, resumed (in a copy) for 10 more updates, in the order of the
mechanisms and then reversed, and writes ``cost.md`` (the median seconds per update of each pass,
and the ratio of their mean to ``retest``'s): run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from babyworld.agents.checkpoint import write_text_atomic
from babyworld.experiments.ablation.ablate import parse_shard, shard_of

#: mechanism -> (--curricula.* settings, --ppo.* settings)
MECHANISMS: dict[str, tuple[dict, dict]] = {
    "retest": ({}, {}),
    "adaptive": ({"retest_gain": 2.0}, {}),
    "anchor": ({}, {"anchor_coef": 1e-3}),
    "recall": ({}, {"recall_coef": 1.0}),
    "replay": ({}, {"replay_coef": 1.0}),
}


def run_one(out: Path, mechanism: str, seed: int, steps: int) -> Path:
    """Train (or resume, or skip when finished) one seed of one mechanism; returns its folder."""
    from babyworld.agents.ppo import PPOConfig
    from babyworld.experiments.config import CurriculumConfig, TrainConfig
    from babyworld.experiments.train import train_or_resume

    curricula, ppo = MECHANISMS[mechanism]
    cfg = TrainConfig(
        parent="scripted",
        curriculum="ladder",
        seed=seed,
        steps=steps,
        out=out / mechanism / f"seed{seed}",
        threads=1,
        curricula=CurriculumConfig(**curricula),
        ppo=PPOConfig(**ppo),
    )
    return train_or_resume(cfg)


def rows(out: Path) -> list[dict]:
    """One row per finished run under ``out``: each stage's final score, their mean and min."""
    found = []
    for summary in sorted(out.glob("*/seed*/summary.json")):
        s = json.loads(summary.read_text())
        stages = {k: v for k, v in (s.get("retention") or {}).items() if k not in ("step", "mean")}
        if not stages:
            continue
        scores = np.array(list(stages.values()))
        found.append(
            {
                "mechanism": summary.parent.parent.name,
                "seed": int(summary.parent.name.removeprefix("seed")),
                "steps": s["steps"],
                **{f"stage:{k}": round(v, 4) for k, v in stages.items()},
                "mean": round(float(scores.mean()), 4),
                "min": round(float(scores.min()), 4),
            }
        )
    return sorted(found, key=lambda r: (list(MECHANISMS).index(r["mechanism"]), r["seed"]))


def report(out: Path) -> str:
    """Write ``per_seed.csv`` and ``keep.md`` in ``out``; returns the table."""
    table = rows(out)
    if not table:
        raise ValueError(f"no finished run under {out}: run the study first")
    fields = list(dict.fromkeys(k for r in table for k in r))
    with open(out / "per_seed.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(table)
    lines = [
        "| mechanism | seeds | mean over the stages, mean [min, max] | weakest stage, mean |",
        "|---|---|---|---|",
    ]
    for m in dict.fromkeys(r["mechanism"] for r in table):
        mine = [r for r in table if r["mechanism"] == m]
        g = np.array([r["mean"] for r in mine])
        weakest = np.mean([r["min"] for r in mine])
        lines.append(
            f"| {m} | {len(mine)} | {g.mean():.3f} [{g.min():.3f}, {g.max():.3f}] | {weakest:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    write_text_atomic(text, out / "keep.md")
    return text


def cost(out: Path, mechanisms: list[str], updates: int = 10) -> str:
    """Seconds per update of each mechanism (see the module docstring); writes ``cost.md``."""
    import shutil
    import statistics
    import subprocess
    import sys
    import tempfile

    passes: dict[str, list[float]] = {m: [] for m in mechanisms}
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(mechanisms + mechanisms[::-1]):
            run = Path(tmp) / f"{m}_{i}"
            shutil.copytree(out / m / "seed0", run)
            summary = json.loads((run / "summary.json").read_text())
            before = len((run / "metrics.csv").read_text().splitlines())
            config = json.loads((run / "config.json").read_text())
            steps = summary["steps"] + updates * config["num_envs"] * config["ppo"]["rollout_steps"]
            cmd = [str(Path(sys.executable).parent / "babyworld"), "train", "--resume", str(run)]
            subprocess.run([*cmd, "--steps", str(steps)], check=True, capture_output=True)
            with open(run / "metrics.csv") as f:
                seconds = [float(r["seconds"]) for r in csv.DictReader(f)][before - 2 :]
            passes[m].append(statistics.median(np.diff(seconds).tolist()))
    base = statistics.mean(passes[mechanisms[0]])
    lines = [
        f"| mechanism | seconds per update (pass 1, pass 2) | ratio to {mechanisms[0]} |",
        "|---|---|---|",
    ]
    for m, v in passes.items():
        lines.append(f"| {m} | {v[0]:.3f}, {v[1]:.3f} | {statistics.mean(v) / base:.2f} |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(text, out / "cost.md")
    return text


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/keep_ladder"))
    ap.add_argument("--mechanisms", nargs="+", default=list(MECHANISMS))
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per mechanism")
    ap.add_argument("--steps", type=int, default=163_840)
    ap.add_argument("--shard", default="1/1", help="K/N: run every N-th run from the K-th")
    ap.add_argument("--report", action="store_true", help="only write the report")
    ap.add_argument("--cost", action="store_true", help="only measure the time per update")
    args = ap.parse_args(argv)
    unknown = [m for m in args.mechanisms if m not in MECHANISMS]
    if unknown:
        raise ValueError(f"unknown mechanisms {unknown}; choose from {list(MECHANISMS)}")
    if args.seeds < 1 or args.steps < 1:
        raise ValueError(f"--seeds and --steps must be positive, got {args.seeds}, {args.steps}")
    k, n = parse_shard(args.shard)
    if args.cost:
        print(cost(args.out, args.mechanisms))
        return
    if not args.report:
        todo = [(m, s) for s in range(args.seeds) for m in args.mechanisms]  # seed-major
        for m, s in shard_of(todo, k, n):
            print(f"{m} seed {s}: {run_one(args.out, m, s, args.steps)}")
    print(report(args.out))


if __name__ == "__main__":
    main()
