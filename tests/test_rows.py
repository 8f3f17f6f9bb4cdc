"""The array code over N envs equals the per-env code it replaces (estimators, judge, history)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from babyworld.agents.history import HistoryBuffer
from babyworld.envs.infos import batch_infos
from babyworld.envs.point import PointEnv
from babyworld.rewards import AdaptiveCode, TokenPredictor, components, rows
from babyworld.vector.local import ParentBatchVectorEnv


def test_sum_rows_by_hand_and_in_numpys_order():
    x = np.array([[1.0, 2.0, 3.0, 0.0], [0.5, 0.25, 9.0, 9.0], [7.0, 7.0, 7.0, 7.0]])
    assert rows.sum_rows(x, np.array([3, 2, 0])).tolist() == [6.0, 0.75, 0.0]
    # NumPy's order (8 partial sums, then the rest) differs from left to right: the same bits
    rng = np.random.default_rng(0)
    x = rng.random((3000, 40)) * rng.choice([1e-3, 1.0, 1e3], size=(3000, 1))
    n = rng.integers(0, 41, 3000)
    got = rows.sum_rows(x, n)
    want = np.array([x[i, : n[i]].sum() for i in range(len(n))])
    assert np.array_equal(got, want)
    left_to_right = np.array([sum(x[i, : n[i]].tolist()) for i in range(len(n))])
    assert not np.array_equal(left_to_right, want)  # so the test above can fail
    long = rng.random((4, 300))
    assert np.array_equal(
        rows.sum_rows(long, np.array([300, 129, 128, 7])),
        [long[0].sum(), long[1, :129].sum(), long[2, :128].sum(), long[3, :7].sum()],
    )
    with pytest.raises(ValueError, match="lengths must be 2 ints in"):
        rows.sum_rows(np.zeros((2, 3)), np.array([1, 4]))


def test_token_surprisal_and_predictability_rows_equal_the_estimator():
    # hand: V = 4, counts of context 0 = [0, 2, 1, 0] (3 in all): q(1) = 1/2 * 3/7 + 1/8
    counts = np.array([[0, 2, 1, 0]])
    bits = rows.token_surprisal_rows(counts, np.array([[1, 0]]))
    assert bits[0, 0] == pytest.approx(-math.log2(0.5 * 3 / 7 + 0.125))
    assert bits[0, 1] == pytest.approx(-math.log2(0.5 * 1 / 7 + 0.125))
    assert rows.predictability_rows(bits, np.array([1]), 3.0)[0] == pytest.approx(-bits[0, 0] / 3)
    assert rows.predictability_rows(bits, np.array([0]), 3.0)[0] == 0.0
    rng = np.random.default_rng(1)
    preds = [TokenPredictor(16, 3) for _ in range(20)]
    for p in preds:
        for _ in range(5):
            p.update(int(rng.integers(3)), rng.integers(16, size=int(rng.integers(0, 12))))
    ctx = rng.integers(3, size=20)
    lens = rng.integers(0, 12, size=20)
    ids = rng.integers(16, size=(20, 12))
    got_bits = rows.token_surprisal_rows(
        np.stack([p.counts[c] for p, c in zip(preds, ctx, strict=True)]), ids
    )
    got = rows.predictability_rows(got_bits, lens, preds[0].max_bits)
    for i, p in enumerate(preds):
        s = p.surprisal(int(ctx[i]), ids[i, : lens[i]])
        assert np.array_equal(got_bits[i, : lens[i]], s)
        assert got[i] == components.predictability(s, p.max_bits)


def test_code_bits_and_count_rows_equal_the_adaptive_code():
    # hand: K = 4, counts [2, 1, 0, 0] (3 in all): q(0) = 1/2 * 2.5 / 5 + 1/8 = 0.375
    assert rows.code_bits_rows(np.array([[2, 1, 0, 0]]), np.array([0]))[0] == -math.log2(0.375)
    rng = np.random.default_rng(2)
    codes = [AdaptiveCode(5) for _ in range(10)]
    for c in codes:
        c.update(rng.integers(5, size=int(rng.integers(0, 9))))
    words = rng.integers(5, size=10)
    got = rows.code_bits_rows(np.stack([c.counts for c in codes]), words)
    assert [float(g) for g in got] == [
        c.code_length([int(w)]) for c, w in zip(codes, words, strict=True)
    ]
    counts = np.zeros((2, 3, 4), dtype=np.int64)
    rows.count_rows(counts, np.array([0, 0, 1]), (np.array([2, 2, 0]), np.array([1, 1, 3])))
    assert counts[0, 2, 1] == 2 and counts[1, 0, 3] == 1 and counts.sum() == 3


def test_pmi_pairs_equals_pmi():
    c = [np.array([-1.0, -2.0]), np.array([-0.5]), np.array([-3.0, -1.0, -0.25])]
    n = [np.array([-2.0, -2.0]), np.array([-1.5]), np.array([-1.0, -1.0, -1.0])]
    got = components.pmi_pairs([x for pair in zip(c, n, strict=True) for x in pair])
    assert got.tolist() == [0.5, 1.0, (-2.0 + 0.0 + 0.75) / 3]
    assert got.tolist() == [components.pmi(a, b) for a, b in zip(c, n, strict=True)]
    with pytest.raises(ValueError, match="equal non-empty"):
        components.pmi_pairs([np.array([1.0]), np.array([1.0, 2.0])])
    with pytest.raises(ValueError, match="pairs"):
        components.pmi_pairs([np.array([1.0])])


def test_vector_env_estimators_are_rows_of_one_array_and_survive_a_state_load():
    vec = ParentBatchVectorEnv(PointEnv, 3, parent="scripted")
    vec.reset(seed=0)
    for _ in range(6):
        vec.step(np.zeros(3, dtype=np.int64))
    e = vec.envs[1]
    assert np.shares_memory(e.predictor.counts, vec._pred_counts)
    assert np.array_equal(vec._pred_counts[1], e.predictor.counts) and e.code.counts.sum() == 6
    state = e.state_dict()
    e.predictor.reset()
    e.load_state_dict(state)  # restored in place: still the vector env's row
    assert np.shares_memory(e.predictor.counts, vec._pred_counts)
    assert np.array_equal(vec._pred_counts[1], state["predictor"]["counts"])


def test_batch_infos_fast_path_for_envs_with_the_same_keys():
    items = [(i, {"t": f"s{i}", "n": i, "v": np.full(2, i), "d": {"a": i * 0.5}}) for i in range(3)]
    out = batch_infos(items, 3)
    assert out["t"].tolist() == ["s0", "s1", "s2"] and type(out["t"][0]) is str
    assert out["n"].tolist() == [0, 1, 2] and out["v"].tolist() == [[0, 0], [1, 1], [2, 2]]
    assert out["d"]["a"].tolist() == [0.0, 0.5, 1.0] and out["_d"].all()


def test_history_rows_equal_per_env_pushes():
    obs = {
        "heard": np.arange(12).reshape(3, 4),
        "heard_len": np.array([4, 2, 0]),
        "percept": np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2),
    }
    a, b = HistoryBuffer(3, 3, 4, 2, n_actions=5), HistoryBuffer(3, 3, 4, 2, n_actions=5)
    a.start_rows(np.ones(3, dtype=bool), obs)
    for i in range(3):
        b.start(i, {k: v[i] for k, v in obs.items()})
    for step in range(4):
        obs = {k: v + 1 for k, v in obs.items()}
        keep = np.array([True, step % 2 == 0, False])
        act = np.array([1, 2, 3]) + step
        a.push_rows(keep, obs, act)
        for i in np.flatnonzero(keep):
            b.push(int(i), {k: v[i] for k, v in obs.items()}, int(act[i]))
    a.start_rows(np.array([1]), obs)
    b.start(1, {k: v[1] for k, v in obs.items()})
    for x, y in zip(a.w.as_tuple(), b.w.as_tuple(), strict=True):
        assert torch.equal(x, y)
    assert a.w.prev_action[0].tolist() == [2, 3, 4] and a.w.valid[1].tolist() == [0, 0, 1]
