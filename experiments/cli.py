"""The ``babyworld`` command line (tyro subcommands)."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import tyro

from babyworld.agents.checkpoint import CheckpointError
from babyworld.experiments.bench import BenchConfig
from babyworld.experiments.config import TrainConfig
from babyworld.parent import DEFAULT_PARENT

Level = Literal["Point", "Name"]


def demo(
    parent: str = DEFAULT_PARENT,
    levels: tuple[Level, ...] = ("Point", "Name"),
    steps: int = 4,
    seed: int = 0,
) -> None:
    """Show a few exchanges: what the parent says, what a random baby does, every reward component.

    Args:
        parent: parent spec: 'smollm2' (default LLM), 'hf:<hub id or dir>' or 'scripted'.
        levels: levels to show.
        steps: exchanges per level.
        seed: env and baby seed.
    """
    from babyworld.experiments.demo import run_demo

    run_demo(parent=parent, levels=levels, steps=steps, seed=seed)


def parent_eval(
    parent: Annotated[str, tyro.conf.arg(aliases=["-p"])] = DEFAULT_PARENT,
) -> None:
    """Measure a parent as a judge on the labelled probe set and print its accuracy per kind.

    Args:
        parent: parent spec: 'smollm2' (default LLM), 'hf:<hub id or dir>' or 'scripted'.
    """
    from babyworld.experiments.parent_eval import run_parent_eval

    run_parent_eval(parent)


def train(cfg: Annotated[TrainConfig, tyro.conf.arg(name="")]) -> None:
    """Train the from-scratch student (PPO + world-model + latent-KL losses) on one level."""
    from babyworld.experiments.train import train as run_train

    run = run_train(cfg)
    print(f"run directory: {run}")
    print(f"TensorBoard:   tensorboard --logdir {run}")
    print(f"curve:         {run / 'curve.png'}")
    print(f"summary:       {(run / 'summary.json').read_text().strip()}")


def bench(cfg: Annotated[BenchConfig, tyro.conf.arg(name="")]) -> None:
    """Measure the parent, the envs and the trainer on this machine (writes bench.json, bench.md)."""
    from babyworld.experiments.bench import bench as run_bench

    out = run_bench(cfg)
    print()
    print((out / "bench.md").read_text())
    print(f"written: {out / 'bench.json'}, {out / 'bench.md'}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``babyworld`` command."""
    try:
        tyro.extras.subcommand_cli_from_dict(
            {"demo": demo, "parent-eval": parent_eval, "train": train, "bench": bench},
            prog="babyworld",
            description="babyworld: a frozen LLM parent raises a from-scratch baby.",
            args=argv,
        )
    except (ValueError, TypeError, OSError, CheckpointError) as e:
        print(f"babyworld: error: {e}", file=sys.stderr)
        raise SystemExit(2) from e
