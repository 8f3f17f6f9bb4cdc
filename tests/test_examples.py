"""Every script in examples/ runs as a user would run it, at a tiny size, with the scripted parent.

(``custom_parent.py`` loads a tiny randomly initialised causal LM saved to a local directory.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``examples/<name>`` in a fresh interpreter; returns stdout, fails on any warning."""
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # show every warning, once per place
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Warning" not in out.stderr, out.stderr
    return out.stdout


def test_every_example_is_tested():
    tested = {"sb3_maskable_ppo.py", "cleanrl_ppo.py", "custom_parent.py", "reward_weights.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_sb3_maskable_ppo(tmp_path):
    out = run_example(
        "sb3_maskable_ppo.py",
        *("--parent", "scripted", "--steps", "256", "--n-envs", "2", "--eval-exchanges", "8"),
        cwd=tmp_path,
    )
    assert "babyworld/Point-v0 parent=scripted steps=256" in out
    rate = float(out.split("greedy success over 8 exchanges:")[1])
    assert 0.0 <= rate <= 1.0


@pytest.mark.parametrize("env_id", ["babyworld/Point-v0", "babyworld/Request-v0"])
def test_cleanrl_ppo_on_the_native_vector_env(tmp_path, env_id):
    out = run_example(
        "cleanrl_ppo.py",
        *("--env-id", env_id, "--parent", "scripted", "--total-timesteps", "256"),
        *("--num-envs", "2", "--num-steps", "64", "--log-dir", str(tmp_path / "runs")),
        cwd=tmp_path,
    )
    lines = [ln for ln in out.splitlines() if ln.startswith("iteration")]
    assert [ln.split()[1] for ln in lines] == ["1/2", "2/2"]
    assert "step 256 success" in lines[-1]
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith(env_id.split("/")[1] + "__cleanrl_ppo__0__")
    assert any(run.glob("events.out.tfevents.*"))


def test_custom_parent_from_a_local_directory(tmp_path):
    from babyworld.experiments.benchmarks.measure import tiny_parent

    tiny = tiny_parent()
    model_dir = tmp_path / "tiny-llm"
    tiny.model.save_pretrained(model_dir)
    tiny.tokenizer.save_pretrained(model_dir)
    out = run_example(
        "custom_parent.py",
        *("--model-dir", str(model_dir), "--dtype", "float32", "--show", "2"),
        *("--judge-steps", "4"),
        cwd=tmp_path,
    )
    assert f"parent {model_dir} loaded" in out
    assert out.count("baby:   sym") == 2
    assert "judge top-1:" in out and "over 4 acts (chance 0.333)" in out


def test_reward_weights_ablation_prints_one_row_per_weighting(tmp_path):
    out = run_example(
        "reward_weights.py",
        *("--parent", "scripted", "--steps", "128", "--eval-exchanges", "4"),
        cwd=tmp_path,
    )
    rows = out.splitlines()[2:]
    assert [r.split("  ")[0].strip() for r in rows] == [
        "default",
        "task only",
        "without task",
        "consistency only",
    ]
    assert "consistency=1" in rows[-1]
