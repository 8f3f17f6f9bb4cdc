"""Unit tests of the reward components, their estimators and the reward vector."""

import math

import numpy as np
import pytest

from babyworld.rewards import (
    DEFAULT_WEIGHTS,
    REWARD_NAMES,
    AdaptiveCode,
    SuccessTracker,
    TokenPredictor,
    combine,
    components,
    resolve_weights,
    reward_bounds,
    reward_vector,
)

# --------------------------------------------------------------------------- task


def test_task_is_one_on_success_zero_otherwise():
    assert components.task(True) == 1.0
    assert components.task(False) == 0.0
    assert type(components.task(True)) is float
    assert type(components.task(False)) is float


# --------------------------------------------------------------------------- consistency


def test_pmi_hand_computed():
    # diffs: -1 - (-2) = 1, -0.5 - (-2.5) = 2 -> mean 1.5
    r = components.pmi(np.array([-1.0, -0.5]), np.array([-2.0, -2.5]))
    assert r == pytest.approx(1.5, abs=1e-12)
    assert type(r) is float
    # diffs: 1, 1, -5 -> mean -1 (per token, so the length does not matter)
    assert components.pmi([-1.0, -1.0, -6.0], [-2.0, -2.0, -1.0]) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("lc", "ln"),
    [
        ([-1.0, -2.0], [-1.0]),  # different lengths
        ([], []),  # empty
        ([[-1.0, -2.0]], [[-1.0, -2.0]]),  # not 1-D
    ],
)
def test_pmi_rejects_bad_shapes(lc, ln):
    with pytest.raises(ValueError, match=r"need two equal non-empty 1-D arrays, got"):
        components.pmi(lc, ln)


def test_consistency_hand_computed_relative_judgement():
    # j = [ln 3, 0, 0], T = 1 -> pi = [3/5, 1/5, 1/5]; K = 3
    j = np.array([np.log(3.0), 0.0, 0.0])
    # act 0: (3/5 - 1/3) / (2/3) = (4/15) / (2/3) = 0.4
    assert components.consistency(j, 0) == pytest.approx(0.4, abs=1e-12)
    # act 1: (1/5 - 1/3) / (2/3) = (-2/15) / (2/3) = -0.2
    assert components.consistency(j, 1) == pytest.approx(-0.2, abs=1e-12)
    # T = 2: pi ∝ [sqrt 3, 1, 1] -> pi_0 = 1.7320508 / 3.7320508 = 0.4641016
    # (0.4641016 - 1/3) / (2/3) = 0.1961524
    assert components.consistency(j, 0, temperature=2.0) == pytest.approx(0.19615242, abs=1e-7)
    assert type(components.consistency(j, 0)) is float


def test_consistency_does_not_saturate_where_tanh_did():
    # Point, measured: every act's absolute PMI is high (tanh ~ +0.99 right, +0.80 wrong); only the
    # act's standing among the allowed acts counts: right 3.0 vs wrong 1.1 nats.
    j = [3.0, 1.1, 1.1]
    right, wrong = components.consistency(j, 0), components.consistency(j, 1)
    # pi_right = e^3 / (e^3 + 2 e^1.1) = 20.085537 / 26.093869 = 0.769742
    # -> (0.769742 - 1/3) * 1.5 = 0.654613
    assert right == pytest.approx(0.654613, abs=1e-5)
    # pi_wrong = 3.004166 / 26.093869 = 0.115129 -> (0.115129 - 1/3) * 1.5 = -0.327306
    assert wrong == pytest.approx(-0.327306, abs=1e-5)


def test_consistency_range_and_edge_cases():
    assert components.consistency([5.0], 0) == 0.0  # one act: nothing to judge against
    assert components.consistency([1.0, 1.0, 1.0, 1.0], 2) == 0.0  # cannot tell them apart
    assert components.consistency([1000.0, 0.0], 0) == pytest.approx(1.0)
    assert components.consistency([1000.0, 0.0, 0.0, 0.0], 1) == pytest.approx(-1 / 3)
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 13))
        j = rng.normal(0, 20, k)
        r = components.consistency(j, int(rng.integers(k)), rng.uniform(0.1, 3))
        assert -1.0 <= r <= 1.0


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_consistency_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got "):
        components.consistency([-1.0, -2.0], 0, temperature=temperature)


