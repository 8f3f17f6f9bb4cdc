"""Unit tests of the parent layer: scripted parent, cache, judge, factory, HFParent on a tiny LM."""

import math
import re
import warnings
import zlib

import numpy as np
import pytest
import torch

from babyworld.parent import (
    Parent,
    Prompt,
    calibrated_scores,
    choose,
    interpret,
    make_parent,
    resolve_parent,
)
from babyworld.parent.base import shorten_repeats
from babyworld.parent.hf import HFParent
from babyworld.parent.scripted import ScriptedParent
from babyworld.parent.vocab import avoided_token_ids, avoided_words

CTX = "Give me the red ball, please."  # words: give me the red ball , please . -> 8 distinct
NEUTRAL = "Give me the thing, please."  # words: give me the thing , please . -> 7 distinct

# With the defaults copy = 0.5, V = 1000:
IN_CTX8 = math.log(0.5 / 8 + 0.5 / 1000)  # log(0.063)
IN_CTX7 = math.log(0.5 / 7 + 0.5 / 1000)
UNSEEN = math.log(0.5 / 1000)  # log(0.0005)


# --------------------------------------------------------------------------- scripted scoring


def test_scripted_score_hand_computed_defaults():
    p = ScriptedParent()
    (lp,) = p.score([CTX], [" red car"])
    assert lp.dtype == np.float64
    # red is one of the 8 context words, car is not
    np.testing.assert_allclose(lp, [math.log(0.063), math.log(0.0005)], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lp, [IN_CTX8, UNSEEN], rtol=0, atol=1e-12)


def test_scripted_score_hand_computed_custom_copy_and_vocab():
    p = ScriptedParent(copy=0.2, vocab_size=10)
    (lp,) = p.score(["the the ball"], [" ball, the dog"])
    # set(context words) = {the, ball} -> 2; p(in) = 0.2 / 2 + 0.8 / 10 = 0.18; p(out) = 0.08
    # continuation words: ball , the dog
    np.testing.assert_allclose(
        lp, [math.log(0.18), math.log(0.08), math.log(0.18), math.log(0.08)], rtol=0, atol=1e-12
    )


def test_scripted_score_empty_context_is_uniform():
    p = ScriptedParent(copy=0.5, vocab_size=100)
    lp_empty, lp_colon = p.score(["", ":::"], [" red ball", " red"])
    # no context words -> log((1 - 0.5) / 100) = log(0.005) per word
    np.testing.assert_allclose(lp_empty, [math.log(0.005)] * 2, atol=1e-12)
    np.testing.assert_allclose(lp_colon, [math.log(0.005)], atol=1e-12)


def test_scripted_score_counts_tokens():
    p = ScriptedParent()
    p.score([CTX], [" red car"])
    # 8 context words + 2 continuation words
    assert p.stats.scored_tokens == 10
    assert p.stats.tokens == 10


def test_scripted_rejects_bad_copy():
    with pytest.raises(ValueError, match=r"copy must be in \[0, 1\), got 1.0"):
        ScriptedParent(copy=1.0)
    with pytest.raises(ValueError, match=r"copy must be in \[0, 1\), got -0.1"):
        ScriptedParent(copy=-0.1)


def test_negative_cache_size_rejected():
    with pytest.raises(ValueError, match=r"cache_size must be >= 0, got -1"):
        ScriptedParent(cache_size=-1)


# --------------------------------------------------------------------------- cache


def test_score_cache_hit_counts_and_costs_nothing():
    p = ScriptedParent()
    first = p.score([CTX], [" red car"])
    assert (p.stats.requests, p.stats.cache_hits, p.stats.calls, p.stats.tokens) == (1, 0, 1, 10)
    second = p.score([CTX], [" red car"])
    assert (p.stats.requests, p.stats.cache_hits, p.stats.calls, p.stats.tokens) == (2, 1, 1, 10)
    assert p.stats.hit_rate == 0.5
    np.testing.assert_array_equal(first[0], second[0])
    d = p.stats.as_dict()
    assert d["hit_rate"] == 0.5
    assert d["tokens"] == 10
    assert d["requests"] == 2


