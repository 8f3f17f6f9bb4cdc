"""Every parent path at a small size: torch generate, the plain greedy loop, CTranslate2.

The tiny randomly initialised Llama of the bench is run by each path on real env prompts; the
paths must give the same answers (the loop exactly, CTranslate2 fp32 to float tolerance), and bad
engine input must fail with a message that names the torch path.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from babyworld.envs import prompts
from babyworld.experiments.benchmarks.measure import tiny_ct2_parent, tiny_parent
from babyworld.parent import Prompt, make_parent
from babyworld.parent.ct2 import CT2Error, CT2Parent, check_default, convert
from babyworld.parent.factory import check_spec, split_options
from babyworld.parent.judge_eval import evaluate_judge, judge_agreement
from babyworld.world import WorldObject

pytest.importorskip("ctranslate2")


def _prompts() -> list[str]:
    objs = [WorldObject(c, s) for c in ("red", "blue", "green") for s in ("ball", "cup", "key")]
    out = [str(prompts.ask_for(o)) for o in objs]
    out += [
        str(prompts.react_fetch(prompts.ParentView(said=f"Give me the {a.name}."), b, a == b))
        for a in objs[:4]
        for b in objs[3:6]
    ]
    out += [str(prompts.ask_attribute(a)) for a in ("shape", "color")]
    return out


@pytest.fixture(scope="module")
def ct2_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ct2")
    tiny_ct2_parent(root, store=False)
    return root


def test_split_options_parses_values():
    assert split_options("smollm2") == ("smollm2", {})
    assert split_options("smollm2?dtype=float32&decode=loop&max_batch=8&prefix_cache=false") == (
        "smollm2",
        {"dtype": "float32", "decode": "loop", "max_batch": 8, "prefix_cache": False},
    )
    assert split_options("openai:http://h/v1?x=1#m") == ("openai:http://h/v1?x=1#m", {})
    with pytest.raises(ValueError, match="key=value"):
        split_options("ct2?threads")
    assert check_spec("ct2?compute_type=float32") == "ct2?compute_type=float32"
    assert check_spec("ct2:/some/dir") == "ct2:/some/dir"
    with pytest.raises(ValueError, match="unknown parent spec"):
        check_spec("ct3")


def test_greedy_loop_equals_generate():
    texts = _prompts()
    a = tiny_parent(cache_size=0, store=False, decode="generate").generate(texts, max_new_tokens=12)
    loop = tiny_parent(cache_size=0, store=False)  # the default
    assert loop.decode == "loop"
    b = loop.generate(texts, max_new_tokens=12)
    assert a == b
    assert {"tokenize", "prefill", "decode"} <= set(loop.timings)
    with pytest.raises(ValueError, match="decode must be"):
        tiny_parent(decode="beam")


def test_decode_mode_is_part_of_the_store_key():
    a = tiny_parent(store=False, decode="generate").model_key()
    b = tiny_parent(store=False).model_key()
    assert a.key != b.key and b.description["decode"] == "loop"


def test_ct2_fp32_equals_torch_fp32(ct2_dir):
    texts = _prompts()
    torch_parent = tiny_parent(cache_size=0, store=False)
    engine = CT2Parent(
        ct2_dir / "ct2", compute_type="float32", threads=1, cache_size=0, store=False
    )
    assert engine.generate(texts, max_new_tokens=12) == torch_parent.generate(
        texts, max_new_tokens=12
    )
    contexts, conts = texts[:6], [" red ball", " cup", " blue", " key", " green cup", " ball"]
    for x, y in zip(
        engine.score(contexts, conts), torch_parent.score(contexts, conts), strict=True
    ):
        assert x.shape == y.shape and x.dtype == np.float64
        np.testing.assert_allclose(x, y, atol=1e-4)
    # shared few-shot scripts went to the engine as cached static prompts
    assert engine.stats.prefix_hit_tokens > 0 and engine.stats.prefix_built_tokens > 0
    assert engine.stats.generated_tokens > 0 and engine.stats.scored_tokens > 0
    # constrained decoding (a Prompt's ``avoid``): both engines rule out the same tokens, here
    # the words the random model said most without it, in two sets on alternate prompts (the
    # CTranslate2 engine decodes one call per set and puts the answers back in their rows)
    free = [w.lower() for s in torch_parent.generate(texts, max_new_tokens=12) for w in s.split()]
    top = [w for w, _ in Counter(filter(str.isalpha, free)).most_common(6)]
    sets = (" ".join(top[:3]), " ".join(top[3:]))
    held = [Prompt(t, "test", avoid=sets[i % 2]) for i, t in enumerate(texts)]
    said = engine.generate(held, max_new_tokens=12)
    assert said == torch_parent.generate(held, max_new_tokens=12)
    assert len(top) == 6 and all(
        not {w.lower() for w in s.split()} & set(sets[i % 2].split()) for i, s in enumerate(said)
    )


def test_ct2_store_key_names_engine_and_compute_type(ct2_dir):
    a = CT2Parent(ct2_dir / "ct2", compute_type="float32", store=False).model_key()
    b = CT2Parent(ct2_dir / "ct2", compute_type="int8", store=False).model_key()
    c = tiny_parent(store=False).model_key()
    assert len({a.key, b.key, c.key}) == 3
    assert a.description["engine"] == "ctranslate2" and b.description["compute_type"] == "int8"


def test_ct2_spec_with_options(ct2_dir):
    p = make_parent(f"ct2:{ct2_dir / 'ct2'}?compute_type=float32&threads=1", shared=False)
    assert isinstance(p, CT2Parent) and p.compute_type == "float32"


def test_ct2_bad_input_names_the_torch_path(ct2_dir, tmp_path):
    with pytest.raises(CT2Error, match="no CTranslate2 model directory.*--parent hf:"):
        CT2Parent(tmp_path / "missing")
    with pytest.raises(CT2Error, match="Hugging Face model.*--parent hf:"):
        CT2Parent(ct2_dir / "torch")  # a torch model directory, not converted
    # a tokenizer of another vocabulary beside the model
    other = tmp_path / "other"
    other.mkdir()
    for f in (ct2_dir / "ct2").iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    tok = json.loads((other / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[4:6]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    vocab["zzz-extra"] = len(vocab)
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(CT2Error, match="does not belong to the model.*--parent"):
        CT2Parent(other)
    with pytest.raises(ValueError, match="compute_type"):
        CT2Parent(ct2_dir / "ct2", compute_type="float16")


def test_ct2_convert_refuses_what_it_cannot_run(ct2_dir, tmp_path):
    from transformers import MambaConfig, MambaForCausalLM

    src = tmp_path / "mamba"  # a causal LM transformers runs and CTranslate2 cannot
    MambaForCausalLM(
        MambaConfig(vocab_size=64, hidden_size=8, state_size=4, num_hidden_layers=1)
    ).save_pretrained(src)
    (src / "tokenizer.json").write_bytes((ct2_dir / "torch" / "tokenizer.json").read_bytes())
    with pytest.raises(CT2Error, match=r"(?s)cannot convert.*--parent hf:"):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (src / "tokenizer.json").unlink()
    with pytest.raises(CT2Error, match="no tokenizer.json"):
        convert(src, tmp_path / "out")


def test_ct2_default_refuses_a_conversion_of_another_model(ct2_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BABYWORLD_CACHE", str(tmp_path))
    from babyworld.parent.smollm2 import cache_dir

    fake = cache_dir()
    fake.mkdir(parents=True)
    (fake / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(CT2Error, match="holds another model.*--parent smollm2"):
        check_default(ct2_dir / "ct2")


def test_judge_agreement_with_itself_is_one():
    scripted = make_parent("scripted", shared=False)
    decisions: list = []
    report = evaluate_judge(scripted, "Point", 5, 0, decisions=decisions)
    assert len(decisions) == 5 and report.top1 == 1.0
    a = judge_agreement(scripted, make_parent("scripted", shared=False), "Name", 4, 0)
    assert (a.agreement, a.same_frames, a.items) == (1.0, 1.0, 4)
    b = judge_agreement(
        tiny_parent(store=False), tiny_parent(store=False, decode="generate"), "Request", 2, 0
    )
    assert b.agreement == 1.0 and b.same_frames == 1.0 and b.items > 2
