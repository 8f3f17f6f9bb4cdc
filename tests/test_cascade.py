"""Cascade attention: one shared prefix read in place, merged exactly with each row's own keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_parent_unit import _tiny_lm

from babyworld.experiments.measure import tiny_parent
from babyworld.parent.cascade import NAME, cascade_attention, install
from babyworld.parent.hf import HFParent


def _reference(q, k, v, pk, pv, mask, scale):
    """SDPA over the prefix expanded to the batch and repeated per query head (the plain path)."""
    b, h = q.shape[:2]
    g = h // k.shape[1]
    full_k = torch.cat([pk.expand(b, -1, -1, -1), k], 2).repeat_interleave(g, 1)
    full_v = torch.cat([pv.expand(b, -1, -1, -1), v], 2).repeat_interleave(g, 1)
    seen = torch.ones(b, 1, q.shape[2], pk.shape[2], dtype=torch.bool)
    out = F.scaled_dot_product_attention(
        q, full_k, full_v, attn_mask=torch.cat([seen, mask], -1), scale=scale
    )
    return out.transpose(1, 2)


@pytest.mark.parametrize(("heads", "kv_heads"), [(9, 3), (4, 4)])
def test_cascade_equals_sdpa_over_the_expanded_prefix(heads, kv_heads):
    g = torch.Generator().manual_seed(0)
    b, q_len, s_len, p_len, d = 5, 4, 7, 11, 16
    q = torch.randn(b, heads, q_len, d, generator=g)
    k, v = (torch.randn(b, kv_heads, s_len, d, generator=g) for _ in range(2))
    pk, pv = (torch.randn(1, kv_heads, p_len, d, generator=g) for _ in range(2))
    causal = torch.ones(b, 1, q_len, s_len, dtype=torch.bool).tril(s_len - q_len)
    padded = causal.clone()
    padded[1, ..., :5] = False  # row 1: five pads, its first two queries see only the prefix
    for mask in (causal, padded):
        out = cascade_attention(q, k, v, pk, pv, mask, 0.25)
        assert out.shape == (b, q_len, heads, d)
        torch.testing.assert_close(out, _reference(q, k, v, pk, pv, mask, 0.25))
    # no mask: causal, the queries being the last of the row's keys
    torch.testing.assert_close(
        cascade_attention(q, k, v, pk, pv, None, 0.25), _reference(q, k, v, pk, pv, causal, 0.25)
    )
    # an additive float mask reads like the boolean one
    additive = torch.zeros(padded.shape).masked_fill(~padded, float("-inf"))
    torch.testing.assert_close(
        cascade_attention(q, k, v, pk, pv, additive, 0.25),
        _reference(q, k, v, pk, pv, padded, 0.25),
    )


def test_cascade_hand_computed_single_query():
    # one row, one head, one query; prefix key scores 0 and log 3, own key score 0: weights 1:3:1
    q = torch.tensor([[[[1.0, 0.0]]]])
    pk = torch.tensor([[[[0.0, 5.0], [torch.log(torch.tensor(3.0)), 0.0]]]])
    pv = torch.tensor([[[[10.0, 0.0], [0.0, 10.0]]]])
    k, v = torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([[[[5.0, 5.0]]]])
    out = cascade_attention(q, k, v, pk, pv, None, 1.0)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([(10 + 5) / 5, (30 + 5) / 5]))


def test_cascade_bad_grouping_and_dtype():
    q = torch.randn(1, 4, 1, 8)
    k = torch.randn(1, 3, 2, 8)
    with pytest.raises(ValueError, match="4 query heads do not group over 3 key/value heads"):
        cascade_attention(q, k, k, torch.randn(1, 3, 2, 8), torch.randn(1, 3, 2, 8), None, 1.0)
    out = cascade_attention(*(x.bfloat16() for x in (q, q, q, q, q)), None, 1.0)
    assert out.dtype == torch.bfloat16


def test_install_switches_sdpa_models_only_and_keeps_plain_forwards():
    model, _ = _tiny_lm("llama")
    ids = torch.tensor([[3, 4, 5, 6]])
    before = model(input_ids=ids).logits
    assert install(model) and model.config._attn_implementation == NAME
    assert install(model)  # idempotent
    torch.testing.assert_close(model(input_ids=ids).logits, before)  # no shared_prefix: SDPA
    eager, _ = _tiny_lm("llama")
    eager.set_attn_implementation("eager")
    assert not install(eager) and eager.config._attn_implementation == "eager"


def test_cascade_is_part_of_the_store_key_and_off_without_prefix_reuse():
    model, tok = _tiny_lm("llama")
    assert HFParent(model, tokenizer=tok, prefix_cache=False, store=False).cascade is False
    a = tiny_parent(store=False).model_key()
    b = tiny_parent(store=False, attention="expand").model_key()
    assert a.description["attention"] == "cascade" and "attention" not in b.description
    assert a.key != b.key