def test_score_cache_mixed_batch():
    p = ScriptedParent()
    p.score([CTX], [" red car"])
    out = p.score([CTX, NEUTRAL], [" red car", " red"])
    # one hit, one miss (7 + 1 tokens)
    assert (p.stats.requests, p.stats.cache_hits, p.stats.calls) == (3, 1, 2)
    assert p.stats.scored_tokens == 10 + 8
    np.testing.assert_allclose(out[0], [IN_CTX8, UNSEEN], atol=1e-12)
    np.testing.assert_allclose(out[1], [UNSEEN], atol=1e-12)


def test_score_duplicate_requests_in_one_batch_computed_once():
    p = ScriptedParent()
    a, b = p.score([CTX, CTX], [" red", " red"])
    assert p.stats.requests == 2
    assert p.stats.scored_tokens == 9  # computed once: 8 + 1
    a[0] = 123.0
    assert b[0] == pytest.approx(IN_CTX8, abs=1e-12)


def test_cache_size_zero_disables_cache():
    p = ScriptedParent(cache_size=0)
    p.score([CTX], [" red car"])
    p.score([CTX], [" red car"])
    assert (p.stats.requests, p.stats.cache_hits, p.stats.calls, p.stats.tokens) == (2, 0, 2, 20)
    prompt = Prompt("Ask for the red ball.", kind="ask_for", object="red ball")
    p.generate([prompt])
    generated = p.stats.generated_tokens
    p.generate([prompt])
    assert p.stats.generated_tokens == 2 * generated
    assert p.stats.cache_hits == 0


def test_clear_cache_forgets_answers():
    p = ScriptedParent()
    p.score([CTX], [" red"])
    p.clear_cache()
    p.score([CTX], [" red"])
    assert (p.stats.requests, p.stats.cache_hits, p.stats.calls) == (2, 0, 2)


def test_returned_arrays_are_copies():
    p = ScriptedParent()
    (miss,) = p.score([CTX], [" red car"])
    miss[:] = 0.0  # mutate the answer of a cache miss
    (hit,) = p.score([CTX], [" red car"])
    np.testing.assert_allclose(hit, [IN_CTX8, UNSEEN], atol=1e-12)
    hit[:] = 7.0  # mutate the answer of a cache hit
    (again,) = p.score([CTX], [" red car"])
    np.testing.assert_allclose(again, [IN_CTX8, UNSEEN], atol=1e-12)
    assert p.stats.cache_hits == 2


def test_cache_is_lru_bounded():
    p = ScriptedParent(cache_size=2)
    p.score(["a"], [" x"])
    p.score(["b"], [" x"])
    p.score(["a"], [" x"])  # hit; "a" becomes most recent
    p.score(["c"], [" x"])  # evicts "b"
    assert p.stats.cache_hits == 1
    p.score(["a"], [" x"])  # still cached
    assert p.stats.cache_hits == 2
    p.score(["b"], [" x"])  # evicted -> miss
    assert p.stats.cache_hits == 2
    assert p.stats.calls == 4


# --------------------------------------------------------------------------- scripted generation


def test_generate_structured_prompts_fill_templates():
    p = ScriptedParent()
    ask = Prompt("Ask for the red ball.", kind="ask_for", object="red ball")
    # template index = crc32("Ask for the red ball.|0") % 2 = 1 -> "Can you hand me the {object}?"
    assert zlib.crc32(b"Ask for the red ball.|0") % 2 == 1
    fetch = Prompt("React.", kind="react_fetch", verdict="right", got="red ball")
    name_color = Prompt(
        "R1.", kind="react_name", verdict="right", said="What color is it?", shown="red ball"
    )
    name_shape = Prompt(
        "R2.", kind="react_name", verdict="wrong", said="What is this called?", shown="red ball"
    )
    out = p.generate([ask, fetch, name_color, name_shape])
    assert out == [
        "Can you hand me the red ball?",
        "Yes, well done! That is the red ball.",
        "Yes, well done! It is red.",
        "No. It is a ball.",
    ]
    assert all(isinstance(s, str) for s in out)


