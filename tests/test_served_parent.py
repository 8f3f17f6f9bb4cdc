"""The served parent (``openai:`` spec) against a FAKE OpenAI-compatible server on loopback.

The fake server (tests/openai_fake.py) runs a tiny random transformers model naively, so the
served parent's protocol — tokenisation, token-id prompts, reading ``prompt_logprobs``, chunking,
concurrency, errors — is checked against the in-process parent on the same model. The real vLLM
server is exercised in tests/test_served_vllm.py.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from openai_fake import FakeServer
from test_parent_unit import PAIRS, _tiny_lm

from babyworld import make_parent
from babyworld.parent import Prompt
from babyworld.parent.hf import HFParent
from babyworld.parent.served import OpenAIParent, ParentServerError, parse_spec
from babyworld.parent.vocab import avoided_token_ids


@pytest.fixture(scope="module")
def tiny():
    return _tiny_lm()


@pytest.fixture(scope="module")
def server(tiny):
    s = FakeServer(*tiny)
    yield s
    s.close()


@pytest.fixture(scope="module")
def local(tiny):
    model, tok = tiny
    return HFParent(model, tokenizer=tok, dtype="float32", prefix_cache=False, cache_size=0)


def test_parse_spec():
    assert parse_spec("openai:http://127.0.0.1:8000/v1#smollm2") == (
        "http://127.0.0.1:8000/v1",
        "smollm2",
    )
    for bad in ("openai:http://127.0.0.1:8000/v1", "openai:#m", "openai:localhost:8000/v1#m"):
        with pytest.raises(ValueError, match="write 'openai:<base url>#<model name>'"):
            parse_spec(bad)


def test_scores_match_the_in_process_parent(server, local):
    served = OpenAIParent(server.url, "tiny", cache_size=0)
    pairs = [p for p in PAIRS if p[0]]
    got = served.score([c for c, _ in pairs], [x for _, x in pairs])
    want = local.score([c for c, _ in pairs], [x for _, x in pairs])
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float64 and g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=1e-4)
    # one request per pair's token-id prompt: the context's ids, then the continuation's
    body = server.requests[-1]
    assert body["max_tokens"] == 1 and body["prompt_logprobs"] == 0
    assert served.stats.scored_tokens == sum(len(p) for p in body["prompt"])


def test_generation_matches_the_in_process_parent(server, local):
    served = OpenAIParent(server.url, "tiny", cache_size=0)
    prompts = ["the child wants the red ball", "give me", "what is this ? it is a"]
    assert served.generate(prompts, max_new_tokens=6) == local.generate(prompts, max_new_tokens=6)
    body = server.requests[-1]
    assert body["stop"] == ["\n"] and body["temperature"] == 0.0 and body["max_tokens"] == 6


def test_avoided_words_go_to_the_server_as_a_logit_bias(server, local):
    # a Prompt's ``avoid``: one request per distinct set, a logit_bias of -100 on each token that
    # spells an avoided word alone (the tokens the in-process parent masks)
    served = OpenAIParent(server.url, "tiny", cache_size=0)
    text = "what is this ? it is a"
    said = [w for w in local.generate([text], max_new_tokens=6)[0].split() if w.isalpha()]
    held = Prompt(text, "react_name", avoid=" ".join(dict.fromkeys(said)))
    n0 = len(server.requests)
    got = served.generate([held, text], max_new_tokens=6)
    assert got == local.generate([held, text], max_new_tokens=6)
    assert not set(got[0].split()) & set(said)
    bodies = server.requests[n0:]  # sent concurrently: in either order
    banned = avoided_token_ids(local._vocabulary()[0].texts, held.fields["avoid"])
    assert banned and sorted(str(b.get("logit_bias")) for b in bodies) == sorted(
        [str({str(i): -100 for i in banned}), "None"]
    )


def test_batches_are_chunked_and_sent_concurrently(server, local):
    served = OpenAIParent(server.url, "tiny", chunk_size=2, concurrency=4, cache_size=0)
    ctx = [f"give me the {w} ball" for w in ("red", "blue", "green", "red", "blue")] * 2
    cont = [" yes", " no", " mom", " ball", " car", " box", " red", " blue", " green", " please"]
    n0, server.max_in_flight = len(server.requests), 0
    got = served.score(ctx, cont)
    assert len(server.requests) - n0 == 5  # 10 prompts in chunks of 2
    assert all(len(b["prompt"]) == 2 for b in server.requests[n0:])
    assert server.max_in_flight > 1  # the chunks overlapped at the server
    for g, w in zip(got, local.score(ctx, cont), strict=True):  # and came back in order
        np.testing.assert_allclose(g, w, atol=1e-4)


def test_make_parent_spec_and_an_env_episode(server):
    from babyworld.envs.point import PointEnv

    parent = make_parent(f"openai:{server.url}#tiny", shared=False)
    assert isinstance(parent, OpenAIParent) and parent.label == "served:tiny"
    env = PointEnv(parent=parent)
    obs, info = env.reset(seed=0)
    for _ in range(4):
        obs, r, term, trunc, info = env.step(0)
    assert term and np.isfinite(r) and parent.stats.requests > 0


def test_unreachable_server_is_named():
    t0 = time.perf_counter()
    with pytest.raises(ParentServerError) as e:
        OpenAIParent("http://127.0.0.1:9/v1", "m", max_retries=1, timeout=2)
    msg = str(e.value)
    assert "parent server http://127.0.0.1:9/v1: cannot connect for /models" in msg
    assert "babyworld serve-parent" in msg
    assert time.perf_counter() - t0 < 30


def test_wrong_model_name_lists_the_served_ones(server):
    with pytest.raises(ValueError) as e:
        OpenAIParent(server.url, "smollm2")
    assert str(e.value).startswith(f"parent server {server.url} serves ['tiny'], not 'smollm2'")


def test_an_endpoint_without_prompt_logprobs_is_refused(tiny):
    plain = FakeServer(*tiny, prompt_logprobs=False)
    try:
        served = OpenAIParent(plain.url, "tiny")
        with pytest.raises(ParentServerError, match="returned no prompt log-probabilities"):
            served.score(["give me"], [" the ball"])
    finally:
        plain.close()


def test_a_stuck_server_times_out_with_a_message(tiny):
    slow = FakeServer(*tiny)
    slow.delay = 3.0
    try:
        served = OpenAIParent(slow.url, "tiny", timeout=0.5, max_retries=0)
        t0 = time.perf_counter()
        with pytest.raises(ParentServerError, match=r"timed out after 0\.5 s"):
            served.generate(["give me"])
        assert time.perf_counter() - t0 < 3.0
    finally:
        slow.close()


def test_an_empty_context_is_refused_when_the_tokenizer_has_no_start(server):
    served = OpenAIParent(server.url, "tiny")
    with pytest.raises(ValueError, match="cannot score or continue an empty context"):
        served.score([""], [" look"])


def test_bad_arguments():
    for kwargs, msg in (
        ({"timeout": 0}, "timeout must be > 0 seconds, got 0"),
        ({"max_retries": -1}, "max_retries must be >= 0, got -1"),
        ({"chunk_size": 0}, "chunk_size and concurrency must be >= 1, got 0 and 8"),
    ):
        with pytest.raises(ValueError, match=msg):
            OpenAIParent("http://127.0.0.1:9/v1", "m", check=False, **kwargs)


# --- babyworld serve-parent --------------------------------------------------------------------


def test_serve_parent_prints_the_vllm_command(tmp_path, capsys):
    from babyworld.experiments.cli import main

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    main(
        ["serve-parent", "--model", str(model), "--port", "8123", "--python", "/py", "--print-only"]
    )
    cmd, spec = capsys.readouterr().out.splitlines()
    assert cmd == (
        f"/py -m vllm.entrypoints.openai.api_server --model {model} --host 127.0.0.1 "
        "--port 8123 --dtype bfloat16 --served-model-name smollm2 --gpu-memory-utilization 0.15 "
        "--max-model-len 2048 --enforce-eager"
    )
    assert spec == "parent spec: openai:http://127.0.0.1:8123/v1#smollm2"
    assert parse_spec(spec.split(": ", 1)[1]) == ("http://127.0.0.1:8123/v1", "smollm2")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "/nonexistent"], "--model /nonexistent is not a model directory"),
        (["--memory-fraction", "1.5"], "--memory-fraction must be in (0, 1], got 1.5"),
        (["--python", "/no/python"], "no Python with vLLM at /no/python"),
    ],
)
def test_serve_parent_bad_input(tmp_path, capsys, args, message):
    from babyworld.experiments.cli import main

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as e:
        main(["serve-parent", "--model", str(model), *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_a_server_killed_and_restarted_mid_run_is_waited_for(tiny, local):
    """The served parent retries with backoff: a server that comes back within them is waited
    for and the answers go on, equal to the in-process parent's."""
    import threading

    first = FakeServer(*tiny)
    port = first.httpd.server_address[1]
    served = OpenAIParent(first.url, "tiny", max_retries=6, timeout=10)
    env = make_parent(f"openai:{first.url}#tiny", shared=False, max_retries=6, timeout=10)
    assert served.score(["give me"], [" the ball"])
    first.close()  # killed mid-run
    later: list[FakeServer] = []
    restart = threading.Timer(1.5, lambda: later.append(FakeServer(*tiny, port=port)))
    restart.start()
    try:
        t0 = time.perf_counter()
        got = served.score(["give me the"], [" red cup"])  # asked while the server is down
        assert time.perf_counter() - t0 >= 1.0  # it waited for the server
        np.testing.assert_allclose(got[0], local.score(["give me the"], [" red cup"])[0], atol=1e-4)
        assert env.generate(["hello"])  # and so does a parent made from the spec
    finally:
        restart.cancel()
        for s in later:
            s.close()


