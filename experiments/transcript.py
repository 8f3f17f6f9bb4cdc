"""``babyworld transcript RUN``: print the dialogues a run sampled into ``transcripts.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from babyworld.experiments.language_log import TRANSCRIPTS
from babyworld.experiments.rundir import CONFIG


def load_transcripts(run: Path, stage: str | None = None, last: int | None = None) -> list[dict]:
    """The dialogues of ``run`` (optionally of one stage, the last ``last``), oldest first.

    Raises:
        FileNotFoundError: ``run`` is not a run directory, or holds no transcripts.
        ValueError: ``stage`` is not a stage of the run's transcripts (the stages are named), or
            ``last`` < 1, or a line of the file is damaged.
    """
    run = Path(run)
    if last is not None and last < 1:
        raise ValueError(f"--last must be >= 1, got {last}")
    if not run.is_dir() or not (run / CONFIG).is_file():
        what = "does not exist" if not run.exists() else f"is not a run directory (no {CONFIG})"
        raise FileNotFoundError(
            f"{run} {what}; pass a directory written by babyworld train, e.g. runs/Name__baby__0__..."
        )
    path = run / TRANSCRIPTS
    if not path.is_file():
        raise FileNotFoundError(
            f"run {run} has no transcripts ({TRANSCRIPTS}): it was trained before transcripts "
            "existed, with --lang.dialogues 0, or stopped before its first --lang.every updates; "
            "train a run (or --resume this one) to record some"
        )
    records: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is damaged at line {number} ({e.msg})") from e
    if stage is not None:
        stages = sorted({r["stage"] for r in records})
        if stage not in stages:
            raise ValueError(
                f"run {run} has no transcripts of stage {stage!r}; its stages: "
                f"{', '.join(stages) or '(none yet)'}"
            )
        records = [r for r in records if r["stage"] == stage]
    return records[-last:] if last is not None else records


def print_transcripts(records: list[dict[str, Any]]) -> None:
    """Print dialogues readably (rich): the parent's words, the baby's, its rewards, success."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not records:
        console.print("no dialogues recorded yet")
    for r in records:
        table = Table(
            title=f"{r['stage']}  ·  update {r['update']}  ·  step {r['step']}  ·  "
            f"success {r['success']:.2f}",
            show_lines=True,
            title_justify="left",
        )
        table.add_column("parent")
        table.add_column("baby")
        table.add_column("understood / right")
        table.add_column("rewards")
        before = ""  # the parent's reaction to the previous turn, said before its next request
        for t in r["turns"]:
            mark = "[green]✓[/]" if t["success"] else "[red]✗[/]"
            comps = " ".join(f"{k[:4]} {v:+.2f}" for k, v in t["rewards"].items())
            table.add_row(
                f"{before} {t['parent']}".strip(),
                f"[bold]{t['baby'] or '(nothing)'}[/] {mark}",
                f"{t['understood']} / {t['target']}",
                comps,
            )
            before = t["reaction"]
        if r["turns"]:
            table.add_row(r["turns"][-1]["reaction"], "", "", "")
        console.print(table)
