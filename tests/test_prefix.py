"""Prefix key/value reuse: the pure grouping, the store, and equality with the plain path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_parent_unit import _tiny_lm

from babyworld.parent.base import ParentStats
from babyworld.parent.hf import HFParent
from babyworld.parent.prefix import PrefixStore, common_prefix_length, prefix_groups


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([1, 2, 3], [1, 2, 3, 4]) == 3
    assert common_prefix_length([1, 2, 3], [1, 2, 3], limit=1) == 1
    assert common_prefix_length([], [1]) == 0


def test_prefix_groups_hand_computed():
    seqs = [[1, 2, 3, 9], [5, 6], [1, 2, 3, 4, 7], [1, 2, 8]]
    groups = prefix_groups(seqs, [len(s) - 1 for s in seqs], min_tokens=2)
    # sorted: [1,2,3,4,7], [1,2,3,9], [1,2,8] share [1,2]; [5,6] is alone (own first token).
    assert groups == [(2, [2, 0, 3]), (1, [1])]
    groups = prefix_groups(seqs, [len(s) - 1 for s in seqs], min_tokens=3)
    assert groups == [(3, [2, 0]), (2, [3]), (1, [1])]


def test_prefix_groups_respects_limits_and_covers_every_index():
    seqs = [[1, 2, 3, 4]] * 3 + [[1, 2, 3]]
    groups = prefix_groups(seqs, [3, 3, 3, 2], min_tokens=2)
    assert groups == [(2, [3, 0, 1, 2])]
    assert prefix_groups([], [], 4) == []
    with pytest.raises(ValueError, match="2 sequences but 1 limits"):
        prefix_groups([[1], [2]], [0], 1)
    with pytest.raises(ValueError, match="min_tokens must be >= 1"):
        prefix_groups([[1]], [0], 0)


def _kv(tokens):
    t = torch.tensor(tokens, dtype=torch.float32)[None, None, :, None]
    return [(t, -t)]


def test_prefix_store_crops_the_longest_shared_prefix_and_is_lru():
    store = PrefixStore(size=2, min_tokens=2)
    assert store.longest([1, 2, 3]) == (0, None)
    store.put([1, 2, 3, 4], _kv([1, 2, 3, 4]))
    store.put([1, 5, 6], _kv([1, 5, 6]))
    n, kv = store.longest([1, 2, 3, 9])
    assert n == 3 and kv[0][0].flatten().tolist() == [1, 2, 3]
    assert store.longest([1, 5])[0] == 2
    assert store.longest([1, 7]) == (0, None)  # shares 1 < min_tokens
    store.put([7, 8], _kv([7, 8]))  # evicts the least recently used ([1, 2, 3, 4])
    assert len(store) == 2 and store.longest([1, 2, 3])[0] == 0
    store.clear()
    assert len(store) == 0
    with pytest.raises(ValueError, match="size must be >= 1"):
        PrefixStore(0, 2)


LONG = "the child wants the red ball give me please mom baby look what this called " * 2
PROMPTS = [LONG + x for x in (" the", " red ball", " what is this ? it is a", " mom")] + [
    "mom",
    "look what",
]
CONTEXTS = [LONG + " it is a", LONG + " it is a", LONG, "give me", LONG + " yes"]
CONTINUATIONS = [" red ball", " blue car", " yes", " look", " no ."]


@pytest.mark.parametrize("attention", ["cascade", "expand"])
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_prefix_cache_equals_plain_path_fp32(arch, attention):
    model, tok = _tiny_lm(arch)
    plain = HFParent(model, tokenizer=tok, dtype="float32", cache_size=0, prefix_cache=False)
    fast = HFParent(
        model,
        tokenizer=tok,
        dtype="float32",
        cache_size=0,
        min_prefix_tokens=4,
        attention=attention,
    )
    assert fast.prefix_cache and not plain.prefix_cache
    assert fast.cascade == (attention == "cascade")
    for _ in range(2):  # the second round reads the stored prefixes
        assert fast.generate(PROMPTS, max_new_tokens=6) == plain.generate(PROMPTS, max_new_tokens=6)
        for a, b in zip(
            fast.score(CONTEXTS, CONTINUATIONS),
            plain.score(CONTEXTS, CONTINUATIONS),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    s, p = fast.stats, plain.stats
    assert s.prefix_hit_tokens > 0 and s.prefix_built_tokens > 0
    assert s.tokens == p.tokens  # the same requests, counted the same way
    assert s.computed_tokens < p.computed_tokens == p.tokens


def test_prefix_cache_single_prompts_reuse_a_stored_prefix():
    model, tok = _tiny_lm()
    parent = HFParent(model, tokenizer=tok, dtype="float32", cache_size=0, min_prefix_tokens=4)
    parent.generate([PROMPTS[0]], max_new_tokens=3)
    built = parent.stats.prefix_built_tokens
    parent.generate([PROMPTS[1]], max_new_tokens=3)  # shares LONG with the first
    assert parent.stats.prefix_built_tokens - built < 4
    parent.clear_cache()
    parent.generate([PROMPTS[1]], max_new_tokens=3)
    assert parent.stats.prefix_built_tokens - built > len(LONG.split())


def test_prefix_options_bad_input():
    model, tok = _tiny_lm()
    with pytest.raises(ValueError, match="min_prefix_tokens must be >= 1, got 0"):
        HFParent(model, tokenizer=tok, min_prefix_tokens=0)
    with pytest.raises(ValueError, match="prefix_cache=False"):
        HFParent(model, tokenizer=tok, prefix_cache_size=0)
    with pytest.raises(TypeError, match="prefix_cache must be True or False"):
        HFParent(model, tokenizer=tok, prefix_cache="yes")
    with pytest.raises(ValueError, match="attention must be 'cascade' or 'expand', got 'flash'"):
        HFParent(model, tokenizer=tok, attention="flash")


def test_stats_derived_figures():
    s = ParentStats(calls=4, prompt_tokens=100, scored_tokens=20, seconds=2.0)
    s.prefix_hit_tokens, s.prefix_built_tokens = 80, 10
    d = s.as_dict()
    assert d["tokens"] == 120 and d["computed_tokens"] == 50 and d["latency"] == 0.5
    assert ParentStats().latency == 0.0