def test_a_run_whose_server_stays_down_stops_resumable(tiny, tmp_path):
    """Past its retries a run stops with its last checkpoint and says how to go on; with the
    server back, --resume ends the run."""
    from babyworld.agents.ppo import PPOConfig
    from babyworld.agents.student import StudentConfig
    from babyworld.experiments.config import TrainConfig
    from babyworld.experiments.train import train

    first = FakeServer(*tiny)
    port, run = first.httpd.server_address[1], tmp_path / "run"
    cfg = TrainConfig(
        parent=f"openai:{first.url}#tiny", steps=2 * 16, num_envs=2, out=run, checkpoint_every=1,
        student=StudentConfig(d_model=16, n_heads=2, history=2, latent_dim=4, word_dim=4),
        ppo=PPOConfig(rollout_steps=8, epochs=1),
    )  # fmt: skip
    kill = lambda step, success: first.close() if step == 16 else None  # noqa: E731
    with pytest.raises(
        ParentServerError,
        match=f"once the server answers again and continue with babyworld train --resume {run}",
    ):
        train(cfg, progress=False, on_update=kill)
    back = FakeServer(*tiny, port=port)
    try:
        done = train(TrainConfig(resume=run), progress=False)
    finally:
        back.close()
    assert json.loads((done / "summary.json").read_text())["steps"] == 2 * 16