def test_consistency_rejects_bad_judgements_and_acts():
    with pytest.raises(ValueError, match=r"judgements must be a non-empty finite 1-D array"):
        components.consistency([], 0)
    with pytest.raises(ValueError, match=r"judgements must be a non-empty finite 1-D array"):
        components.consistency([1.0, float("nan")], 0)
    with pytest.raises(ValueError, match=r"act must index one of the 2 judged acts, got 2"):
        components.consistency([1.0, 2.0], 2)


def test_judged_right_is_the_judges_best_act():
    assert components.judged_right([0.5, 2.0, 1.0], 1) is True
    assert components.judged_right([0.5, 2.0, 1.0], 2) is False
    assert components.judged_right([2.0, 2.0], 0) and components.judged_right([2.0, 2.0], 1)
    with pytest.raises(ValueError, match=r"act must index one of the 3 judged acts, got -1"):
        components.judged_right([0.5, 2.0, 1.0], -1)


def test_judge_distribution_is_a_softmax():
    pi = components.judge_distribution([0.0, np.log(2.0), np.log(5.0)])
    assert pi == pytest.approx([1 / 8, 2 / 8, 5 / 8])


# --------------------------------------------------------------------------- predictability


def test_predictability_hand_computed():
    # mean(1, 2, 3) = 2; -2 / 4 = -0.5
    assert components.predictability(np.array([1.0, 2.0, 3.0]), max_bits=4.0) == -0.5
    # mean(0.5, 1.5) = 1; -1 / 8 = -0.125
    assert components.predictability([0.5, 1.5], max_bits=8.0) == -0.125


def test_predictability_bounds_and_empty():
    assert components.predictability([], max_bits=3.0) == 0.0
    assert components.predictability([0.0, 0.0], max_bits=3.0) == 0.0
    assert components.predictability([3.0, 3.0], max_bits=3.0) == -1.0


@pytest.mark.parametrize("bad", [[-0.1, 1.0], [1.0, 3.5]])
def test_predictability_rejects_out_of_range_surprisal(bad):
    with pytest.raises(ValueError, match=r"surprisal must lie in \[0, 3.0\] bits"):
        components.predictability(bad, max_bits=3.0)


@pytest.mark.parametrize("max_bits", [0.0, -2.0])
def test_predictability_rejects_non_positive_max_bits(max_bits):
    with pytest.raises(ValueError, match=r"max_bits must be > 0, got "):
        components.predictability([1.0], max_bits=max_bits)


# --------------------------------------------------------------------------- mdl


def test_mdl_hand_computed():
    # -3 / 12 = -0.25
    assert components.mdl(3.0, 12.0) == -0.25
    assert components.mdl(0.0, 5.0) == 0.0
    assert components.mdl(5.0, 5.0) == -1.0
    assert type(components.mdl(1, 4)) is float


@pytest.mark.parametrize("length", [-0.5, 12.5])
def test_mdl_rejects_out_of_range_code_length(length):
    with pytest.raises(ValueError, match=r"code length must lie in \[0, 12.0\] bits, got "):
        components.mdl(length, 12.0)


@pytest.mark.parametrize("max_bits", [0.0, -1.0])
def test_mdl_rejects_non_positive_max_bits(max_bits):
    with pytest.raises(ValueError, match=r"max_bits must be > 0, got "):
        components.mdl(0.0, max_bits)


# --------------------------------------------------------------------------- progress


def test_progress_is_difference_of_estimates():
    assert components.progress(0.25, 0.5) == 0.25
    assert components.progress(0.5, 0.25) == -0.25
    assert components.progress(0.3, 0.3) == 0.0
    assert type(components.progress(np.float32(0.0), np.float32(0.5))) is float


def test_progress_from_tracker_is_bounded_by_beta():
    tracker = SuccessTracker(beta=0.2)
    rng = np.random.default_rng(1)
    for _ in range(200):
        before, after = tracker.update("fetch", bool(rng.integers(0, 2)))
        r = components.progress(before, after)
        assert -0.2 <= r <= 0.2


# --------------------------------------------------------------------------- TokenPredictor


