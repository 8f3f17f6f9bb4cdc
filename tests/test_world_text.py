"""Unit tests of the world engine (objects, scenes, tasks) and the baby's word tokenizer."""

import dataclasses
import zlib

import numpy as np
import pytest

from babyworld.text import PAD_ID, WordTokenizer
from babyworld.world import (
    COLORS,
    PERCEPT_FEATURES,
    SHAPES,
    FetchTask,
    NameTask,
    Scene,
    WorldObject,
    is_held_out,
    sample_scene,
    split_size,
)

# --------------------------------------------------------------------------- WorldObject


def test_world_object_name_and_attributes():
    obj = WorldObject("red", "ball")
    assert obj.name == "red ball"
    assert obj.attribute("color") == "red"
    assert obj.attribute("shape") == "ball"


def test_world_object_is_frozen_and_hashable():
    obj = WorldObject("blue", "car")
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.color = "red"  # type: ignore[misc]
    assert WorldObject("blue", "car") == obj
    assert len({obj, WorldObject("blue", "car"), WorldObject("blue", "cup")}) == 2


def test_world_object_rejects_unknown_color():
    with pytest.raises(ValueError, match=r"unknown color 'pink'; choose one of \('red', "):
        WorldObject("pink", "ball")


def test_world_object_rejects_unknown_shape():
    with pytest.raises(ValueError, match=r"unknown shape 'cat'; choose one of \('ball', "):
        WorldObject("red", "cat")


def test_world_object_rejects_unknown_attribute():
    msg = r"unknown attribute 'size'; choose one of \('shape', 'color'\)"
    with pytest.raises(ValueError, match=msg):
        WorldObject("red", "ball").attribute("size")


# --------------------------------------------------------------------------- Scene.percept


def test_percept_features_constant():
    # 6 colours + 6 shapes + present + attended
    assert PERCEPT_FEATURES == 14
    assert len(COLORS) == 6
    assert len(SHAPES) == 6


def test_percept_layout_hand_checked():
    scene = Scene((WorldObject("green", "cup"), WorldObject("white", "ball")))
    p = scene.percept(3, attended=1)
    assert p.dtype == np.float32
    assert p.shape == (3 * 14,)
    # slot 0 (offset 0): green = colour 1 -> 1; cup = shape 3 -> 6 + 3 = 9; present -> 12
    # slot 1 (offset 14): white = colour 5 -> 19; ball = shape 0 -> 14 + 6 = 20;
    #                     present -> 14 + 12 = 26; attended -> 14 + 13 = 27
    # slot 2 (offset 28): empty, all zeros
    assert np.flatnonzero(p).tolist() == [1, 9, 12, 19, 20, 26, 27]
    assert set(np.unique(p).tolist()) == {0.0, 1.0}


def test_percept_without_attention_has_no_attended_flag():
    scene = Scene((WorldObject("green", "cup"), WorldObject("white", "ball")))
    p = scene.percept(2)
    assert p.shape == (28,)
    assert np.flatnonzero(p).tolist() == [1, 9, 12, 19, 20, 26]
    # the attended feature is the last of each slot
    assert p.reshape(2, 14)[:, -1].tolist() == [0.0, 0.0]


def test_percept_attended_first_slot():
    scene = Scene((WorldObject("red", "ball"), WorldObject("purple", "car")))
    p = scene.percept(2, attended=0).reshape(2, 14)
    # red ball: colour 0, shape 6 + 0 = 6; purple car: colour 4, shape 6 + 5 = 11
    assert np.flatnonzero(p[0]).tolist() == [0, 6, 12, 13]
    assert np.flatnonzero(p[1]).tolist() == [4, 11, 12]


def test_percept_empty_scene_is_zeros():
    p = Scene(()).percept(2)
    assert p.shape == (28,)
    assert not p.any()


def test_percept_rejects_too_many_objects():
    scene = Scene((WorldObject("green", "cup"), WorldObject("white", "ball")))
    with pytest.raises(ValueError, match=r"scene has 2 objects but only 1 slots"):
        scene.percept(1)


# --------------------------------------------------------------------------- sample_scene


def test_sample_scene_distinct_objects():
    rng = np.random.default_rng(0)
    for n in (1, 3, 6, 12):
        scene = sample_scene(rng, n)
        assert len(scene.objects) == n
        assert len({o.name for o in scene.objects}) == n
        assert all(isinstance(o, WorldObject) for o in scene.objects)


