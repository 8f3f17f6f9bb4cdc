"""Cascade attention: one shared prefix read in place, merged exactly with each row's own keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_parent_unit import _tiny_lm

from babyworld.experiments.benchmarks.measure import tiny_parent
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


LONG = "the child wants the red ball give me please mom baby look what this called " * 2
PROMPTS = [LONG + x for x in (" the", " red ball", " what is this ? it is a", " mom")]


def _parents(model, tok):
    common = dict(tokenizer=tok, dtype="float32", cache_size=0, store=False, min_prefix_tokens=4)
    return HFParent(model, prefix_cache=False, **common), HFParent(model, **common)


def test_a_model_cascade_cannot_reproduce_keeps_sdpa():
    # multi-head latent attention caches latents, not per-head keys/values: the self-check fails
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    _, tok = _tiny_lm("llama")
    config = DeepseekV3Config(
        vocab_size=len(tok.get_vocab()),
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        n_routed_experts=4,
        n_shared_experts=1,
        num_experts_per_tok=2,
        first_k_dense_replace=2,
        kv_lora_rank=16,
        q_lora_rank=None,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=12,
        n_group=1,
        topk_group=1,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = DeepseekV3ForCausalLM(config)
    assert not install(model) and model.config._attn_implementation == "sdpa"
    plain, fast = _parents(model, tok)
    assert fast.prefix_cache and not fast.cascade
    assert fast.generate(PROMPTS, max_new_tokens=4) == plain.generate(PROMPTS, max_new_tokens=4)


def test_a_model_switched_away_from_cascade_is_read_the_plain_way():
    model, tok = _tiny_lm("llama")
    plain, fast = _parents(model, tok)
    want = plain.generate(PROMPTS, max_new_tokens=6)
    assert fast.cascade and fast.generate(PROMPTS, max_new_tokens=6) == want
    model.set_attn_implementation("sdpa")  # by the user, after the parent was built
    fast.clear_cache()
    assert fast.generate(PROMPTS, max_new_tokens=6) == want


def test_an_unpickled_cascade_parent_registers_its_attention():
    import pickle

    from transformers import AttentionInterface

    model, tok = _tiny_lm("llama")
    plain, fast = _parents(model, tok)
    blob = pickle.dumps(fast)
    # a fresh process has not registered the name: forget it here
    AttentionInterface._global_mapping.pop(NAME)
    again = pickle.loads(blob)
    assert again.cascade and NAME in AttentionInterface._global_mapping
    assert again.generate(PROMPTS, max_new_tokens=6) == plain.generate(PROMPTS, max_new_tokens=6)