def test_token_predictor_fresh_is_uniform():
    pred = TokenPredictor(vocab_size=4, n_contexts=2)
    # q = 0.5 * (0 + 1) / (0 + 4) + 0.5 / 4 = 0.25 -> 2 bits
    np.testing.assert_allclose(pred.surprisal(0, [0, 1, 2, 3]), [2.0, 2.0, 2.0, 2.0], atol=1e-12)
    assert pred.max_bits == 3.0  # log2(2 * 4)


def test_token_predictor_hand_computed_after_update():
    pred = TokenPredictor(vocab_size=4, n_contexts=2)
    pred.update(0, [1, 1, 2])
    np.testing.assert_array_equal(pred.counts, [[0, 2, 1, 0], [0, 0, 0, 0]])
    # context 0: N = 3; n(1) = 2, n(2) = 1, n(3) = 0
    expected = [
        -math.log2(0.5 * 3 / 7 + 0.5 / 4),  # token 1: 0.5 * (2 + 1) / (3 + 4) + 1/8
        -math.log2(0.5 * 2 / 7 + 0.5 / 4),  # token 2: 0.5 * (1 + 1) / (3 + 4) + 1/8
        -math.log2(0.5 * 1 / 7 + 0.5 / 4),  # token 3: 0.5 * (0 + 1) / (3 + 4) + 1/8
    ]
    np.testing.assert_allclose(pred.surprisal(0, [1, 2, 3]), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(expected, [1.5594274, 1.9004643, 2.3479233], atol=1e-6)
    # the other context is untouched: still 2 bits
    np.testing.assert_allclose(pred.surprisal(1, [1]), [2.0], atol=1e-12)


def test_token_predictor_surprisal_does_not_learn():
    pred = TokenPredictor(vocab_size=4, n_contexts=1)
    first = pred.surprisal(0, [2, 2, 2])
    np.testing.assert_allclose(first, [2.0, 2.0, 2.0], atol=1e-12)
    np.testing.assert_array_equal(pred.counts, np.zeros((1, 4)))


def test_token_predictor_prequential_surprisal_falls_as_token_repeats():
    pred = TokenPredictor(vocab_size=4, n_contexts=1)
    bits = []
    for _ in range(6):
        bits.append(float(pred.surprisal(0, [3])[0]))
        pred.update(0, [3])
    assert all(a > b for a, b in zip(bits, bits[1:], strict=False))
    # after n repeats: q = 0.5 * (n + 1) / (n + 4) + 1/8
    for n, b in enumerate(bits):
        assert b == pytest.approx(-math.log2(0.5 * (n + 1) / (n + 4) + 0.125), abs=1e-12)
    # the limit is -log2(0.5 + 1/8) = -log2(0.625) bits, never reached
    assert bits[-1] > -math.log2(0.625)


def test_token_predictor_surprisal_within_max_bits():
    pred = TokenPredictor(vocab_size=4, n_contexts=1)
    pred.update(0, [0] * 1000)
    s = pred.surprisal(0, [0, 1, 2, 3])
    assert (s >= 0).all()
    assert (s <= pred.max_bits).all()
    # unseen token: 0.5 * 1 / 1004 + 1/8 -> just under log2(8) = 3 bits
    assert s[3] == pytest.approx(-math.log2(0.5 / 1004 + 0.125), abs=1e-12)
    assert s[3] < 3.0
    assert components.predictability(s, pred.max_bits) >= -1.0


def test_token_predictor_state_dict_round_trip_and_reset():
    pred = TokenPredictor(vocab_size=4, n_contexts=3)
    pred.update(2, [0, 3, 3])
    state = pred.state_dict()
    pred.update(2, [1])  # the saved state is a copy
    np.testing.assert_array_equal(state["counts"][2], [1, 0, 0, 2])

    other = TokenPredictor(vocab_size=4, n_contexts=3)
    other.load_state_dict(state)
    state["counts"][2, 0] = 99  # loading copies too
    np.testing.assert_array_equal(other.counts[2], [1, 0, 0, 2])
    np.testing.assert_allclose(
        other.surprisal(2, [3]), [-math.log2(0.5 * 3 / 7 + 0.125)], atol=1e-12
    )

    other.reset()
    np.testing.assert_array_equal(other.counts, np.zeros((3, 4)))
    np.testing.assert_allclose(other.surprisal(2, [3]), [2.0], atol=1e-12)


def test_token_predictor_load_rejects_shape_mismatch():
    pred = TokenPredictor(vocab_size=4, n_contexts=2)
    with pytest.raises(
        ValueError, match=r"TokenPredictor state has shape \(2, 5\), expected \(2, 4\)"
    ):
        pred.load_state_dict(TokenPredictor(vocab_size=5, n_contexts=2).state_dict())


# --------------------------------------------------------------------------- AdaptiveCode


def test_adaptive_code_hand_computed():
    code = AdaptiveCode(alphabet_size=4)
    assert code.max_bits_per_word == 3.0  # log2(2 * 4)
    # fresh: q = 0.5 * (0 + 0.5) / (0 + 2) + 1/8 = 0.25 -> 2 bits
    assert code.code_length([0]) == pytest.approx(2.0, abs=1e-12)
    # second 0 within the same utterance: q = 0.5 * 1.5 / (1 + 2) + 1/8 = 0.375
    assert code.code_length([0, 0]) == pytest.approx(2.0 - math.log2(0.375), abs=1e-12)
    assert code.code_length([0, 0]) == pytest.approx(3.4150375, abs=1e-6)
    # different words: 2 bits, then q(1) = 0.5 * 0.5 / 3 + 1/8
    expected = 2.0 - math.log2(0.5 * 0.5 / 3 + 0.125)
    assert code.code_length([0, 1]) == pytest.approx(expected, abs=1e-12)
    assert code.code_length([]) == 0.0


def test_adaptive_code_length_does_not_update_counts():
    code = AdaptiveCode(alphabet_size=4)
    code.code_length([0, 1, 2])
    np.testing.assert_array_equal(code.counts, [0, 0, 0, 0])


def test_adaptive_code_after_update():
    code = AdaptiveCode(alphabet_size=4)
    code.update([0, 0, 1])
    np.testing.assert_array_equal(code.counts, [2, 1, 0, 0])
    # N = 3: q(1) = 0.5 * (1 + 0.5) / (3 + 2) + 1/8 = 0.275
    assert code.code_length([1]) == pytest.approx(-math.log2(0.275), abs=1e-12)
    # q(3) = 0.5 * 0.5 / 5 + 1/8 = 0.175
    assert code.code_length([3]) == pytest.approx(-math.log2(0.175), abs=1e-12)


def test_adaptive_code_prequential_falls_and_is_bounded():
    code = AdaptiveCode(alphabet_size=4)
    lengths = []
    for _ in range(6):
        lengths.append(code.code_length([2]))
        code.update([2])
    assert all(a > b for a, b in zip(lengths, lengths[1:], strict=False))
    code.update([2] * 1000)
    for w in range(4):
        assert 0.0 <= code.code_length([w]) <= code.max_bits_per_word
    utterance = [0, 1, 3, 3, 0]
    bits = code.code_length(utterance)
    assert 0.0 <= bits <= len(utterance) * code.max_bits_per_word
    assert -1.0 <= components.mdl(bits, len(utterance) * code.max_bits_per_word) <= 0.0


def test_adaptive_code_state_dict_round_trip_and_reset():
    code = AdaptiveCode(alphabet_size=4)
    code.update([3, 3, 1])
    state = code.state_dict()
    code.update([0])
    np.testing.assert_array_equal(state["counts"], [0, 1, 0, 2])
    other = AdaptiveCode(alphabet_size=4)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.counts, [0, 1, 0, 2])
    # N = 3: q(3) = 0.5 * 2.5 / 5 + 1/8 = 0.375
    assert other.code_length([3]) == pytest.approx(-math.log2(0.375), abs=1e-12)
    other.reset()
    np.testing.assert_array_equal(other.counts, [0, 0, 0, 0])
    assert other.code_length([3]) == pytest.approx(2.0, abs=1e-12)