def test_sample_scene_all_kinds():
    scene = sample_scene(np.random.default_rng(3), 36)
    assert {(o.color, o.shape) for o in scene.objects} == {(c, s) for c in COLORS for s in SHAPES}


def test_sample_scene_seeded_reproducible():
    a = [sample_scene(np.random.default_rng(42), 4) for _ in range(2)]
    assert a[0] == a[1]
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    seq1 = [sample_scene(rng1, 3) for _ in range(5)]
    seq2 = [sample_scene(rng2, 3) for _ in range(5)]
    assert seq1 == seq2
    # different seeds give different scene sequences
    rng3 = np.random.default_rng(8)
    assert [sample_scene(rng3, 3) for _ in range(5)] != seq1


def test_sample_scene_maps_index_to_colour_major_kind():
    # index k -> COLORS[k // 6], SHAPES[k % 6]
    flat = np.random.default_rng(5).choice(36, size=4, replace=False)
    scene = sample_scene(np.random.default_rng(5), 4)
    assert [o.name for o in scene.objects] == [
        f"{COLORS[int(k) // 6]} {SHAPES[int(k) % 6]}" for k in flat
    ]


@pytest.mark.parametrize("n", [0, -1, 37])
def test_sample_scene_rejects_bad_n_objects(n):
    with pytest.raises(ValueError, match=rf"n_objects must be in \[1, 36\], got {n}"):
        sample_scene(np.random.default_rng(0), n)


def test_the_held_out_toys_are_one_of_each_colour_and_shape():
    held = [(c, s) for c in COLORS for s in SHAPES if is_held_out(c, s)]
    # (colour i + shape j) % 6 == 0, worked out by hand
    assert held == [
        ("red", "ball"),
        ("green", "car"),
        ("blue", "bird"),
        ("yellow", "cup"),
        ("purple", "key"),
        ("white", "box"),
    ]
    assert sorted(c for c, _ in held) == sorted(COLORS) and sorted(s for _, s in held) == sorted(
        SHAPES
    )
    assert (split_size("all"), split_size("train"), split_size("held_out")) == (36, 30, 6)


def test_sample_scene_by_split():
    rng = np.random.default_rng(0)
    train = {o for _ in range(300) for o in sample_scene(rng, 3, "train").objects}
    held = {o for _ in range(300) for o in sample_scene(rng, 3, "held_out").objects}
    assert len(train) == 30 and not any(is_held_out(o.color, o.shape) for o in train)
    assert len(held) == 6 and all(is_held_out(o.color, o.shape) for o in held)
    # "all" draws exactly as before the splits existed (old seeds keep their scenes)
    flat = np.random.default_rng(5).choice(36, size=4, replace=False)
    again = sample_scene(np.random.default_rng(5), 4, "all")
    assert [o.name for o in again.objects] == [f"{COLORS[k // 6]} {SHAPES[k % 6]}" for k in flat]
    with pytest.raises(ValueError, match=r"n_objects must be in \[1, 6\], got 7 \(the 'held_out'"):
        sample_scene(rng, 7, "held_out")
    with pytest.raises(ValueError, match=r"unknown split 'test'; choose one of \('all', 'train'"):
        sample_scene(rng, 3, "test")


# --------------------------------------------------------------------------- tasks


def _scene() -> Scene:
    objects = (WorldObject("red", "ball"), WorldObject("green", "cup"), WorldObject("blue", "car"))
    return Scene(objects)


def test_fetch_task_verify():
    task = FetchTask(_scene(), target=1)
    assert task.wanted == WorldObject("green", "cup")
    assert task.verify(1) is True
    assert task.verify(np.int64(1)) is True
    assert task.verify(0) is False
    assert task.verify(2) is False


def test_name_task_verify_color_and_shape():
    color = NameTask(_scene(), slot=2, attribute="color")
    assert color.shown == WorldObject("blue", "car")
    assert color.answer == "blue"
    assert color.verify("blue") is True
    assert color.verify("car") is False
    assert color.verify("red") is False

    shape = NameTask(_scene(), slot=0, attribute="shape")
    assert shape.answer == "ball"
    assert shape.verify("ball") is True
    assert shape.verify("red") is False
    assert shape.verify("Ball") is False


def test_name_task_bad_attribute_errors_on_answer():
    task = NameTask(_scene(), slot=0, attribute="size")
    with pytest.raises(ValueError, match=r"unknown attribute 'size'"):
        _ = task.answer


# --------------------------------------------------------------------------- WordTokenizer

