"""Smoke test of ``babyworld bench --quick`` (no timing assertions) and its pure helpers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from babyworld.experiments.benchmarks.bench import markdown, simd_level, targets
from babyworld.experiments.benchmarks.config import PATHS, BenchConfig
from babyworld.experiments.benchmarks.measure import PROFILE_STAGES, TINY, tiny_parent
from babyworld.experiments.cli import main

KEYS = {
    "raw_tokens_per_s",
    "parent_ratio",
    "computed_ratio",
    "parent_ratio_no_prefix_reuse",
    "prefix_speedup",
    "env_steps_per_s",
    "parent_tokens_per_s",
    "computed_tokens_per_s",
    "hit_rate_repeated",
    "hit_rate_repeated_scripted",
    "scripted_steps_per_s",
    "scripted_vector64_steps_per_s",
    "minigrid_steps_per_s",
    "scripted_vs_minigrid",
    "trainer_samples_per_s",
    "warm_start_s",
    "start_to_parent_s",
    "peak_rss_gb",
    "machine",
    "llm_parent",
    "rows",
    "targets",
    "paths",
    "profile",
    "store_second_run",
    "store_second_run_hit_rate",
}


def test_bench_quick_writes_json_and_markdown(tmp_path, capsys):
    threads = torch.get_num_threads()
    out = tmp_path / "bench"
    main(["bench", "--quick", "--out", str(out)])
    assert torch.get_num_threads() == threads  # restored after the run
    result = json.loads((out / "bench.json").read_text())
    assert KEYS <= set(result)
    assert result["quick"] is True and result["llm_parent"] == TINY and result["threads"] == 1
    assert set(result["env_steps_per_s"]) == {"1", "8", "64"}
    for key in ("raw_tokens_per_s", "parent_ratio", "computed_ratio", "trainer_samples_per_s"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert math.isfinite(result["peak_rss_gb"]) and result["peak_rss_gb"] > 0
    for v in result["env_steps_per_s"].values():
        assert math.isfinite(v) and v > 0
    # the second pass over the same scenes is answered from the cache
    assert 0.5 <= result["hit_rate_repeated"] <= 1
    assert 0.5 <= result["hit_rate_repeated_scripted"] <= 1
    # every parent path ran at N = 8 and 64 and was compared with the torch fp32 judge
    assert list(result["paths"]) == list(PATHS)
    assert result["paths"]["ct2"]["label"] == f"{TINY}-ct2"
    for row in result["paths"].values():
        assert row["steps_per_s_8"] > 0 and row["steps_per_s_64"] > 0
        assert 0 <= row["agreement"] <= 1 and row["agreement_items"] > 0
    assert result["paths"][PATHS[0]]["ratio_64"] == 1.0
    # the profile's stages add up to the step's wall-clock time
    for prof in result["profile"].values():
        assert set(prof["stages"]) == set(PROFILE_STAGES)
        assert sum(prof["stages"].values()) == pytest.approx(prof["seconds"], rel=1e-6)
        assert prof["stages"]["score"] > 0 and prof["stages"]["tokenize"] > 0
    # a second identical run over the same store computes nothing
    second = result["store_second_run"]
    assert result["store_second_run_hit_rate"] == 1.0 and second["second_computed_tokens"] == 0
    assert second["first_computed_tokens"] > 0
    assert second["first_requests"] == second["second_requests"]
    for row in result["rows"]:
        assert row["parent"]  # every row says which parent it used
        assert row["value"] is None or (math.isfinite(row["value"]) and row["value"] > 0)
    assert any(row["parent"] == TINY for row in result["rows"])
    # make demo's first update ran in a fresh process (the scripted parent with --quick): the
    # wall-clock to its first metrics row holds the run's own clock and is held by the whole
    # job's (which also evaluates at the end), and only the scripted key is filled
    first = result["demo_first_update_s_scripted"]
    assert 0 < result["demo_first_update_run_s"] < first < result["demo_job_wall_s"]
    assert "demo_first_update_s" not in result
    assert result["targets"]["demo_first_update_s"]["value"] is None
    # minigrid is a benchmark-only extra: its row is skipped, not a crash, when it is missing
    assert (result["minigrid_steps_per_s"] is None) == (result["scripted_vs_minigrid"] is None)
    # a quick run (tiny sizes, a stand-in parent) judges no target
    assert all(t["met"] is None for t in result["targets"].values())
    table = (out / "bench.md").read_text()
    assert "| measure | parent | value | unit | note |" in table and "parent_ratio" in table
    assert TINY in table
    assert "bench.json" in capsys.readouterr().out


def test_tiny_parent_tokenizes_env_prompts_into_known_words():
    from babyworld.envs import prompts
    from babyworld.world import WorldObject

    parent = tiny_parent(cache_size=0)
    text = str(
        prompts.react_fetch(
            prompts.ParentView(said="Give me the red ball."), WorldObject("blue", "cup"), True
        )
    )
    ids = parent.tokenizer.encode(text, add_special_tokens=False)
    assert parent.tokenizer.unk_token_id not in ids
    assert len(parent._newline_ids) == 1  # generation can stop at a newline
    said = parent.generate(["Toy: red ball. Mom:"] * 3, max_new_tokens=4)
    assert len(said) == 3 and said[0] == said[1] == said[2]


def test_targets_verdicts():
    figures = {"parent_ratio": 0.9, "scripted_vs_minigrid": None, "warm_start_s": 3.0}
    t = targets(figures)
    assert t["parent_ratio"]["met"] is True
    assert t["scripted_vs_minigrid"]["met"] is None
    assert t["warm_start_s"]["met"] is False
    assert t["peak_rss_gb"]["met"] is None
    assert targets({"peak_rss_gb": 1.0})["peak_rss_gb"]["met"] is True
    assert targets(figures, judged=False)["parent_ratio"]["met"] is None
    assert targets({"parent_ratio": math.nan})["parent_ratio"]["met"] is None
    assert targets({"demo_first_update_s": 19.0})["demo_first_update_s"]["met"] is True
    assert targets({"demo_first_update_s": 29.0})["demo_first_update_s"]["met"] is False
    assert targets({"warm_start_s": 0.9})["warm_start_s"]["met"] is True
    # a target per CPU kind: 1,200 samples/s meets AVX2's 1,000, not AVX-512's 1,500
    ppo = {"trainer_samples_per_s": 1200.0}
    assert targets(ppo, simd="AVX2")["trainer_samples_per_s"]["met"] is True
    assert targets(ppo, simd="AVX-512")["trainer_samples_per_s"]["met"] is False
    assert targets(ppo, simd="AVX2")["trainer_samples_per_s"]["threshold"] == 1000.0
    for kind in ("no AVX2", None):  # a machine of neither kind, or a caller that did not say
        none = targets(ppo, simd=kind)["trainer_samples_per_s"]
        assert none["met"] is None and none["threshold"] is None
    assert targets({"warm_start_s": 1.0})["warm_start_s"]["met"] is False  # < 1 s, strictly


def test_markdown_lists_rows_and_targets():
    result = {
        "quick": True,
        "level": "Point",
        "parent_runtime": "torch float32 on cpu (as requested)",
        "llm_parent": TINY,
        "threads": 1,
        "machine": {"cpu": "cpu", "cores": 2, "torch_threads": 2, "simd": "AVX2", "bf16_matmul": 0},
        "rows": [
            {"measure": "m", "parent": "scripted", "value": 2.0, "unit": "x", "note": ""},
            {"measure": "n", "parent": "none", "value": None, "unit": "x", "note": "missing"},
        ],
        "targets": targets({"parent_ratio": 1.0}),
    }
    md = markdown(result)
    assert "| m | scripted | 2 | x |  |" in md and "| n | none | skipped | x | missing |" in md
    assert "| yes |" in md and "| not judged |" in md and "1 torch threads" in md
    assert f"LLM parent {TINY} (torch float32 on cpu (as requested))" in md
    assert md.startswith(
        "babyworld bench (quick), level Point; cpu (AVX2, native bf16: no), 2 cores"
    )


def test_the_simd_level_is_the_widest_extension():
    assert simd_level({"sse4_2", "avx2", "avx512f", "avx512_bf16"}) == "AVX-512"
    assert simd_level({"sse4_2", "avx", "avx2", "fma"}) == "AVX2"
    assert simd_level({"sse4_2"}) == "no AVX2"


def test_bench_config_rejects_bad_input():
    with pytest.raises(ValueError, match="threads must be >= 0"):
        BenchConfig(threads=-1)
    with pytest.raises(ValueError, match="unknown level"):
        BenchConfig(level="Nope")


def test_bench_cli_reports_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--quick", "--threads", "-1", "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    assert "threads must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as e:
        main(["bench", "--level", "Nope"])
    assert e.value.code != 0


def test_demo_section_runs_the_makefiles_demo_job():
    from pathlib import Path

    from babyworld.experiments.benchmarks.bench_demo import DEMO_JOB, FIRST_UPDATE_STEPS

    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    train = next(line.split() for line in makefile.splitlines() if "babyworld train" in line)
    args = train[train.index("train") :]
    for flag in ("--parent", "--steps"):  # the section sets these itself
        i = args.index(flag)
        del args[i : i + 2]
    assert tuple(args) == DEMO_JOB
    envs = int(DEMO_JOB[DEMO_JOB.index("--num-envs") + 1])
    rollout = int(DEMO_JOB[DEMO_JOB.index("--ppo.rollout-steps") + 1])
    assert envs * rollout == FIRST_UPDATE_STEPS


def test_the_fresh_process_section_alone_names_its_parent(monkeypatch, tmp_path):
    # the fresh child reports its parent's label and runtime (no other section ran to give them)
    from babyworld.experiments.benchmarks import measure

    child = {"load_s": 1.0, "start_s": 2.0, "reload_s": 0.5, "peak_rss": 2**30}
    child |= {"label": "p-label", "runtime": "torch float32 on cpu"}
    monkeypatch.setattr(measure, "fresh_process", lambda *a, **k: child)
    main(["bench", "--quick", "--sections", "fresh", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["llm_parent"] == "p-label" and result["warm_start_s"] == 1.0
    assert "LLM parent p-label (torch float32 on cpu)" in (tmp_path / "bench.md").read_text()
