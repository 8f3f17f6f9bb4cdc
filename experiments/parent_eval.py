"""``babyworld parent-eval``: a parent's accuracy as a judge, per probe kind or in the env."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from babyworld.agents.checkpoint import write_text_atomic
from babyworld.envs.chat import ChatEnv
from babyworld.parent import make_parent
from babyworld.parent.fidelity import check_measures, measure_fidelity
from babyworld.parent.judge_eval import evaluate_judge, judge_agreement
from babyworld.parent.probes import evaluate


def run_judge_eval(
    spec: str,
    levels: Sequence[str],
    situations: int,
    seed: int,
    out: Path | None,
    chat: dict | None = None,
) -> list[dict]:
    """Load the parent, measure its judge in the env on each level, print a table.

    ``chat`` holds Chat's env arguments (e.g. ``{"distractors": 7}``); it needs Chat in ``levels``.
    """
    if situations < 1:
        raise ValueError(f"--situations must be a positive integer, got {situations}")
    if chat and "Chat" not in levels:
        raise ValueError("--distractors sets Chat's judge: add Chat to --levels")
    if chat:
        ChatEnv("scripted", **chat)  # checks the settings before the parent loads
    t0 = time.perf_counter()
    parent = make_parent(spec)
    load = time.perf_counter() - t0
    reports = [
        evaluate_judge(
            parent, level, situations, seed, env_kwargs=chat if level == "Chat" else None
        ).as_dict()
        for level in levels
    ]
    label = parent.label + (" — template parent, no LLM" if parent.scripted else "")
    table = Table(title=f"parent-eval --in-env: {label} (loaded in {load:.1f} s)")
    cols = ("level", "situations", "top-1", "AUC", "reward right", "reward wrong", "other attr")
    chat = ("verdict = ref", "precision", "recall", "accepted (ref)", "echoes accepted (ref)")
    for col in (*cols, *chat, "seconds"):
        table.add_column(col, justify="left" if col == "level" else "right")

    def show(x: float | None, fmt: str = ".2f") -> str:
        return "" if x is None else format(x, fmt)

    for r in reports:
        table.add_row(
            r["level"],
            str(r["situations"]),
            f"{r['top1']:.3f}",
            f"{r['auc']:.3f}",
            f"{r['right_reward']:+.2f}",
            f"{r['wrong_reward']:+.2f}",
            show(r["other_attribute_mass"]),
            show(r["verdict_agreement"], ".3f"),
            show(r["precision"]),
            show(r["recall"]),
            "" if r["accepted"] is None else f"{r['accepted']:.2f} ({r['reference_accepted']:.2f})",
            ""
            if r["echo_accepted"] is None
            else f"{r['echo_accepted']:.2f} ({r['echo_reference_accepted']:.2f}) of {r['echoes']}",
            f"{r['seconds']:.0f}",
        )
    Console().print(table)
    if out is not None:
        write_text_atomic(json.dumps(reports, indent=2) + "\n", out)
    return reports


def run_fidelity(
    spec: str,
    levels: Sequence[str],
    situations: int,
    seed: int,
    out: Path | None,
    measures: Sequence[str] = (),
) -> list[dict]:
    """Load the parent, measure the fidelity of its words on each level, print a table."""
    if situations < 1:
        raise ValueError(f"--situations must be a positive integer, got {situations}")
    check_measures(tuple(levels), tuple(measures))
    parent = make_parent(spec)
    reports = [measure_fidelity(parent, level, situations, seed).as_dict() for level in levels]
    label = parent.label + (" — template parent, no LLM" if parent.scripted else "")
    table = Table(title=f"parent-eval --fidelity: {label}")
    for col in ("level", "measure", "share", "situations"):
        table.add_column(col, justify="left" if col in ("level", "measure") else "right")
    for r in reports:
        for m, v in r["measures"].items():
            if not measures or m in measures:
                table.add_row(r["level"], m, f"{v:.3f}", str(r["situations"]))
        for kind, d in r["diversity"].items():
            table.add_row(
                r["level"],
                f"distinct {kind} (top share)",
                f"{d['distinct']} ({d['top_share']:.2f})",
                str(r["situations"]),
            )
    Console().print(table)
    if out is not None:
        write_text_atomic(json.dumps(reports, indent=2) + "\n", out)
    return reports


def run_agreement(
    spec: str,
    against: str,
    levels: Sequence[str],
    situations: int,
    seed: int,
    out: Path | None,
) -> list[dict]:
    """Judge the same env situations with ``spec`` and the reference ``against``; print a table.

    The reference is loaded as given (say ``smollm2?dtype=float32`` for the torch fp32
    reference). Returns one :class:`~babyworld.parent.judge_eval.Agreement` dict per level.
    """
    if situations < 1:
        raise ValueError(f"--situations must be a positive integer, got {situations}")
    parent, reference = make_parent(spec), make_parent(against)
    rows = [
        judge_agreement(parent, reference, level, situations, seed).as_dict() for level in levels
    ]
    table = Table(title=f"parent-eval --in-env --against: {parent.label} vs {reference.label}")
    cols = ("level", "items", "agreement", "same frames", "top-1", "reference top-1")
    for col in cols:
        table.add_column(col, justify="left" if col == "level" else "right")
    for r in rows:
        table.add_row(
            r["level"],
            str(r["items"]),
            f"{r['agreement']:.3f}",
            f"{r['same_frames']:.3f}",
            f"{r['top1']:.3f}",
            f"{r['reference_top1']:.3f}",
        )
    items = sum(r["items"] for r in rows)
    pooled = sum(r["agreement"] * r["items"] for r in rows) / items
    Console().print(table)
    Console().print(f"pooled agreement over {items} items: {pooled:.4f}")
    if out is not None:
        write_text_atomic(json.dumps(rows, indent=2) + "\n", out)
    return rows


def run_parent_eval(spec: str, out: Path | None = None) -> None:
    """Load the parent, run the probe set and print a table."""
    t0 = time.perf_counter()
    parent = make_parent(spec)
    load = time.perf_counter() - t0
    results = evaluate(parent)
    label = parent.label + (" — template parent, no LLM" if parent.scripted else "")
    table = Table(title=f"parent-eval: {label} (loaded in {load:.1f} s)")
    for col in ("probe kind", "items", "correct", "accuracy", "chance", "seconds"):
        table.add_column(col, justify="left" if col == "probe kind" else "right")
    for r in results:
        table.add_row(
            r.kind,
            str(r.items),
            str(r.correct),
            f"{r.accuracy:.0%}",
            f"{r.chance:.0%}",
            f"{r.seconds:.1f}",
        )
    Console().print(table)
    if out is not None:
        rows = [{"kind": r.kind, "items": r.items, "correct": r.correct} for r in results]
        write_text_atomic(json.dumps(rows, indent=2) + "\n", out)
