"""The measurements behind ``babyworld bench``: each one small, timed with ``perf_counter``.

Each function returns plain numbers; :mod:`babyworld.experiments.benchmarks.bench` runs them in one process
(plus one fresh process for warm start and peak memory) and writes the table.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.parent import Parent, make_parent

#: label of the stand-in LLM of ``--quick``
TINY = "tiny-random-llama"
_TINY_WORDS = r"[A-Za-z]+|[0-9]+|\n|[^\sA-Za-z0-9]"


def tiny_parent(**kwargs: Any) -> Parent:
    """A tiny randomly initialised Llama (2 layers, width 32) behind the real :class:`HFParent`.

    It exercises the same batching, prefix reuse and caching code as the default parent, in
    milliseconds and with no download. Its word-level tokenizer covers the envs' prompt words
    (one token per word, newline included); its answers are random words.

    Args:
        **kwargs: passed to :class:`~babyworld.parent.hf.HFParent` (``cache_size``, ...).
    """
    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from babyworld.envs import prompts
    from babyworld.parent.hf import HFParent
    from babyworld.text import WordTokenizer

    texts = [v for k, v in vars(prompts).items() if isinstance(v, str) and not k.startswith("__")]
    texts.append(" ".join(WordTokenizer().known))
    words = sorted({w for t in texts for w in re.findall(_TINY_WORDS, t)})
    # "abcdef": transformers' stop-string matcher tokenizes that probe string and needs it whole
    vocab = {"[PAD]": 0, "[EOS]": 1, "[UNK]": 2, "abcdef": 3}
    for w in words:
        vocab.setdefault(w, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(_TINY_WORDS), behavior="removed", invert=True)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", eos_token="[EOS]", unk_token="[UNK]"
    )
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).eval()
    kwargs.setdefault("dtype", "float32")
    return HFParent(model, tokenizer=tok, label=TINY, **kwargs)


def llm_parent(spec: str, quick: bool, **kwargs: Any) -> Parent:
    """The LLM parent of the bench: ``spec`` (a fresh instance), or the tiny stand-in if quick."""
    if quick:
        return tiny_parent(**kwargs)
    return make_parent(spec, shared=False, **kwargs)


def raw_forward(parent: Parent, batch: int, length: int, repeats: int) -> dict[str, float]:
    """Tokens/s of the parent model's batched forward pass alone: the machine's limit.

    Rows are an env prompt's tokens cut to ``length``, all the same, no padding, no cache; only the
    last position is projected to the vocabulary (as in generation's prefill). One untimed warm-up.

    Args:
        parent: an :class:`~babyworld.parent.hf.HFParent`.
        batch: rows per forward pass.
        length: tokens per row.
        repeats: timed forward passes.
    """
    import torch

    from babyworld.envs import prompts
    from babyworld.world import WorldObject

    text = str(
        prompts.react_fetch(
            prompts.ParentView(said="Give me the red ball."), WorldObject("blue", "cup"), False
        )
    )
    ids = list(parent._encode(text * (1 + length // 16)))[:length]  # type: ignore[attr-defined]
    if len(ids) < length:
        raise ValueError(f"the prompt has only {len(ids)} tokens, fewer than {length}")
    x = torch.tensor([ids] * batch, device=parent.device)  # type: ignore[attr-defined]
    model = parent.model  # type: ignore[attr-defined]
    with torch.inference_mode():
        model(input_ids=x, logits_to_keep=1)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(input_ids=x, logits_to_keep=1)
        dt = time.perf_counter() - t0
    return {"batch": batch, "length": length, "tokens_per_s": batch * length * repeats / dt}


def _random_allowed(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(m)) for m in masks])


def env_run(parent: Parent, level: str, n: int, steps: int, seed: int) -> dict[str, float]:
    """Step the native vector env by random allowed actions; time ``steps`` vector steps.

    The envs autoreset in the same step (Gymnasium's ``SAME_STEP``), so the time includes the
    parent calls of new episodes, as in training. One untimed warm-up step first (it builds the
    shared prompt prefixes, which later steps reuse).

    Returns:
        env steps/s; the parent's request tokens/s (prompt + generated + scored tokens, cached
        prefixes included), its computed tokens/s (what the model really ran), the share of the
        wall-clock time spent in model calls, and the exact-request cache's hit rate.
    """
    import gymnasium as gym

    from babyworld.envs import env_id

    envs = gym.make_vec(env_id(level), num_envs=n, parent=parent)
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    envs.step(_random_allowed(rng, envs.action_masks()))
    s0, t0 = parent.stats.as_dict(), time.perf_counter()
    for _ in range(steps):
        envs.step(_random_allowed(rng, envs.action_masks()))
    dt = time.perf_counter() - t0
    s1 = parent.stats.as_dict()
    envs.close()
    d = {k: s1[k] - s0[k] for k in s0}
    return {
        "num_envs": n,
        "steps": steps * n,
        "seconds": dt,
        "steps_per_s": steps * n / dt,
        "parent_tokens_per_s": d["tokens"] / dt,
        "computed_tokens_per_s": d["computed_tokens"] / dt,
        "parent_seconds_share": d["seconds"] / dt,
        "hit_rate": d["cache_hits"] / d["requests"] if d["requests"] else 0.0,
    }


def repeated_scenes(parent: Parent, level: str, n: int, episodes: int, seed: int) -> float:
    """Hit rate of the exact-request cache when the same ``episodes`` scenes come back.

    The envs (autoreset off) play ``episodes`` episodes from seed ``seed``, with actions from one
    random stream; then the same episodes again, reset with the same seeds and the same actions.
    Returns the hit rate over the whole workload (first pass included). A greedy parent answers
    the same request the same way, so the second pass is answered from the cache.
    """
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    from babyworld.envs import env_id

    envs = gym.make_vec(
        env_id(level), num_envs=n, parent=parent, autoreset_mode=AutoresetMode.DISABLED
    )
    s0 = parent.stats.as_dict()
    for _ in range(2):
        rng = np.random.default_rng(seed)
        for ep in range(episodes):
            envs.reset(seed=seed + ep * n)
            done = np.zeros(n, dtype=bool)
            while not done.all():  # Point and Name episodes end together (fixed exchanges)
                _, _, term, trunc, _ = envs.step(_random_allowed(rng, envs.action_masks()))
                done = term | trunc
    s1 = parent.stats.as_dict()
    envs.close()
    requests = s1["requests"] - s0["requests"]
    return (s1["cache_hits"] - s0["cache_hits"]) / requests if requests else 0.0


def single_env_steps(make: Callable[[], Any], steps: int, seed: int, masked: bool) -> float:
    """Steps/s of one Gymnasium env stepped by random (allowed) actions, resets included."""
    env = make()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        if masked:
            a = int(rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
        else:
            a = int(rng.integers(env.action_space.n))
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def minigrid_steps(steps: int, seed: int) -> float | None:
    """Steps/s of ``BabyAI-GoToLocal-v0`` by random actions; ``None`` if minigrid is missing.

    Minigrid prints a line for each rejected level layout; that output is swallowed.
    """
    try:
        import gymnasium as gym
        import minigrid  # noqa: F401  (registers the BabyAI ids)
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        return single_env_steps(lambda: gym.make("BabyAI-GoToLocal-v0"), steps, seed, False)


def trainer_samples(level: str, n: int, rollout: int, iters: int, seed: int) -> float:
    """Samples/s of ``PPOTrainer`` (collect + update, default student) with the scripted parent."""
    from babyworld.agents.ppo import PPOConfig, PPOTrainer
    from babyworld.agents.student import StudentConfig
    from babyworld.vector import make_envs

    envs = make_envs(level, n, make_parent("scripted", shared=False))
    trainer = PPOTrainer(envs, StudentConfig(), PPOConfig(rollout_steps=rollout), seed, 10**9)
    t0 = time.perf_counter()
    for _ in range(iters):
        trainer.collect()
        trainer.update()
    dt = time.perf_counter() - t0
    envs.close()
    return n * rollout * iters / dt


_CHILD = (
    "import sys, time; t0 = time.perf_counter(); "
    "from babyworld.experiments.benchmarks.measure import child; child(t0, sys.argv[1])"
)


def peak_rss() -> int:
    """This process's resident-memory high-water mark in bytes.

    ``VmHWM`` of ``/proc/self/status`` where it exists: unlike ``ru_maxrss``, it is not carried
    over from the forked copy of the parent process across ``exec``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(t0: float, args: str) -> None:
    """Body of the fresh process of :func:`fresh_process`; prints its figures as JSON."""
    import gc

    import torch

    a = json.loads(args)
    torch.set_num_threads(a["threads"])
    t1 = time.perf_counter()
    parent = llm_parent(a["parent"], a["quick"], cache_size=0)
    t2 = time.perf_counter()
    del parent
    gc.collect()
    t3 = time.perf_counter()
    parent = llm_parent(a["parent"], a["quick"], cache_size=0)
    t4 = time.perf_counter()
    run = env_run(parent, a["level"], 64, a["steps"], a["seed"])
    figures = {"load_s": t2 - t1, "start_s": t2 - t0, "reload_s": t4 - t3}
    what = {"label": parent.label, "runtime": parent.runtime}
    print(json.dumps({**figures, **what, "peak_rss": peak_rss(), "run": run}))


def fresh_process(
    parent: str, quick: bool, level: str, threads: int, seed: int, steps: int
) -> dict[str, Any]:
    """Warm start and peak memory of the LLM parent with 64 envs, in a fresh Python process.

    The converted model cache must already exist (the bench has loaded the parent before), so
    this is a warm start. Returns ``load_s`` (building the parent, ``torch`` already imported:
    the first use of ``transformers`` imports most of it, and that is included), ``start_s``
    (from process start to a usable parent, every import included), ``reload_s`` (building it
    again in the same process: files and model only), ``peak_rss`` (bytes, the process's
    high-water mark after a reset, a warm-up step and ``steps`` steps of 64 envs), and the
    parent's ``label`` and ``runtime``.
    """
    args = json.dumps(
        {
            "parent": parent,
            "quick": quick,
            "level": level,
            "threads": threads,
            "seed": seed,
            "steps": steps,
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark's child process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


#: stages of one env step's profile, in the order of the table
PROFILE_STAGES = (
    "tokenize",
    "prompt building",
    "prefix",
    "prefill",
    "decode",
    "score",
    "post",
    "store",
    "env Python",
)


def step_profile(parent: Parent, level: str, n: int, steps: int, seed: int) -> dict[str, Any]:
    """Where one env step's wall-clock time goes, stage by stage (native vector env, N = ``n``).

    Stages: ``tokenize`` (the parent's tokenizer), ``prompt building`` (the envs' judge frames and
    prompts), ``prefix`` (grouping by shared prefix and building stored prefixes), ``prefill`` and
    ``decode`` (generation: the prompt's forward pass, then the per-token loop), ``score`` (the
    scoring forward passes), ``post`` (log-softmax, gathers, detokenising), ``store`` (the answer
    store), ``env Python`` (everything else: observations, rewards, estimators, the baby's
    tokenizer, batching, resets and the parent's cache lookups). Engines that do not separate
    prefill from decode (CTranslate2) report generation as ``decode``.

    Returns:
        ``seconds`` (wall-clock of ``steps`` vector steps), ``steps_per_s``, the parent's request
        and computed tokens/s (as :func:`env_run`), ``stages`` (seconds per stage) and
        ``shares`` (fractions of the wall-clock time).
    """
    import gymnasium as gym

    from babyworld.envs import env_id

    envs = gym.make_vec(env_id(level), num_envs=n, parent=parent)
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    envs.step(_random_allowed(rng, envs.action_masks()))
    vec = envs.unwrapped if hasattr(envs, "unwrapped") else envs
    p0, e0, s0 = dict(parent.timings), dict(vec.timings), parent.stats.store_seconds
    c0 = parent.stats.as_dict()
    t0 = time.perf_counter()
    for _ in range(steps):
        envs.step(_random_allowed(rng, envs.action_masks()))
    dt = time.perf_counter() - t0
    p1, e1, c1 = parent.timings, vec.timings, parent.stats.as_dict()
    envs.close()
    dp = {k: p1.get(k, 0.0) - p0.get(k, 0.0) for k in p1}
    de = {k: e1.get(k, 0.0) - e0.get(k, 0.0) for k in e1}
    stages = {k: dp.get(k, 0.0) for k in ("tokenize", "prefix", "prefill", "decode", "score")}
    stages["post"] = dp.get("post", 0.0)
    stages["prompt building"] = de.get("frames", 0.0) + de.get("prompts", 0.0)
    stages["store"] = parent.stats.store_seconds - s0
    stages["env Python"] = max(0.0, dt - sum(stages.values()))
    stages = {k: stages[k] for k in PROFILE_STAGES}
    return {
        "num_envs": n,
        "seconds": dt,
        "steps_per_s": n * steps / dt,
        "parent_tokens_per_s": (c1["tokens"] - c0["tokens"]) / dt,
        "computed_tokens_per_s": (c1["computed_tokens"] - c0["computed_tokens"]) / dt,
        "stages": stages,
        "shares": {k: v / dt for k, v in stages.items()},
    }


def tiny_ct2_parent(directory: Path, **kwargs: Any) -> Parent:
    """The tiny stand-in LLM of :func:`tiny_parent`, converted for CTranslate2 into ``directory``.

    The same weights and tokenizer run by the ``ct2`` path, for CI (a second or two).
    """
    from babyworld.parent.ct2 import CT2Parent, convert

    torch_dir, ct2_dir = directory / "torch", directory / "ct2"
    if not (ct2_dir / "model.bin").is_file():
        tiny = tiny_parent(store=False)
        tiny.model.config.bos_token_id = 1  # type: ignore[attr-defined]  # CTranslate2 needs one
        tiny.tokenizer.bos_token = "[EOS]"  # type: ignore[attr-defined]
        tiny.model.save_pretrained(torch_dir)  # type: ignore[attr-defined]
        tiny.tokenizer.save_pretrained(torch_dir)  # type: ignore[attr-defined]
        convert(torch_dir, ct2_dir, "float32")
    kwargs.setdefault("compute_type", "float32")
    return CT2Parent(ct2_dir, label=f"{TINY}-ct2", **kwargs)


def store_second_run(
    parent_factory: Callable[..., Parent], level: str, n: int, steps: int, seed: int, path: Path
) -> dict[str, float]:
    """The same env run twice, each time by a fresh parent over one answer store at ``path``.

    The memory cache is off (``cache_size=0``), so every request of the second run goes to the
    store. Returns the second run's store hit rate, its computed tokens and requests, and both
    runs' steps/s.
    """
    out: dict[str, float] = {}
    for run in ("first", "second"):
        parent = parent_factory(cache_size=0, store=path)
        r = env_run(parent, level, n, steps, seed)
        s = parent.stats
        out[f"{run}_steps_per_s"] = r["steps_per_s"]
        out[f"{run}_computed_tokens"] = s.computed_tokens
        out[f"{run}_requests"] = s.requests
        out[f"{run}_store_hit_rate"] = s.store_hit_rate
        if parent.store is not None:
            parent.store.close()
        del parent
    return out