def test_adaptive_code_load_rejects_shape_mismatch():
    code = AdaptiveCode(alphabet_size=4)
    with pytest.raises(ValueError, match=r"AdaptiveCode state has shape \(3,\), expected \(4,\)"):
        code.load_state_dict(AdaptiveCode(alphabet_size=3).state_dict())


# --------------------------------------------------------------------------- SuccessTracker


def test_success_tracker_hand_computed_ema():
    tracker = SuccessTracker(beta=0.5)
    assert tracker.estimate("fetch") == 0.0
    assert tracker.update("fetch", True) == (0.0, 0.5)  # 0 + 0.5 * (1 - 0)
    assert tracker.update("fetch", True) == (0.5, 0.75)  # 0.5 + 0.5 * (1 - 0.5)
    assert tracker.update("fetch", False) == (0.75, 0.375)  # 0.75 + 0.5 * (0 - 0.75)
    assert tracker.estimate("fetch") == 0.375
    assert tracker.estimate("name") == 0.0  # keys are independent


def test_success_tracker_default_beta():
    tracker = SuccessTracker()
    before, after = tracker.update("k", True)
    assert (before, after) == (0.0, pytest.approx(0.1, abs=1e-15))


@pytest.mark.parametrize("beta", [0.0, -0.1, 1.5])
def test_success_tracker_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match=r"beta must be in \(0, 1\], got "):
        SuccessTracker(beta=beta)


