"""``babyworld parent-eval``: a parent's accuracy as a judge, per probe kind."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from babyworld.parent import make_parent
from babyworld.probes import evaluate


def run_parent_eval(spec: str) -> None:
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
