"""A run directory between sessions: what ``train`` checks, repairs and clears before it goes on.

``babyworld train`` writes a run's files atomically, but a kill can still stop it anywhere: before
its config exists, before its first checkpoint, in the middle of a write (leaving a
``*.tmp`` file) or after a metrics row the checkpoint does not cover yet. The functions here say
what such a directory holds, read its config and metrics with clear errors, and clear what a
session starts again; :func:`load` rebuilds its student as a policy and :func:`export` writes it
out as a plain safetensors file.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.agents.checkpoint import (
    RUN_ONLY,
    CheckpointError,
    load_checkpoint,
    write_text_atomic,
)
from babyworld.agents.student import student_for
from babyworld.agents.trained import TrainedBaby
from babyworld.experiments.config import TrainConfig

CKPT, CONFIG, METRICS, CURVE, SUMMARY = (
    "checkpoint.pt",
    "config.json",
    "metrics.csv",
    "curve.png",
    "summary.json",
)
EVAL = "eval.csv"
RETENTION = "retention.csv"


def read_config(path: Path) -> TrainConfig:
    """The :class:`TrainConfig` saved in a run's ``config.json``.

    Raises:
        CheckpointError: the file is unreadable, not JSON, or not a valid config (named).
    """
    try:
        return TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError) as e:
        why = f"{type(e).__name__}: {e}"
    except ValueError as e:
        why = str(e)
    raise CheckpointError(
        f"{path} is damaged or edited ({why}); restore it (the checkpoint holds the run's config) "
        "or start a new run in another directory"
    )


def checked_metrics(
    path: Path, step: int, per_update: int, fields: tuple[str, ...]
) -> list[list[str]]:
    """The rows of ``metrics.csv`` up to a checkpoint's ``step``, checked before a resume.

    Rows after the checkpoint (produced again on resume) and a last line cut by a kill are
    dropped; everything up to the checkpoint's own row must be whole: one row per update, row
    ``k`` at step ``k * per_update``.

    Raises:
        CheckpointError: the file is missing, unreadable, or damaged before that row (named).
    """
    fix = (
        f"restore it from a copy, or start the run again in another directory (the checkpoint "
        f"is at step {step})"
    )
    try:
        lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # the last line is cut or ""
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} cannot be read ({type(e).__name__}: {e}); {fix}") from e
    if not lines or lines[0] != ",".join(fields):
        raise CheckpointError(f"{path} lacks its header {','.join(fields)}; {fix}")
    rows: list[list[str]] = []
    for number, line in enumerate(lines[1:], 2):
        row = line.split(",")
        if not _metrics_row_ok(row, len(fields)) or int(row[0]) != (number - 1) * per_update:
            raise CheckpointError(f"{path} is damaged at line {number} ({line[:80]!r}); {fix}")
        rows.append(row)
        if int(row[0]) >= step:
            break
    if not rows or int(rows[-1][0]) != step:
        last = rows[-1][0] if rows else "no row"
        raise CheckpointError(f"{path} ends at step {last}, not at the checkpoint's; {fix}")
    return rows


def _metrics_row_ok(row: list[str], n: int) -> bool:
    if len(row) != n:
        return False
    try:
        ints = [int(row[0]), int(row[2])]
        floats = [float(v) for v in (row[1], *row[3:])]
    except ValueError:
        return False
    return min(ints) >= 0 and np.isfinite(floats[0])


def write_metrics(path: Path, rows: list[list[str]], fields: tuple[str, ...]) -> None:
    """Rewrite ``metrics.csv`` with its header ``fields`` and ``rows`` (if that changes it)."""
    text = "".join(",".join(r) + "\n" for r in [list(fields), *rows])
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(text, path)


#: Files ``train()`` writes in a run directory (``*.tmp``: an atomic write a kill interrupted).
TRAIN_FILES = re.compile(
    r"^(config\.json|metrics\.csv|eval\.csv|retention\.csv|retention\.png|curve\.png|summary\.json|"
    r"checkpoint\.pt|"
    r"transcripts\.jsonl|checkpoint_words_[0-9]+\.pt|events\.out\.tfevents\..*|.*\.tmp)$"
)
_STALE = re.compile(r"^(checkpoint\.pt|config\.json|metrics\.csv|summary\.json)\..+\.tmp$")


def resolve_resume(cli: TrainConfig) -> TrainConfig:
    """The config of a resumed run: the saved one, with ``--steps`` from the command line.

    Raises:
        FileNotFoundError: the directory or its config is missing.
        ValueError: a flag given on the command line contradicts the saved config.
    """
    run = Path(cli.resume)  # type: ignore[arg-type]
    if not (run / CONFIG).is_file():
        if run.is_dir() and only_stale(run):
            raise FileNotFoundError(
                f"cannot resume: {run} holds no {CONFIG}, so the run was stopped before it began; "
                f"start it again in place with babyworld train --out {run} and its flags"
            )
        raise FileNotFoundError(f"cannot resume: {run / CONFIG} does not exist")
    saved = read_config(run / CONFIG)
    defaults = TrainConfig()
    clashes = [
        f"--{f.name.replace('_', '-')} {getattr(cli, f.name)!r} (run has {getattr(saved, f.name)!r})"
        for f in dataclasses.fields(TrainConfig)
        if f.name not in RUN_ONLY
        and getattr(cli, f.name) != getattr(defaults, f.name)
        and getattr(cli, f.name) != getattr(saved, f.name)
    ]
    if clashes:
        raise ValueError(
            f"run {run} was made with another config: {'; '.join(clashes)}. Drop those flags to "
            "continue it, or start a new run without --resume"
        )
    steps = cli.steps if cli.steps is not None else saved.steps
    return dataclasses.replace(
        saved, steps=steps, resume=run, out=run, ray=cli.ray, workers=cli.workers
    )


def run_dir_for(cfg: TrainConfig) -> Path:
    """``runs/{level}__{mode}__{seed}__{time}`` unless ``--out`` says otherwise."""
    if cfg.out is not None:
        return Path(cfg.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.run_level}__{cfg.mode}__{cfg.seed}__{stamp}"


def only_train_files(run: Path) -> bool:
    """Whether ``run`` is a directory holding nothing but files ``train()`` writes."""
    return run.is_dir() and all(TRAIN_FILES.match(p.name) for p in run.iterdir())


def only_stale(run: Path) -> bool:
    """Whether ``run`` holds nothing but temporary files of interrupted atomic writes."""
    return all(_STALE.match(p.name) for p in run.iterdir())


def exists_message(run: Path) -> str:
    """Why a new run cannot use ``run``, and what to do instead."""
    early = (run / CONFIG).is_file() and not (run / CKPT).exists() and only_train_files(run)
    what = (
        f"{run} holds a run stopped before its first checkpoint"
        if early
        else f"{run} already exists"
    )
    todo = "start it again from step 0 in place" if early else "continue it"
    return (
        f"{what}; babyworld never overwrites a run. Use --resume {run} to {todo}, or choose "
        "another --out"
    )


def remove_stale(run: Path, restart: bool = False) -> None:
    """Remove the temporary files a killed session left in ``run``.

    With ``restart`` (a run stopped before its first checkpoint, started again in place), its
    metrics, summary, curve and events go too: they are produced again from step 0.
    """
    for p in run.iterdir():
        redo = restart and TRAIN_FILES.match(p.name) and p.name not in (CONFIG, CKPT)
        if _STALE.match(p.name) or redo:
            p.unlink(missing_ok=True)


def remove_run(run: Path) -> None:
    """Remove a run directory that holds no checkpoint (only files ``train()`` writes)."""
    if (run / CKPT).exists() or not only_train_files(run):
        return
    for p in run.iterdir():
        p.unlink(missing_ok=True)
    run.rmdir()


__all__ = [
    "CKPT",
    "CONFIG",
    "CURVE",
    "METRICS",
    "SUMMARY",
    "TRAIN_FILES",
    "checked_metrics",
    "exists_message",
    "only_stale",
    "only_train_files",
    "read_config",
    "remove_run",
    "remove_stale",
    "write_metrics",
]


# ------------------------------------------------------------------ the run's student
EXPORTED = "model.safetensors"
_EXPORT_FORMAT = "babyworld-student 1"


def export(run: str | Path, out: str | Path) -> Path:
    """Write the student of ``run`` to ``out``: ``model.safetensors`` and ``config.json``.

    The weights are a plain safetensors file (any framework reads it); its metadata holds the
    level, the env steps and updates it was trained for. :func:`load` reads the directory as it
    reads a run. ``out`` must not exist or be empty: nothing is overwritten.

    Raises:
        FileExistsError: ``out`` holds files.
        FileNotFoundError, CheckpointError: as :func:`load`.
    """
    from safetensors.torch import save_file

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty directory; export to a new one")
    baby = load(run)
    weights = {k: v.detach().contiguous().clone() for k, v in baby.model.state_dict().items()}
    meta = {
        "format": _EXPORT_FORMAT,
        "level": baby.level,
        "step": str(baby.step),
        "updates": str(baby.updates),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / EXPORTED), metadata=meta)
    write_text_atomic(json.dumps(baby.config.to_dict(), indent=1) + "\n", out / "config.json")
    return out


def _read_export(path: Path) -> dict[str, Any]:
    """The trainer-state view of an exported student: ``model``, ``updates``, ``global_step``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        model = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is damaged ({e}); export the run again") from e
    if meta.get("format") != _EXPORT_FORMAT:
        raise CheckpointError(f"{path} is not a babyworld student ({meta.get('format')!r})")
    return {"model": model, "updates": int(meta["updates"]), "global_step": int(meta["step"])}


