"""Which acts does a reward paid from the student's own world model favour? Right or wrong ones.

``python -m babyworld.experiments.studies.words_channel runs/words_channel`` reads an ablation
made with ``experiments/configs/words_channel.toml`` (``babyworld ablate``) and, from every run's
``transcripts.jsonl`` (the turns of the episodes the run logged while training, each with its act's
truth by the verifier and the reward components paid for it), writes ``by_truth.csv`` and
``by_truth.md``: per level, label and phase of training (the first and the last third of the
logged updates), the mean ``predictability`` reward paid after right acts and after wrong ones, and
their difference (right minus wrong), its mean over seeds with the seeds' range. A negative
difference is a reward for being wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from babyworld.agents.checkpoint import write_text_atomic

COMPONENT = "predictability"


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
            right = [r for u, ok, r in found if u in keep and ok]
            wrong = [r for u, ok, r in found if u in keep and not ok]
            rows.append(
                {
                    "level": run.parent.parent.name,
                    "label": run.parent.name,
                    "seed": int(run.name.removeprefix("seed")),
                    "phase": phase,
                    "right_turns": len(right),
                    "wrong_turns": len(wrong),
                    "reward_right": round(float(np.mean(right)), 4) if right else "",
                    "reward_wrong": round(float(np.mean(wrong)), 4) if wrong else "",
                }
            )
    return rows


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


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the ablation's output directory")
    args = ap.parse_args(argv)
    rows = per_seed(args.out)
    if not rows:
        raise SystemExit(f"no run with transcripts under {args.out}: run the ablation first")
    with open(args.out / "by_truth.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    text = summary(rows)
    write_text_atomic(text, args.out / "by_truth.md")
    print(text)


if __name__ == "__main__":
    main()