def test_success_tracker_beta_one_copies_last_outcome():
    tracker = SuccessTracker(beta=1.0)
    assert tracker.update("k", True) == (0.0, 1.0)
    assert tracker.update("k", False) == (1.0, 0.0)


def test_success_tracker_state_dict_round_trip_and_reset():
    tracker = SuccessTracker(beta=0.25)
    tracker.update("a", True)  # 0.25
    tracker.update("b", True)  # 0.25
    tracker.update("b", True)  # 0.25 + 0.25 * 0.75 = 0.4375
    state = tracker.state_dict()
    assert state == {"beta": 0.25, "estimates": {"a": 0.25, "b": 0.4375}}
    tracker.update("a", False)  # the saved state is a copy
    assert state["estimates"]["a"] == 0.25

    with pytest.raises(ValueError, match="beta=0.25, this tracker 0.9"):
        SuccessTracker(beta=0.9).load_state_dict(state)  # its rewards would leave reward_space
    other = SuccessTracker(beta=0.25)
    other.load_state_dict(state)
    assert other.estimate("b") == 0.4375
    assert other.update("a", False) == (0.25, 0.1875)  # 0.25 + 0.25 * (0 - 0.25)
    other.reset()
    assert other.estimate("a") == 0.0
    assert other.estimate("b") == 0.0


# --------------------------------------------------------------------------- reward vector


def test_reward_names_order():
    assert REWARD_NAMES == ("task", "consistency", "predictability", "mdl", "progress")
    assert set(DEFAULT_WEIGHTS) == set(REWARD_NAMES)


def test_reward_vector_puts_named_components_in_their_places():
    v = reward_vector(progress=0.5, mdl=-0.25, task=1.0, predictability=-0.75, consistency=0.125)
    assert v.dtype == np.float32
    assert v.tolist() == [1.0, 0.125, -0.75, -0.25, 0.5]
    with pytest.raises(KeyError, match=r"needs exactly .*got \['consistency', 'mdl', 'task'\]"):
        reward_vector(task=1.0, consistency=0.0, mdl=0.0)
    with pytest.raises(KeyError, match="'surprise'"):
        reward_vector(**dict.fromkeys(REWARD_NAMES, 0.0), surprise=0.0)


def test_reward_facts_are_derived_from_one_table():
    from babyworld.rewards import COMPONENTS, REWARD_INDEX

    assert REWARD_NAMES == tuple(c.name for c in COMPONENTS)
    assert [REWARD_INDEX[c.name] for c in COMPONENTS] == list(range(len(COMPONENTS)))
    assert DEFAULT_WEIGHTS == {
        "task": 1.0,
        "consistency": 0.1,
        "predictability": 0.05,
        "mdl": 0.05,
        "progress": 0.5,
    }
    assert [c.name for c in COMPONENTS if c.per_beta] == ["progress"]
    assert all(c.computed_by for c in COMPONENTS)


def test_resolve_weights_none_gives_defaults_in_order():
    w = resolve_weights(None)
    assert w.dtype == np.float32
    assert w.shape == (5,)
    np.testing.assert_array_equal(w, np.array([1.0, 0.1, 0.05, 0.05, 0.5], dtype=np.float32))


