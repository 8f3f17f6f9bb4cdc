"""How wrong can a parent be and still teach? A judge-quality sweep with the scripted parent.

``python -m babyworld.experiments.studies.judge_sweep --out runs/judge_sweep`` trains ``baby`` on Name
from the parent's verdict alone (``--env.reward-source parent``: the verifier is
held out and only scores) with a scripted judge of known quality
(:class:`~babyworld.parent.scripted.ScriptedParent`'s ``judge_error`` ε, the share of situations
judged wrong, and ``judge_bias`` b, the share of toys whose other attribute word it also accepts),
for every (ε, b) cell and seed. Each run is ``babyworld train`` with those settings in
``OUT/e{ε}_b{b}/seed{s}``; a finished run is skipped and an interrupted one resumed, so the command
is rerun to continue. ``--report`` (also run at the end) writes ``per_seed.csv`` (final greedy and
sampled true success on held-out seeds, the parent's verdict over the last 500 training episodes),
``sweep.md`` (mean and range per cell) and ``sweep.png`` (true success against ε, a line per b);
``--judges FILE`` (a ``parent-eval --in-env --json`` file) marks real judges on the same axes: their
ε = 1 - top-1, and the probability mass on the other attribute (not the same quantity as b, a
share of toys).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from babyworld.agents.checkpoint import write_text_atomic
from babyworld.experiments.ablation.ablate import parse_shard, shard_of

ERRORS = (0.0, 0.1, 0.2, 0.3, 0.4)
BIASES = (0.0, 0.2, 0.4)


def check_values(name: str, values: Sequence[float]) -> tuple[float, ...]:
    """``values`` if each is a share in [0, 1), else ``ValueError`` naming what is accepted."""
    bad = [v for v in values if not 0.0 <= v < 1.0]
    if not values or bad:
        raise ValueError(f"--{name} takes shares in [0, 1) (e.g. 0 0.2 0.4); got {list(values)}")
    return tuple(float(v) for v in values)


def cell_dir(out: Path, error: float, bias: float) -> Path:
    """The folder of one (ε, b) cell."""
    return out / f"e{error:g}_b{bias:g}"


def run_cell(out: Path, error: float, bias: float, seed: int, steps: int) -> Path:
    """Train (or resume, or skip when finished) one seed of one cell; returns its run folder."""
    from babyworld.experiments.config import EnvConfig, TrainConfig
    from babyworld.experiments.train import train_or_resume

    cfg = TrainConfig(
        level="Name",  # the scripted judge's error and bias act on a shown toy
        parent=f"scripted?judge_error={error:g}&judge_bias={bias:g}",
        seed=seed,
        steps=steps,
        out=cell_dir(out, error, bias) / f"seed{seed}",
        threads=1,
        env=EnvConfig(reward_source="parent"),
    )
    return train_or_resume(cfg)


def rows(out: Path) -> list[dict]:
    """One row per finished run under ``out``."""
    found = []
    for summary in sorted(out.glob("e*_b*/seed*/summary.json")):
        s = json.loads(summary.read_text())
        error, bias = (float(x[1:]) for x in summary.parent.parent.name.split("_"))
        found.append(
            {
                "error": error,
                "bias": bias,
                "seed": int(summary.parent.name.removeprefix("seed")),
                "steps": s["steps"],
                "greedy_true": s["eval"]["greedy_success"],
                "sampled_true": s["eval"]["sampled_success"],
                "proxy_last_500": s["judge"]["proxy_success_last_500"],
                "true_last_500": s["judge"]["true_success_last_500"],
            }
        )
    return sorted(found, key=lambda r: (r["error"], r["bias"], r["seed"]))


def report(out: Path, judges: Path | None = None) -> str:
    """Write ``per_seed.csv``, ``sweep.md`` and ``sweep.png`` in ``out``; returns the table."""
    table = rows(out)
    if not table:
        raise ValueError(f"no finished run under {out}: run the sweep first")
    with open(out / "per_seed.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    cells = sorted({(r["error"], r["bias"]) for r in table})
    lines = [
        "| ε (judge error) | b (bias) | seeds | greedy true success, mean [min, max] | sampled | "
        "parent's verdict, last 500 |",
        "|---|---|---|---|---|---|",
    ]
    for e, b in cells:
        mine = [r for r in table if (r["error"], r["bias"]) == (e, b)]
        g = np.array([r["greedy_true"] for r in mine])
        lines.append(
            f"| {e:g} | {b:g} | {len(mine)} | {g.mean():.3f} [{g.min():.3f}, {g.max():.3f}] | "
            f"{np.mean([r['sampled_true'] for r in mine]):.3f} | "
            f"{np.mean([r['proxy_last_500'] for r in mine]):.3f} |"
        )
    text = "\n".join(lines) + "\n"
    write_text_atomic(text, out / "sweep.md")
    _plot(out, table, judges)
    return text


def _plot(out: Path, table: list[dict], judges: Path | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for b in sorted({r["bias"] for r in table}):
        es = sorted({r["error"] for r in table if r["bias"] == b})
        means = [
            np.mean([r["greedy_true"] for r in table if (r["error"], r["bias"]) == (e, b)])
            for e in es
        ]
        ax.plot(es, means, marker="o", label=f"b = {b:g}")
        for r in (r for r in table if r["bias"] == b):
            ax.scatter(r["error"], r["greedy_true"], s=8, alpha=0.4, color=ax.lines[-1].get_color())
    if judges is not None:
        for j in json.loads(judges.read_text()):
            if j.get("other_attribute_mass") is None:
                continue
            ax.axvline(1 - j["top1"], ls=":", color="k")
            ax.annotate(
                f"{j['parent']} {j['level']}\nother-attribute mass {j['other_attribute_mass']:.2f}",
                (1 - j["top1"], 0.05),
                fontsize=7,
            )
    ax.set_xlabel("ε: share of situations the judge gets wrong")
    ax.set_ylabel("final greedy true success (held-out seeds)")
    ax.set_ylim(0, 1.02)
    ax.legend(title="b: also accepts the other attribute")
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/judge_sweep"))
    ap.add_argument("--errors", type=float, nargs="+", default=ERRORS)
    ap.add_argument("--biases", type=float, nargs="+", default=BIASES)
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per cell")
    ap.add_argument("--steps", type=int, default=81_920)
    ap.add_argument("--shard", default="1/1", help="K/N: run every N-th run from the K-th")
    ap.add_argument("--report", action="store_true", help="only write the report")
    ap.add_argument("--judges", type=Path, default=None, help="parent-eval --in-env JSON to mark")
    args = ap.parse_args(argv)
    errors, biases = check_values("errors", args.errors), check_values("biases", args.biases)
    if args.seeds < 1 or args.steps < 1:
        raise ValueError(f"--seeds and --steps must be positive, got {args.seeds}, {args.steps}")
    k, n = parse_shard(args.shard)
    if not args.report:
        # seed-major: every cell has a first seed before any has a second (a partial sweep is a grid)
        todo = [(e, b, s) for s in range(args.seeds) for e in errors for b in biases]
        for e, b, s in shard_of(todo, k, n):
            print(f"ε={e:g} b={b:g} seed {s}: {run_cell(args.out, e, b, s, args.steps)}")
    print(report(args.out, args.judges))


if __name__ == "__main__":
    main()