def test_generate_counts_tokens_and_caches():
    p = ScriptedParent()
    ask = Prompt("Ask for the red ball.", kind="ask_for", object="red ball")
    assert p.generate([ask]) == ["Can you hand me the red ball?"]
    # prompt words: ask for the red ball . -> 6; generated: 7 whitespace-separated words
    assert (p.stats.prompt_tokens, p.stats.generated_tokens) == (6, 7)
    assert p.generate([ask]) == ["Can you hand me the red ball?"]
    assert (p.stats.prompt_tokens, p.stats.generated_tokens) == (6, 7)
    assert (p.stats.requests, p.stats.cache_hits) == (2, 1)


def test_generate_truncates_to_max_new_tokens():
    p = ScriptedParent()
    ask = Prompt("Ask for the red ball.", kind="ask_for", object="red ball")
    assert p.generate([ask], max_new_tokens=3) == ["Can you hand"]
    assert p.stats.generated_tokens == 3


def test_generate_sampling_seed_picks_template():
    p = ScriptedParent()
    ask = Prompt("Ask for the red ball.", kind="ask_for", object="red ball")
    # crc32("Ask for the red ball.|4") % 2 = 0 -> "Give me the {object}, please."
    assert zlib.crc32(b"Ask for the red ball.|4") % 2 == 0
    assert p.generate([ask], temperature=1.0, seed=4) == ["Give me the red ball, please."]
    assert p.generate([ask], temperature=1.0, seed=1) == ["Can you hand me the red ball?"]
    # greedy ignores the seed
    assert p.generate([ask], seed=4) == ["Can you hand me the red ball?"]


def test_generate_cache_tells_apart_prompts_with_same_text_but_different_fields():
    # The baby says "blue" for a red ball, once asked for its colour and once for its shape; the
    # texts are equal here, the requests are not, and the scripted parent must name the right
    # answer in each case (by its rule over its own question and the shown toy).
    color = Prompt("R.", kind="react_name", word="blue", said="Which color is it?",
                   shown="red ball", verdict="wrong")  # fmt: skip
    shape = Prompt("R.", kind="react_name", word="blue", said="What is it?", shown="red ball",
                   verdict="wrong")  # fmt: skip
    assert ScriptedParent().generate([shape]) == ["No. It is a ball."]
    p = ScriptedParent()
    assert p.generate([color]) == ["No. It is red."]
    assert p.generate([shape]) == ["No. It is a ball."]
    assert ScriptedParent().generate([color, shape]) == ["No. It is red.", "No. It is a ball."]


def test_generate_plain_string_is_a_clear_error():
    p = ScriptedParent()
    with pytest.raises(ValueError, match=r"only answers babyworld's structured prompts"):
        p.generate(["Ask for the red ball."])
    with pytest.raises(ValueError, match=r"Use an LLM parent for free text"):
        p.generate([Prompt("Sing.", kind="sing")])


def test_generate_rejects_a_bare_string():
    p = ScriptedParent()
    with pytest.raises(TypeError, match=r"generate\(\) takes a list of prompts"):
        p.generate("a string")


@pytest.mark.parametrize("n", [0, -3])
def test_generate_rejects_max_new_tokens_below_one(n):
    p = ScriptedParent()
    ask = Prompt("Ask.", kind="ask_for", object="red ball")
    with pytest.raises(ValueError, match=rf"max_new_tokens must be >= 1, got {n}"):
        p.generate([ask], max_new_tokens=n)


def test_generate_rejects_negative_temperature():
    p = ScriptedParent()
    ask = Prompt("Ask.", kind="ask_for", object="red ball")
    with pytest.raises(ValueError, match=r"temperature must be >= 0, got -0.5"):
        p.generate([ask], temperature=-0.5)


