"""Which acts does a reward paid from the student's own world model favour? Right or wrong ones.

``python -m babyworld.experiments.studies.words_channel runs/words_channel`` reads an ablation
made with ``experiments/configs/words_channel.toml`` (``babyworld ablate``) and, from every run's
``transcripts.jsonl`` (the turns of the episodes the run logged while training, each with its act's
truth by the verifier and the reward components paid for it), writes ``by_truth.csv`` and
``by_truth.md``: per level, label and phase of training (the first and the last third of the
logged updates), the mean ``predictability`` reward paid after right acts and after wrong ones, and
their difference (right minus wrong), its mean over seeds with the seeds' range. A negative
difference is a reward for being wrong.

With ``--world-model N`` it also writes ``world_model.csv`` and ``world_model.md``: every run's
final student plays ``N`` held-out episodes greedily (the evaluation's seeds, with the run's own
parent and env settings), and its world model's cross-entropy of the parent's words at each
exchange's end (bits per word) is averaged after right and after wrong acts: how well the student
predicts what the parent says, on episodes it never trained on.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from babyworld.agents.checkpoint import write_text_atomic

COMPONENT = "predictability"
LN2 = float(np.log(2.0))


def turns(run: Path) -> list[tuple[int, bool, float]]:
    """``(update, right, reward)`` of every logged turn of ``run`` (its ``transcripts.jsonl``)."""
    out = []
    for line in (run / "transcripts.jsonl").read_text().splitlines():
        record = json.loads(line)
        for turn in record["turns"]:
            if "success" in turn and COMPONENT in turn.get("rewards", {}):
                out.append((record["update"], bool(turn["success"]), turn["rewards"][COMPONENT]))
    return out


def per_seed(out: Path) -> list[dict]:
    """One row per run and phase: mean reward after right and after wrong acts, and the counts."""
    rows = []
    for path in sorted(out.glob("*/*/seed*/transcripts.jsonl")):
        run = path.parent
        found = turns(run)
        if not found:
            continue
        updates = sorted({u for u, _, _ in found})
        cut = len(updates) // 3
        phases = {"first third": set(updates[:cut]), "last third": set(updates[-cut:])}
        for phase, keep in phases.items():
            picked = [(ok, r) for u, ok, r in found if u in keep]
            rows.append(_row(run, picked, "turns", "reward", phase=phase))
    return rows


def _row(run: Path, values: list[tuple[bool, float]], count: str, mean: str, **extra) -> dict:
    """A run's row: level, label, seed, ``extra``, the counts and means after right and wrong."""
    right = [v for ok, v in values if ok]
    wrong = [v for ok, v in values if not ok]
    return {
        "level": run.parent.parent.name,
        "label": run.parent.name,
        "seed": int(run.name.removeprefix("seed")),
        **extra,
        f"right_{count}": len(right),
        f"wrong_{count}": len(wrong),
        f"{mean}_right": round(float(np.mean(right)), 4) if right else "",
        f"{mean}_wrong": round(float(np.mean(wrong)), 4) if wrong else "",
    }


def summary(rows: list[dict]) -> str:
    """The markdown table: per level, label and phase, the mean difference over seeds, its range."""
    lines = [
        f"| level | label | phase | seeds | {COMPONENT} after right | after wrong | right − wrong, "
        "mean [seeds' min, max] |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["level"], r["label"], r["phase"]) for r in rows)
    for level, label, phase in keys:
        mine = [
            r
            for r in rows
            if (r["level"], r["label"], r["phase"]) == (level, label, phase)
            and r["reward_right"] != ""
            and r["reward_wrong"] != ""
        ]
        if not mine:
            continue
        right = np.array([r["reward_right"] for r in mine])
        wrong = np.array([r["reward_wrong"] for r in mine])
        diff = right - wrong
        span = f"[{diff.min():+.3f}, {diff.max():+.3f}]"
        lines.append(
            f"| {level} | {label} | {phase} | {len(mine)} | {right.mean():.3f} | "
            f"{wrong.mean():.3f} | {diff.mean():+.3f} {span} |"
        )
    return "\n".join(lines) + "\n"


def world_model_rows(out: Path, episodes: int) -> list[dict]:
    """One row per run of ``out``: its world model's held-out bits per word after right and wrong."""
    from babyworld import make_parent
    from babyworld.agents.evaluate import play_episodes
    from babyworld.experiments.rundir import load
    from babyworld.task import Task
    from babyworld.vector import make_envs

    rows = []
    for ckpt in sorted(out.glob("*/*/seed*/checkpoint.pt")):
        run = ckpt.parent
        baby = load(run)
        parent = make_parent(baby.config.parent)
        envs = make_envs(baby.level, min(16, episodes), parent, **baby.config.env.env_kwargs())
        heard: list[tuple[float, bool]] = []
        try:
            play_episodes(baby.model, envs, [Task.make(baby.level)], episodes, True, heard=heard)
        finally:
            envs.close()
        rows.append(_row(run, [(ok, n / LN2) for n, ok in heard], "reactions", "bits_after"))
    return rows


def world_model_summary(rows: list[dict]) -> str:
    """The markdown table: per level and label, the mean bits per word over seeds."""
    lines = [
        "| level | label | seeds | reactions after right / wrong | world model's bits per word "
        "after right | after wrong |",
        "|---|---|---|---|---|---|",
    ]
    for level, label in dict.fromkeys((r["level"], r["label"]) for r in rows):
        mine = [r for r in rows if (r["level"], r["label"]) == (level, label)]
        cell = {}
        for side in ("right", "wrong"):
            vals = [r[f"bits_after_{side}"] for r in mine if r[f"bits_after_{side}"] != ""]
            cell[side] = f"{np.mean(vals):.3f}" if vals else "–"
        counts = (sum(r[f"{s}_reactions"] for r in mine) for s in ("right", "wrong"))
        lines.append(
            f"| {level} | {label} | {len(mine)} | {' / '.join(map(str, counts))} | "
            f"{cell['right']} | {cell['wrong']} |"
        )
    return "\n".join(lines) + "\n"


def _write(out: Path, name: str, rows: list[dict], text: str) -> None:
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_text_atomic(text, out / f"{name}.md")
    print(text)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the ablation's output directory")
    ap.add_argument(
        "--world-model",
        type=int,
        default=0,
        metavar="N",
        help="also measure every run's world model on N held-out episodes (0: not)",
    )
    args = ap.parse_args(argv)
    if args.world_model < 0:
        raise SystemExit(f"--world-model must be >= 0 episodes, got {args.world_model}")
    rows = per_seed(args.out)
    if not rows:
        raise SystemExit(f"no run with transcripts under {args.out}: run the ablation first")
    _write(args.out, "by_truth", rows, summary(rows))
    if args.world_model:
        wm = world_model_rows(args.out, args.world_model)
        if not wm:
            raise SystemExit(f"no run with a checkpoint under {args.out}: run the ablation first")
        _write(args.out, "world_model", wm, world_model_summary(wm))


if __name__ == "__main__":
    main()