N_KNOWN = 85  # 6 colours + 6 shapes + 67 function words + 6 punctuation marks
N_BUCKETS = 256 - 1 - N_KNOWN  # 170


def test_tokenizer_known_words_have_fixed_ids():
    tok = WordTokenizer()
    assert tok.vocab_size == 256
    assert len(tok.known) == N_KNOWN
    assert PAD_ID == 0
    # colours first (from 1), then shapes, then function words, then punctuation
    assert tok.token_id("red") == 1
    assert tok.token_id("white") == 6
    assert tok.token_id("ball") == 7
    assert tok.token_id("car") == 12
    assert tok.token_id("a") == 13
    assert tok.token_id("color") == 54
    assert tok.token_id("mom") == 79
    assert tok.token_id("?") == 80
    assert tok.token_id('"') == 85


def test_tokenizer_unknown_words_hash_stably():
    tok = WordTokenizer()
    # 1 + n_known + crc32(word) % n_buckets; crc32(b"zebra") = 358047158, % 170 = 128
    assert zlib.crc32(b"zebra") == 358047158
    assert tok.token_id("zebra") == 1 + 85 + 358047158 % 170
    assert tok.token_id("zebra") == 214
    assert tok.token_id("giraffe") == 1 + N_KNOWN + zlib.crc32(b"giraffe") % N_BUCKETS
    assert WordTokenizer().token_id("zebra") == 214  # same in a new instance


def test_tokenizer_ids_stay_in_vocab():
    tok = WordTokenizer(vocab_size=100)
    ids = [tok.token_id(w) for w in ["zebra", "giraffe", "x", "qqq", "hello", "42", "red"]]
    assert all(1 <= i < 100 for i in ids)
    hashed = [tok.token_id(w) for w in ["zebra", "giraffe", "x", "qqq", "hello"]]
    assert all(i > N_KNOWN for i in hashed)


def test_tokenizer_words_split():
    assert WordTokenizer.words("Give me the RED ball, please!") == [
        "give", "me", "the", "red", "ball", ",", "please", "!",
    ]  # fmt: skip
    # colons and dashes are dropped, digits kept, apostrophes split off
    assert WordTokenizer.words("It's 42: ok-go") == ["it", "'", "s", "42", "ok", "go"]


def test_tokenizer_encode():
    tok = WordTokenizer()
    # give = 45, me = 32, the = 15, red = 1, ball = 7, ',' = 83, please = 49, '!' = 81
    assert tok.encode("Give me the red ball, please!") == [45, 32, 15, 1, 7, 83, 49, 81]
    assert tok.encode("") == []


def test_tokenizer_extra_words():
    tok = WordTokenizer(extra_words=["zebra", "red"])
    assert len(tok.known) == N_KNOWN + 1  # "red" already known
    assert tok.token_id("zebra") == N_KNOWN + 1
    assert tok.token_id("red") == 1


def test_encode_fixed_pads():
    tok = WordTokenizer()
    ids, n, cut = tok.encode_fixed("red ball", 4)
    assert ids.dtype == np.int64
    assert ids.tolist() == [1, 7, PAD_ID, PAD_ID]
    assert n == 2
    assert cut is False


def test_encode_fixed_exact_length_not_cut():
    ids, n, cut = WordTokenizer().encode_fixed("red green blue", 3)
    assert ids.tolist() == [1, 2, 3]
    assert n == 3
    assert cut is False


def test_encode_fixed_keeps_last_tokens_when_cut():
    ids, n, cut = WordTokenizer().encode_fixed("red green blue yellow purple", 3)
    # red=1 green=2 blue=3 yellow=4 purple=5 -> the last three
    assert ids.tolist() == [3, 4, 5]
    assert n == 3
    assert cut is True


def test_encode_fixed_empty_text():
    ids, n, cut = WordTokenizer().encode_fixed("", 3)
    assert ids.tolist() == [0, 0, 0]
    assert n == 0
    assert cut is False


def test_tokenizer_rejects_too_small_vocab():
    with pytest.raises(
        ValueError,
        match=r"vocab_size=86 leaves no hash bucket for 85 known words; "
        r"use at least 87",
    ):
        WordTokenizer(vocab_size=86)
    with pytest.raises(ValueError, match=r"vocab_size=10 leaves no hash bucket"):
        WordTokenizer(vocab_size=10)


def test_tokenizer_smallest_vocab_has_one_bucket():
    tok = WordTokenizer(vocab_size=87)
    assert tok.token_id("zebra") == 86
    assert tok.token_id("giraffe") == 86
    assert tok.token_id("red") == 1