def test_score_input_validation():
    p = ScriptedParent()
    with pytest.raises(TypeError, match=r"score\(\) takes lists of contexts and continuations"):
        p.score("a context", [" x"])
    with pytest.raises(TypeError, match=r"score\(\) takes lists"):
        p.score(["a context"], " x")
    with pytest.raises(ValueError, match=r"got 2 contexts but 1 continuations"):
        p.score(["a", "b"], [" x"])
    with pytest.raises(ValueError, match=r"cannot score an empty continuation"):
        p.score(["a", "b"], [" x", "   "])
    with pytest.raises(ValueError, match=r"cannot score an empty continuation"):
        p.score(["a"], [""])
    assert p.stats.requests == 0


def test_prompt_carries_fields():
    pr = Prompt("Ask.", kind="ask_for", object="red ball")
    assert isinstance(pr, str)
    assert pr == "Ask."
    assert pr.kind == "ask_for"
    assert pr.fields == {"object": "red ball"}


# --------------------------------------------------------------------------- judge


def test_calibrated_scores_hand_computed_pmi():
    p = ScriptedParent()
    scores = calibrated_scores(
        p, [CTX, CTX, CTX], [NEUTRAL, NEUTRAL, NEUTRAL], [" red ball", " blue car", " red thing"]
    )
    assert scores.dtype == np.float64
    assert scores.shape == (3,)
    expected = [
        # red, ball: in context (1/8 of copy mass), not in neutral
        math.log(0.063) - math.log(0.0005),  # = log(126)
        # blue, car: in neither
        0.0,
        # red: in context only; thing: in neutral only
        ((IN_CTX8 - UNSEEN) + (UNSEEN - IN_CTX7)) / 2,
    ]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    assert scores[0] == pytest.approx(math.log(126), abs=1e-12)
    assert p.stats.calls == 1  # one batched score call for all 2N pairs


def test_calibrated_scores_match_two_score_calls():
    p, q = ScriptedParent(), ScriptedParent()
    conts = [" red ball", " the thing please", " car"]
    scores = calibrated_scores(p, [CTX] * 3, [NEUTRAL] * 3, conts)
    lc = q.score([CTX] * 3, conts)
    ln = q.score([NEUTRAL] * 3, conts)
    np.testing.assert_allclose(scores, [(a - b).mean() for a, b in zip(lc, ln, strict=True)])


def test_calibrated_scores_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"must have the same length"):
        calibrated_scores(ScriptedParent(), [CTX], [NEUTRAL, NEUTRAL], [" red"])


def test_choose_picks_the_calibrated_best():
    best, scores = choose(ScriptedParent(), CTX, NEUTRAL, ["blue car", "red ball", "thing"])
    assert best == 1
    # thing: log(0.0005) - log(0.5/7 + 0.0005)
    np.testing.assert_allclose(scores, [0.0, math.log(126), UNSEEN - IN_CTX7], atol=1e-12)


def test_interpret_picks_the_named_intent():
    p = ScriptedParent()
    res = interpret(p, ["red ball", "blue car please"], ["red ball", "blue car", "green cup"])
    assert res.best.tolist() == [0, 1]
    assert res.log_posterior.shape == (2, 3)
    np.testing.assert_allclose(np.exp(res.log_posterior).sum(axis=1), [1.0, 1.0], atol=1e-12)
    # template words: the child wants the X Y , so the child says -> 8 distinct.
    # utterance 0: intent 0 gives 2 * log(0.063), the others 2 * log(0.0005);
    # posterior of intent 0 = 126^2 / (126^2 + 2) = 15876 / 15878
    np.testing.assert_allclose(
        res.log_posterior[0],
        [math.log(15876 / 15878), math.log(1 / 15878), math.log(1 / 15878)],
        rtol=0,
        atol=1e-12,
    )
    # utterance 1: "please" is in no template, so it cancels; blue, car as above
    np.testing.assert_allclose(
        res.log_posterior[1],
        [math.log(1 / 15878), math.log(15876 / 15878), math.log(1 / 15878)],
        rtol=0,
        atol=1e-12,
    )
    assert p.stats.calls == 1