def test_resolve_weights_mapping_missing_names_weigh_zero():
    w = resolve_weights({"mdl": -1.0, "task": 2.0})
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, [2.0, 0.0, 0.0, -1.0, 0.0])
    np.testing.assert_array_equal(resolve_weights({}), [0.0, 0.0, 0.0, 0.0, 0.0])


def test_resolve_weights_sequence_and_array():
    np.testing.assert_array_equal(resolve_weights([1, 2, 3, 4, 5]), [1.0, 2.0, 3.0, 4.0, 5.0])
    w = resolve_weights(np.arange(5, dtype=np.float64))
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, [0.0, 1.0, 2.0, 3.0, 4.0])


def test_resolve_weights_rejects_unknown_names():
    msg = r"unknown reward components \['bonus', 'zeta'\]; names are"
    with pytest.raises(ValueError, match=msg):
        resolve_weights({"task": 1.0, "zeta": 1.0, "bonus": 2.0})


@pytest.mark.parametrize(
    ("weights", "shape"),
    [([1.0, 2.0, 3.0], r"\(3,\)"), (np.ones((1, 5)), r"\(1, 5\)"), ([], r"\(0,\)")],
)
def test_resolve_weights_rejects_wrong_shape(weights, shape):
    msg = r"reward_weights must have shape \(5,\).*got shape " + shape
    with pytest.raises(ValueError, match=msg):
        resolve_weights(weights)


@pytest.mark.parametrize(
    "weights",
    [
        [1.0, float("nan"), 0.0, 0.0, 0.0],
        [1.0, 0.0, float("inf"), 0.0, 0.0],
        {"progress": float("-inf")},
    ],
)
def test_resolve_weights_rejects_non_finite(weights):
    with pytest.raises(ValueError, match=r"reward_weights must be finite, got"):
        resolve_weights(weights)


def test_combine_matches_hand_dot_product():
    r = np.array([1.0, 0.5, -0.2, -0.4, 0.1], dtype=np.float32)
    w = resolve_weights(None)
    # 1*1 + 0.1*0.5 + 0.05*(-0.2) + 0.05*(-0.4) + 0.5*0.1 = 1 + 0.05 - 0.01 - 0.02 + 0.05
    total = combine(r, w)
    assert type(total) is float
    assert total == pytest.approx(1.07, abs=1e-6)


def test_combine_batched():
    r = np.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, -1.0, -0.5, 0.2]], dtype=np.float32)
    w = np.array([2.0, 0.5, 1.0, 4.0, 10.0], dtype=np.float32)
    out = combine(r, w)
    assert out.shape == (2,)
    # row 0: 2*1 = 2; row 1: 0.5*1 + 1*(-1) + 4*(-0.5) + 10*0.2 = 0.5 - 1 - 2 + 2 = -0.5
    np.testing.assert_allclose(out, [2.0, -0.5], atol=1e-6)


def test_reward_bounds():
    low, high = reward_bounds(0.1)
    assert low.dtype == np.float32
    assert high.dtype == np.float32
    np.testing.assert_array_equal(low, np.array([0.0, -1.0, -1.0, -1.0, -0.1], dtype=np.float32))
    np.testing.assert_array_equal(high, np.array([1.0, 1.0, 0.0, 0.0, 0.1], dtype=np.float32))
    assert (low <= high).all()


def test_components_fall_inside_reward_bounds():
    low, high = reward_bounds(0.5)
    tracker = SuccessTracker(beta=0.5)
    pred = TokenPredictor(vocab_size=8, n_contexts=1)
    code = AdaptiveCode(alphabet_size=8)
    vec = np.array(
        [
            components.task(True),
            components.consistency([2.0, -1.0, 0.5], 0),
            components.predictability(pred.surprisal(0, [1, 2, 7]), pred.max_bits),
            components.mdl(code.code_length([1, 1, 5]), 3 * code.max_bits_per_word),
            components.progress(*tracker.update("k", True)),
        ],
        dtype=np.float32,
    )
    assert (vec >= low).all()
    assert (vec <= high).all()
    # predictability: fresh V=8 -> log2(8) = 3 bits each of log2(16) = 4 -> -0.75
    assert vec[2] == pytest.approx(-0.75, abs=1e-6)
    # progress: 0 -> 0.5
    assert vec[4] == 0.5