def load(run: str | Path) -> TrainedBaby:
    """The student of a training run directory (``babyworld train --out RUN``) as a policy.

    An exported directory (:func:`export`) loads the same way.

    Raises:
        FileNotFoundError: ``run`` is not a run directory (no ``config.json``).
        CheckpointError: its checkpoint is missing, damaged or not babyworld's.
    """
    from babyworld.vector import make_envs

    run = Path(run)
    if not (run / "config.json").is_file():
        raise FileNotFoundError(
            f"{run} is not a babyworld run directory (no config.json); pass the --out directory "
            "of `babyworld train`"
        )
    saved = json.loads((run / "config.json").read_text())
    cfg = TrainConfig.from_dict(TrainConfig.with_defaults(saved))
    if (run / EXPORTED).is_file() and not (run / "checkpoint.pt").exists():
        trainer = _read_export(run / EXPORTED)
    else:
        trainer = load_checkpoint(run / "checkpoint.pt")["trainer"]
    if "model" not in trainer:
        raise CheckpointError(f"{run / 'checkpoint.pt'} holds no student")
    envs = make_envs(cfg.envs_level, 1, "scripted")  # the level's spaces; no parent is asked
    try:
        space = envs.level_info.observation_space
        model = student_for(cfg.student, envs.level_info)
    finally:
        envs.close()
    model.load_state_dict(trainer["model"])
    return TrainedBaby(
        model, cfg.envs_level, space, cfg, int(trainer["updates"]), int(trainer["global_step"])
    )