def test_interpret_custom_template_and_errors():
    p = ScriptedParent()
    res = interpret(p, ["key"], ["box", "key"], template="Mom shows the {intent}.")
    assert res.best.tolist() == [1]
    with pytest.raises(ValueError, match=r"needs at least one candidate intent"):
        interpret(p, ["key"], [])
    with pytest.raises(ValueError, match=r"the template must contain '\{intent\}'"):
        interpret(p, ["key"], ["box"], template="no slot here")


# --------------------------------------------------------------------------- factory


def test_make_parent_unknown_spec_lists_specs():
    msg = r"unknown parent spec 'gpt5'; use one of 'smollm2' \(default\), 'hf:<hub id or local"
    with pytest.raises(ValueError, match=msg):
        make_parent("gpt5")
    with pytest.raises(ValueError, match=r"unknown parent spec 'hf:'.*'scripted'"):
        make_parent("hf:")


def test_make_parent_shares_instances():
    a = make_parent("scripted")
    assert isinstance(a, ScriptedParent)
    assert a.scripted is True
    assert a.label == "scripted"
    assert make_parent("scripted") is a
    b = make_parent("scripted", copy=0.3)
    assert b is not a
    assert b.copy == 0.3
    assert make_parent("scripted", copy=0.3) is b


def test_make_parent_unshared_builds_a_new_one():
    a = make_parent("scripted")
    c = make_parent("scripted", shared=False)
    assert c is not a
    assert make_parent("scripted", shared=False) is not c
    assert make_parent("scripted") is a  # the unshared one did not replace the shared one


@pytest.mark.parametrize("spec", [3, None, ["scripted"]])
def test_make_parent_rejects_non_string_spec(spec):
    with pytest.raises(TypeError, match=r"parent spec must be a string, got "):
        make_parent(spec)


def test_resolve_parent():
    inst = ScriptedParent()
    assert resolve_parent(inst) is inst
    assert resolve_parent("scripted") is make_parent("scripted")
    with pytest.raises(TypeError, match=r"parent must be a spec string .* got int"):
        resolve_parent(3)


# --------------------------------------------------------------------------- HFParent, tiny LM

WORDS = (
    "the child wants red blue green ball box car give me please , . ? yes no it is a "
    "mom baby look what this called"
).split()
# HFParent generates with stop_strings=["\n"]: transformers' stop-string matcher decodes every
# token after the probe word "abcdef" and needs some token containing a newline, so this
# word-level vocabulary holds both (the whitespace pre-tokenizer never emits the newline token).
WORDS += ["abcdef", "\n"]


