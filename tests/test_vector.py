"""The native batched vector env agrees with Gymnasium's SyncVectorEnv and batches parent calls."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import babyworld
from babyworld.parent import make_parent
from babyworld.vector.local import ParentBatchVectorEnv

SAME_STEP = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}


def _assert_tree_equal(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            _assert_tree_equal(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert a.shape == b.shape, path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_tree_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    else:
        assert a == b, path


@pytest.mark.parametrize("level", list(babyworld.LEVELS))
def test_native_vector_env_equals_sync_vector_env(level):
    parent = make_parent("scripted", shared=False)
    native = gym.make_vec(babyworld.env_id(level), num_envs=5, parent=parent, exchanges=3)
    sync = gym.make_vec(
        babyworld.env_id(level),
        num_envs=5,
        vectorization_mode="sync",
        vector_kwargs=SAME_STEP,
        parent=parent,
        exchanges=3,
    )
    assert isinstance(native, ParentBatchVectorEnv)
    o1, i1 = native.reset(seed=7)
    o2, i2 = sync.reset(seed=7)
    _assert_tree_equal(o1, o2)
    _assert_tree_equal(i1, i2)
    rng = np.random.default_rng(0)
    for _ in range(40):
        masks = native.action_masks()
        assert np.array_equal(masks, np.stack(sync.call("action_masks")))
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        r1, r2 = native.step(actions), sync.step(actions)
        for x, y in zip(r1, r2, strict=True):
            _assert_tree_equal(x, y)


def test_one_parent_call_per_phase():
    parent = make_parent("scripted", shared=False)
    env = ParentBatchVectorEnv(babyworld.PointEnv, 8, parent, exchanges=2)
    env.reset(seed=0)
    assert parent.stats.calls == 1 and parent.stats.requests == 8
    env.step(np.zeros(8, dtype=np.int64))  # no episode ends: one generate, one score call
    # scored: every env's 3 acts x (context, neutral) = 48; said: 8 reactions + 8 requests
    assert parent.stats.calls <= 3 and parent.stats.requests == 8 + 48 + 16
    calls = parent.stats.calls
    env.step(np.zeros(8, dtype=np.int64))  # every episode ends: + one batched reset call
    assert parent.stats.calls <= calls + 3


def test_vector_reward_and_bad_input():
    env = ParentBatchVectorEnv(babyworld.NameEnv, 3, "scripted", vector_reward=True)
    env.reset(seed=1)
    _, rewards, _, _, infos = env.step(np.array([0, 1, 2]))
    assert rewards.shape == (3, 5)
    np.testing.assert_array_equal(rewards, np.stack(infos["reward_vector"]).astype(np.float64))
    with pytest.raises(ValueError, match=r"actions must have shape \(3,\)"):
        env.step(np.array([0, 1]))
    before = [e.state_dict()["episode"]["_exchange"] for e in env.envs]
    with pytest.raises(babyworld.InvalidActionError):
        env.step(np.array([0, 1, 99]))
    assert [e.state_dict()["episode"]["_exchange"] for e in env.envs] == before
    with pytest.raises(ValueError, match=r"num_envs must be an integer in \[1, 4096\]"):
        ParentBatchVectorEnv(babyworld.PointEnv, 0, "scripted")


def test_reset_accepts_int_like_and_list_seeds():
    env = ParentBatchVectorEnv(babyworld.PointEnv, 2, "scripted")
    a, _ = env.reset(seed=np.int64(4))
    b, _ = env.reset(seed=[4, 5])
    np.testing.assert_array_equal(a["percept"], b["percept"])
    with pytest.raises(ValueError, match="got 1 seeds for 2 envs"):
        env.reset(seed=[1])
