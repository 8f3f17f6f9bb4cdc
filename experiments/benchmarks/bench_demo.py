"""The ``demo`` section of ``babyworld bench``: ``make demo``'s first update, cold, in a new process.

``make demo`` ends with its main job, ``babyworld train --level Point --parent smollm2 --steps
40960 --env.reward-source parent --num-envs 64 --ppo.rollout-steps 8``. What a new user waits for first is that job's first update
(64 envs x 8 steps = 512 env steps): Python's imports, building the parent from its converted
cache, and the parent's cold phase on Point's frames. This section runs exactly that job for one
update in a fresh process whose answer store is a new, empty file (``BABYWORLD_STORE`` in a
temporary directory), so nothing a previous run stored is read, and times it from process start.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: ``make demo``'s main job without ``--steps`` and ``--parent`` (the Makefile's ``demo`` target;
#: 64 envs so that the parent answers 64 requests per batch, 8-step rollouts so that an update
#: still takes 512 env steps)
DEMO_JOB: tuple[str, ...] = (
    "train",
    "--level",
    "Point",
    "--env.reward-source",
    "parent",
    "--num-envs",
    "64",
    "--ppo.rollout-steps",
    "8",
)
#: one update of the demo's trainer: 64 envs x 8-step rollouts
FIRST_UPDATE_STEPS = 512


def demo_first_update(parent: str, threads: int, steps: int = FIRST_UPDATE_STEPS) -> dict[str, Any]:
    """Run ``make demo``'s main job for ``steps`` env steps in a fresh process, answer store empty.

    Args:
        parent: the parent spec (``make demo`` uses the default parent).
        threads: ``--threads`` of the job (0: the trainer's default).
        steps: env steps to train (512: the first update).

    Returns:
        ``first_update_wall_s`` (process start to the first ``metrics.csv`` row: imports, the
        parent's load, the first update; polled every 50 ms), ``wall_s`` (process start to exit:
        also the run's final evaluation on held-out episodes and writing the run),
        ``first_update_s`` (the run's own clock at its first update), ``steps``,
        ``parent_requests`` and ``computed_tokens`` (``summary.json`` ``parent_stats``).

    Raises:
        RuntimeError: the job failed (its stderr's end is in the message).
    """
    with tempfile.TemporaryDirectory(prefix="babyworld-demo-") as tmp:
        run = Path(tmp) / "run"
        env = dict(os.environ, BABYWORLD_STORE=str(Path(tmp) / "answers.sqlite3"))
        cmd = [
            sys.executable,
            "-c",
            "import sys; from babyworld.experiments.cli import main; main(sys.argv[1:])",
            *DEMO_JOB,
            "--parent",
            parent,
            "--steps",
            str(steps),
            "--threads",
            str(threads),
            "--out",
            str(run),
        ]
        started = time.perf_counter()
        first_row = None
        with subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        ) as job:
            while first_row is None and job.poll() is None:
                if _has_data_row(run / "metrics.csv"):
                    first_row = time.perf_counter() - started
                else:
                    time.sleep(0.05)
            _, stderr = job.communicate()
        wall = time.perf_counter() - started
        if job.returncode != 0:
            raise RuntimeError(f"make demo's main job failed:\n{stderr[-2000:]}")
        with (run / "metrics.csv").open(newline="") as f:
            first = next(csv.DictReader(f))
        stats = json.loads((run / "summary.json").read_text())["parent_stats"]
    return {
        "first_update_wall_s": wall if first_row is None else first_row,
        "wall_s": wall,
        "first_update_s": float(first["seconds"]),
        "steps": int(first["step"]),
        "parent_requests": int(stats["requests"]),
        "computed_tokens": stats.get("computed_tokens"),
    }


def _has_data_row(path: Path) -> bool:
    """Whether ``metrics.csv`` holds a complete row after its header (the first update's)."""
    try:
        return path.read_text(encoding="utf-8").count("\n") >= 2
    except (FileNotFoundError, UnicodeDecodeError):
        return False