def _tiny_lm(arch: str = "llama"):
    """A randomly initialised tiny causal LM and a word-level tokenizer (no download).

    Llama uses rotary (relative) positions, so a uniform position shift cannot change its outputs;
    GPT-2 uses absolute position embeddings, so it also checks the ``position_ids`` of padded rows.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    vocab = {"[PAD]": 0, "[EOS]": 1, "[UNK]": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", eos_token="[EOS]", unk_token="[UNK]"
    )
    torch.manual_seed(0)
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=None,
        )
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(
            vocab_size=len(vocab),
            n_embd=16,
            n_layer=2,
            n_head=2,
            n_positions=128,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=1,
        )
        model = GPT2LMHeadModel(config)
    return model.eval(), tok


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    model, tok = _tiny_lm()
    path = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


PAIRS = [
    ("the child wants the red ball", " red ball"),
    ("give me", " the blue car please ."),
    ("mom", " yes"),
    ("what is this ? it is a", " green box"),
    ("", " look"),  # empty context -> starts from the start token (here EOS)
]


def _reference_logprobs(model, tok, ctx: str, cont: str) -> np.ndarray:
    """Naive reference: one unpadded sequence, full forward pass, log_softmax."""
    c = tok.encode(ctx, add_special_tokens=False) or [tok.eos_token_id]
    x = tok.encode(cont, add_special_tokens=False)
    ids = torch.tensor([c + x])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return np.array([logp[len(c) - 1 + t, x[t]].item() for t in range(len(x))])


def _reference_greedy(model, tok, prompt: str, max_new_tokens: int) -> str:
    ids = tok.encode(prompt, add_special_tokens=False) or [tok.eos_token_id]
    kept = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if nxt in (tok.eos_token_id, tok.pad_token_id):
                break
            kept.append(nxt)
            ids.append(nxt)
    return tok.decode(kept, skip_special_tokens=True).split("\n")[0].strip()


def test_tiny_tokenizer_is_word_level():
    _, tok = _tiny_lm()
    assert tok.encode("the red ball", add_special_tokens=False) == [3, 6, 9]
    assert tok.pad_token_id == 0
    assert tok.eos_token_id == 1


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_hf_parent_score_matches_naive_reference_one_by_one(arch):
    model, tok = _tiny_lm(arch)
    parent = HFParent(model, tokenizer=tok, dtype="float32", cache_size=0)
    for ctx, cont in PAIRS:
        (lp,) = parent.score([ctx], [cont])
        ref = _reference_logprobs(model, tok, ctx, cont)
        assert lp.dtype == np.float64
        assert lp.shape == ref.shape == (len(tok.encode(cont, add_special_tokens=False)),)
        np.testing.assert_allclose(lp, ref, rtol=0, atol=1e-4)
        assert (lp < 0).all()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("max_batch", [64, 2])
def test_hf_parent_batched_scores_equal_single_scores(arch, max_batch):
    model, tok = _tiny_lm(arch)
    batched = HFParent(model, tokenizer=tok, dtype="float32", max_batch=max_batch, cache_size=0)
    single = HFParent(model, tokenizer=tok, dtype="float32", cache_size=0)
    out = batched.score([c for c, _ in PAIRS], [x for _, x in PAIRS])
    assert len(out) == len(PAIRS)
    for (ctx, cont), lp in zip(PAIRS, out, strict=True):
        (one,) = single.score([ctx], [cont])
        np.testing.assert_allclose(lp, one, rtol=0, atol=1e-4)
        ref = _reference_logprobs(model, tok, ctx, cont)
        np.testing.assert_allclose(lp, ref, rtol=0, atol=1e-4)


def test_hf_parent_loaded_from_directory(tiny_dir):
    from transformers import AutoTokenizer, LlamaForCausalLM

    parent = make_parent("hf:" + str(tiny_dir), shared=False, dtype="float32")
    assert isinstance(parent, HFParent)
    assert isinstance(parent, Parent)
    assert parent.label == str(tiny_dir)
    assert parent.dtype == torch.float32
    model = LlamaForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    out = parent.score([c for c, _ in PAIRS], [x for _, x in PAIRS])
    for (ctx, cont), lp in zip(PAIRS, out, strict=True):
        ref = _reference_logprobs(model, tok, ctx, cont)
        np.testing.assert_allclose(lp, ref, rtol=0, atol=1e-4)
    # the saved model is the one built in memory
    mem_model, mem_tok = _tiny_lm()
    mem = HFParent(mem_model, tokenizer=mem_tok, dtype="float32")
    out_mem = mem.score([c for c, _ in PAIRS], [x for _, x in PAIRS])
    for lp, lp_mem in zip(out, out_mem, strict=True):
        np.testing.assert_allclose(lp, lp_mem, rtol=0, atol=1e-5)


def test_hf_parent_score_cache_and_token_counts():
    model, tok = _tiny_lm()
    parent = HFParent(model, tokenizer=tok, dtype="float32")
    (a,) = parent.score(["give me"], [" the red ball"])
    assert parent.stats.scored_tokens == 2 + 3
    a[:] = 0.0
    (b,) = parent.score(["give me"], [" the red ball"])
    assert parent.stats.scored_tokens == 5
    assert (parent.stats.requests, parent.stats.cache_hits) == (2, 1)
    np.testing.assert_allclose(
        b, _reference_logprobs(model, tok, "give me", " the red ball"), rtol=0, atol=1e-4
    )


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_hf_parent_generate_is_deterministic_greedy(arch):
    model, tok = _tiny_lm(arch)
    parent = HFParent(model, tokenizer=tok, dtype="float32", cache_size=0)
    prompts = ["the child wants the", "mom", "what is this ? it is a red"]
    first = parent.generate(prompts, max_new_tokens=5)
    second = parent.generate(prompts, max_new_tokens=5)
    assert first == second
    assert all(isinstance(s, str) for s in first)
    # the reference, cut like every generation before a word said a third time in a row
    assert first == [shorten_repeats(_reference_greedy(model, tok, p, 5)) for p in prompts]
    # batched generation (left-padded) equals generation one prompt at a time
    assert first == [parent.generate([p], max_new_tokens=5)[0] for p in prompts]
    assert parent.stats.generated_tokens > 0


def test_an_opening_is_said_first_and_the_llm_continues_after_it():
    # The prompt's text ends with the opening; the answer is the opening, then the model's greedy
    # continuation of exactly that text (the reference), cached under the prompt like any other.
    model, tok = _tiny_lm()
    parent = HFParent(model, tokenizer=tok, dtype="float32")
    opened = Prompt("what is this ? it is a red", "react_name", opening="red")
    rest = shorten_repeats(_reference_greedy(model, tok, str(opened), 5))
    assert parent.generate([opened], max_new_tokens=5) == [f"red {rest}".strip()]
    assert parent.generate([opened], max_new_tokens=5) == [f"red {rest}".strip()]  # cached
    assert parent.stats.cache_hits == 1
    plain = Prompt("what is this ? it is a red", "react_name")
    assert parent.generate([plain], max_new_tokens=5) == [rest]


def test_avoided_words_and_their_tokens_by_hand():
    assert avoided_words("box") == sorted(
        {"box", "boxs", "boxes", "Box", "Boxs", "Boxes"}
        | {" box", " boxs", " boxes", " Box", " Boxs", " Boxes"}
    )
    texts = ["a", " red", "Red", "redo", " boxes", "box.", " cup"]
    assert avoided_token_ids(texts, "red box") == [1, 2, 4]
    assert avoided_token_ids(texts, "") == []


@pytest.mark.parametrize("decode", ["loop", "generate"])
def test_an_avoided_word_is_never_said(decode):
    # Constrained decoding: the tokens spelling an avoided word are ruled out at every step, the
    # rest is the model's own greedy choice; unconstrained prompts in the same batch are untouched.
    model, tok = _tiny_lm()
    parent = HFParent(model, tokenizer=tok, dtype="float32", cache_size=0, decode=decode)
    text = "what is this ? it is a red"
    free = parent.generate([text], max_new_tokens=6)[0]
    said = [w for w in free.split() if w in WORDS]
    assert said, free  # the tiny model says some vocabulary words here
    avoid = " ".join(dict.fromkeys(said))
    held = Prompt(text, "react_name", avoid=avoid)
    out = parent.generate([held, text], max_new_tokens=6)
    assert not set(out[0].split()) & set(said), (free, out[0])
    assert out[1] == free
    # in a batch whose rows stop at different steps, each row keeps its own constraint
    batch = ["mom", held, "the child wants the", Prompt("give me", "x", avoid="the")]
    assert parent.generate(batch, max_new_tokens=6) == [
        parent.generate([p], max_new_tokens=6)[0] for p in batch
    ]
    sampled = parent.generate([held] * 4, max_new_tokens=6, temperature=1.5, seed=3)
    assert not {w for s in sampled for w in s.split()} & set(said)


def test_the_scripted_parent_says_the_same_words_with_an_opening():
    # Its own verdict words are the openings the envs use, so an opened reaction is word for word
    # the one it said before openings existed.
    fields = {"verdict": "wrong", "said": "What is it?", "shown": "red ball", "word": "blue"}
    bare = Prompt("R.", "react_name", **fields)
    opened = Prompt("R. No.", "react_name", **fields, opening="No.")
    chat = Prompt("C. Hmm,", "chat_reply", line="Hi.", utterance="dog", verdict="does not fit",
                  opening="Hmm,")  # fmt: skip
    given = Prompt("G. Here is the", "react_request", utterance="ball", given="red ball",
                   opening="Here is the")  # fmt: skip
    out = ScriptedParent().generate([bare, opened, chat, given])
    assert out == [
        "No. It is a ball.",
        "No. It is a ball.",
        "Hmm, dog? No.",
        "Here is the red ball.",
    ]


def test_hf_parent_rejects_model_without_tokenizer_and_bad_batch():
    model, tok = _tiny_lm()
    with pytest.raises(ValueError, match=r"pass tokenizer= together with a model object"):
        HFParent(model)
    with pytest.raises(ValueError, match=r"max_batch must be >= 1, got 0"):
        HFParent(model, tokenizer=tok, max_batch=0)
    with pytest.raises(ValueError, match=r"unknown dtype 'float8'"):
        HFParent(model, tokenizer=tok, dtype="float8")


def test_hf_missing_dir_raises_oserror_naming_path(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(OSError, match=re.escape(str(missing))):
        make_parent("hf:" + str(missing), shared=False)


def test_prompt_survives_pickle_and_deepcopy():
    import copy
    import pickle

    from babyworld.parent import Prompt

    p = Prompt("Give me the red ball", "ask_for", object="red ball")
    for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert q == p and q.kind == "ask_for" and q.fields == {"object": "red ball"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Oh no, no no no no no", "Oh no, no"),
        ("Yes, yes, yes, yes, yes,", "Yes, yes"),
        ("Bath, bath!", "Bath, bath!"),
        ("Look, a cat! Do you see the cat?", "Look, a cat! Do you see the cat?"),
        ("", ""),
    ],
)
def test_shorten_repeats_cuts_word_loops(text, expected):
    from babyworld.parent.base import shorten_repeats

    assert shorten_repeats(text) == expected


@pytest.mark.parametrize(
    ("flags", "auto"),
    [({"avx2", "fma"}, torch.float32), ({"avx512f", "avx512_bf16"}, torch.bfloat16)],
)
def test_the_dtype_follows_the_cpu_and_a_slow_forced_one_is_said(monkeypatch, flags, auto):
    """auto: bf16 only with native bf16 products; a half-precision dtype forced without native
    products is kept, with a warning naming the flags it lacks (never a silent slowdown)."""
    from babyworld.parent import cpu

    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    assert cpu.resolve_dtype("auto", "cpu") == cpu.best_cpu_dtype() == auto
    assert cpu.resolve_dtype("auto", "cuda") == torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cpu.resolve_dtype("float32", "cpu") == torch.float32
        assert cpu.resolve_dtype("bfloat16", "cuda") == torch.bfloat16
        if auto == torch.bfloat16:
            assert cpu.resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.warns(UserWarning, match=r"float16 has no native .*amx_fp16, avx512_fp16"):
        assert cpu.resolve_dtype(torch.float16, "cpu") == torch.float16
    if auto == torch.float32:
        with pytest.warns(UserWarning, match=r"bfloat16 has no native .*dtype='auto'"):
            assert cpu.resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'int4'; use one of auto, bfloat16"):
        cpu.resolve_dtype("int4", "cpu")
    model, tok = _tiny_lm()
    parent = HFParent(model, tokenizer=tok, store=False)
    native = "native" if auto == torch.bfloat16 else "no native"
    assert parent.runtime == (
        f"torch {str(auto)[6:]} on cpu (auto: this CPU has {native} bf16), cascade attention, "
        "loop decoding"
    )
    forced = HFParent(model, tokenizer=tok, dtype="float32", attention="expand", store=False)
    assert forced.runtime == (
        "torch float32 on cpu (as requested), prefix expanded to the batch, loop decoding"
    )
