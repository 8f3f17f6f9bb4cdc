"""With the real default parent: a second identical run reads every answer from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from babyworld.agents.checkpoint import load_checkpoint
from babyworld.parent.store_file import ENV_PATH

pytestmark = pytest.mark.llm


def _train(tmp_path, name: str) -> dict:
    """One small real-parent run in a fresh process (nothing in memory), on the test's store."""
    cmd = [sys.executable, "-c", "from babyworld.experiments.cli import main; main()", "train"]
    cmd += ["--level", "Point", "--parent", "smollm2", "--steps", "16", "--num-envs", "2"]
    cmd += ["--ppo.rollout-steps", "8", "--threads", "1", "--out", str(tmp_path / name)]
    cmd += ["--eval.episodes", "4", "--eval.num-envs", "4"]  # evaluated too, at a test's size
    env = {**os.environ, ENV_PATH: str(tmp_path / "answers.sqlite3")}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_a_second_identical_run_computes_no_parent_tokens(tmp_path):
    first = _train(tmp_path, "first")["parent_stats"]
    second = _train(tmp_path, "second")["parent_stats"]
    assert first["computed_tokens"] > 0 and first["store_hits"] == 0
    assert second["requests"] == first["requests"] > 0
    assert second["computed_tokens"] == second["calls"] == second["computed_requests"] == 0
    assert second["store_hits"] == second["requests"] - second["cache_hits"] > 0
    assert second["hit_rate"] == second["store_hit_rate"] == 1.0
    # The stored answers are the computed ones, bit for bit: the student learnt the same.
    a = load_checkpoint(tmp_path / "first" / "checkpoint.pt")["trainer"]["model"]
    b = load_checkpoint(tmp_path / "second" / "checkpoint.pt")["trainer"]["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
