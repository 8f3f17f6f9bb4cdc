"""Emergent-language measures (babyworld.language) against hand-computed values."""

from __future__ import annotations

import math

import pytest

from babyworld.language import (
    bosdis,
    edit_distance,
    entropy,
    language_measures,
    mean_length,
    message_entropy,
    mutual_info,
    posdis,
    spearman,
    topographic_similarity,
    vocabulary_in_use,
)

GRID = [(0, 0), (0, 1), (1, 0), (1, 1)]  # two binary attributes


def test_entropy_and_mutual_info_by_hand():
    assert entropy(["a", "a", "b", "b"]) == pytest.approx(1.0)
    assert entropy(["a", "a", "a", "b"]) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * -2))
    assert entropy([]) == 0.0
    # y copies x: I = H(x) = 1 bit; y independent of x: I = 0
    assert mutual_info([0, 0, 1, 1], ["p", "p", "q", "q"]) == pytest.approx(1.0)
    assert mutual_info([0, 0, 1, 1], ["p", "q", "p", "q"]) == pytest.approx(0.0)


def test_message_entropy_vocabulary_and_length():
    assert message_entropy([[1, 2], [3, 4]]) == pytest.approx(1.0)  # EGG's doctest
    assert message_entropy([["a"], ["a"], ["a"], ["b", "c"]]) == pytest.approx(
        -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    )
    assert vocabulary_in_use([["red", "ball"], ["red"], []]) == 2
    assert mean_length([["red", "ball"], ["red"], []]) == pytest.approx(1.0)
    assert math.isnan(mean_length([]))


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance(["red", "ball"], ["ball"]) == 1
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b"], ["b", "a"]) == 2


def test_spearman_ties_and_constant():
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks with ties: x -> [1.5, 1.5, 3], y -> [1, 2, 3]; centred [-.5, -.5, 1], [-1, 0, 1]
    assert spearman([5, 5, 9], [1, 2, 3]) == pytest.approx(1.5 / math.sqrt(1.5 * 2))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_topographic_similarity_by_hand():
    # EGG's doctest: identical meanings and messages correlate perfectly
    words = ["cat", "dog", "pen", "ben", "ten"]
    assert topographic_similarity([tuple(w) for w in words], words) == pytest.approx(1.0)
    # pairs (0,1) (0,2) (1,2): meaning distances .5, 1, .5; message distances 1/1.5, 1/1, 2/1.5
    # ranks [1.5, 3, 1.5] vs [1, 2, 3] -> centred products .5 + 0 - .5 = 0
    meanings = [(0, 0), (0, 1), (1, 1)]
    messages = [["a"], ["a", "b"], ["c"]]
    assert topographic_similarity(meanings, messages) == pytest.approx(0.0)
    # a holistic code (every meaning its own one-symbol message) has constant message distances
    assert math.isnan(topographic_similarity(GRID, [["w"], ["x"], ["y"], ["z"]]))


def test_posdis_and_bosdis_by_hand():
    # a compositional code, attribute i at position i: every position carries one attribute
    compositional = [["r" if c == 0 else "g", "b" if s == 0 else "k"] for c, s in GRID]
    assert posdis(GRID, compositional) == pytest.approx(1.0)
    assert bosdis(GRID, compositional) == pytest.approx(1.0)
    # a holistic code: one position, H = 2 bits, I with each attribute = 1 bit -> gap 0
    assert posdis(GRID, [["w"], ["x"], ["y"], ["z"]]) == pytest.approx(0.0)
    # the same words in a varying order: bags still disentangle, positions do not.
    # position 0 = [r, k, g, k]: H = 1.5, I(colour) = 0.5, I(shape) = 1 -> gap 1/3; same for 1
    shuffled = [["r", "b"], ["k", "r"], ["g", "b"], ["k", "g"]]
    assert posdis(GRID, shuffled) == pytest.approx(1 / 3)
    assert bosdis(GRID, shuffled) == pytest.approx(1.0)
    # a constant symbol adds a constant position, which is left out
    assert posdis(GRID, [[*m, "please"] for m in compositional]) == pytest.approx(1.0)


def test_language_measures_bundle_and_bad_input():
    out = language_measures([("red",), ("blue",)], [["red"], ["blue"]])
    assert out["messages"] == 2 and out["vocabulary"] == 2 and out["entropy"] == pytest.approx(1)
    assert math.isnan(out["posdis"]) and math.isnan(out["bosdis"])  # one attribute
    with pytest.raises(ValueError, match="got 2 meanings for 1 messages"):
        language_measures([("a",), ("b",)], [["a"]])
    with pytest.raises(ValueError, match="at least two attributes"):
        posdis([("a",), ("b",)], [["a"], ["b"]])
