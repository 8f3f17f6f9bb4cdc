"""The ablation harness and its report: config checks, pure statistics, resumable end-to-end run."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from babyworld.agents.modes import MODES
from babyworld.experiments.ablate import (
    ConfigError,
    load_config,
    parse_config,
    plan_runs,
    run_ablation,
    run_status,
    tomllib,
)
from babyworld.experiments.cli import main
from babyworld.experiments.report import (
    LEVEL_FACTS,
    bootstrap_inputs,
    common_curve,
    format_bits,
    format_ci,
    format_steps,
    iqm,
    iqm_curve_with_ci,
    iqm_with_ci,
    markdown_table,
    median_steps,
    read_metrics,
    retention_section,
    retention_values,
    steps_to_threshold,
    supervision,
    write_report,
)
from babyworld.experiments.train import run_parent_stats
from babyworld.rewards import REWARD_NAMES

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
SMOKE = CONFIGS / "smoke.toml"


# --- configs -----------------------------------------------------------------------------------


def test_committed_configs_are_valid():
    head = load_config(CONFIGS / "headline.toml")
    assert [m.label for m in head.modes] == list(MODES) and [m.mode for m in head.modes] == list(
        MODES
    )
    assert head.levels == ("Point", "Name") and head.seeds == (0, 1, 2, 3, 4)
    assert head.parent == "smollm2" and head.threads == 1
    for m in head.modes:
        assert all(n % (head.num_envs * m.ppo.rollout_steps) == 0 for n in head.steps.values())
    smoke = load_config(SMOKE)
    assert smoke.parent == "scripted" and len(smoke.modes) == 2 and smoke.seeds == (0, 1)
    assert max(smoke.steps.values()) <= 500
    assert len(plan_runs(dataclasses.replace(smoke, out=Path("/nonexistent")))) == 8


def _base(**over):
    d = {
        "out": "runs/x",
        "parent": "scripted",
        "levels": ["Point"],
        "steps": 1024,
        "modes": {"baby": {}},
    }
    d.update(over)
    return d


def test_defaults_and_variants():
    cfg = parse_config(
        _base(
            modes={
                "baby": {},
                "distill_offline": {"mode": "distill", "modes": {"offline": True}},
                "hybrid": {"modes": {"switch-steps": 512}, "ppo": {"lr": 1}},
            },
            ppo={"lr": 0.001, "epochs": 2},
        )
    )
    assert cfg.seeds == (0, 1, 2, 3, 4) and cfg.num_envs == 8 and cfg.checkpoint_every == 20
    baby, off, hyb = cfg.modes
    assert off.mode == "distill" and off.modes.offline and baby.ppo.lr == 0.001
    assert hyb.modes.switch_steps == 512 and hyb.ppo.lr == 1.0 and hyb.ppo.epochs == 2
    tc = cfg.train_config("Point", off, 3)
    assert tc.out == Path("runs/x/Point/distill_offline/seed3") and tc.mode == "distill"
    assert tc.seed == 3 and tc.steps == 1024 and tc.parent == "scripted"
    assert parse_config(_base(seeds=3)).seeds == (0, 1, 2)
    both = parse_config(_base(levels=["Point", "Name"], steps={"Name": 2048, "Point": 1024}))
    assert both.steps == {"Point": 1024, "Name": 2048}
    assert both.train_config("Name", both.modes[0], 0).steps == 2048


MODES_TXT = str(MODES)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"modes": {"dream": {}}},
            f"c.toml: modes.dream.mode: unknown mode 'dream'; the modes are {MODES_TXT}; to name "
            "a variant, set mode = '<one of them>'",
        ),
        (
            {"modes": {"x": {"mode": "dream"}}},
            f"c.toml: modes.x.mode: unknown mode 'dream'; the modes are {MODES_TXT}",
        ),
        (
            {"levels": ["Point", "Chess"]},
            "c.toml: levels: unknown level 'Chess'; ablations run on ('Point', 'Name') (the "
            "one-act levels, where every mode is defined)",
        ),
        ({"levels": []}, "c.toml: levels: needs at least one level of ('Point', 'Name')"),
        ({"seeds": 0}, "c.toml: seeds: needs at least 1 seed, got 0"),
        ({"seeds": []}, "c.toml: seeds: needs at least 1 seed, got []"),
        ({"seeds": [0, 0]}, "c.toml: seeds: a seed is listed twice: [0, 0]"),
        (
            {"modes": {"distill": {"modes": {"alpha": 1.5}}}},
            "c.toml: modes.distill.modes: modes.alpha must be in [0, 1], got 1.5",
        ),
        (
            {"modes": {"distill": {"modes": {"alpha": -0.1}}}},
            "c.toml: modes.distill.modes: modes.alpha must be in [0, 1], got -0.1",
        ),
        (
            {"modes": {"hybrid": {"modes": {"switch_steps": 1024}}}},
            "c.toml: modes.hybrid.modes.switch_steps: 1024 leaves no steps of 'baby' in Point's "
            "budget of 1024 steps; make it smaller than steps",
        ),
        (
            {"modes": {"predict_first": {}}, "steps": 8192},
            "c.toml: modes.predict_first.modes.switch_steps: 10000 leaves no steps of 'baby' in "
            "Point's budget of 8192 steps; make it smaller than steps",
        ),
        (
            {
                "levels": ["Point", "Name"],
                "steps": {"Point": 20480, "Name": 8192},
                "modes": {"hybrid": {}},
            },
            "c.toml: modes.hybrid.modes.switch_steps: 10000 leaves no steps of 'baby' in "
            "Name's budget of 8192 steps; make it smaller than steps.Name",
        ),
        (
            {"levels": ["Point", "Name"], "steps": {"Point": 512}},
            "c.toml: steps: has no budget for Name",
        ),
        (
            {"steps": {"Point": 512, "Chat": 512}},
            "c.toml: steps.Chat: not a level of this ablation (['Point'])",
        ),
        ({"steps": {"Point": 0}}, "c.toml: steps.Point: must be an integer >= 1, got 0"),
        (
            {"num_envs": 6, "steps": 768, "modes": {"sparse": {"modes": {"group_size": 4}}}},
            "c.toml: num_envs: 6 is not a multiple of modes.sparse.modes.group_size 4 (GRPO "
            "groups of envs)",
        ),
        (
            {
                "steps": 48,
                "num_envs": 4,
                "modes": {
                    "grpo": {
                        "mode": "sparse",
                        "modes": {"group_size": 2},
                        "ppo": {"rollout_steps": 6},
                    }
                },
            },
            "c.toml: modes.grpo.ppo.rollout_steps: 6 is not a multiple of Point's episode length 4 "
            "(needed by modes.group_size > 1)",
        ),
        (
            {"modes": {"baby": {"modes": {"group_size": 2}}}},
            "c.toml: modes.baby: --modes.group-size applies to mode 'sparse' only (got mode 'baby')",
        ),
        (
            {"seed": 1},
            "c.toml: seed: unknown key; the keys are: out (output directory (required)); parent "
            "(parent spec (default 'smollm2')); levels (levels, a list of ('Point', 'Name') "
            "(required)); seeds (a list of seeds or a count (default 5: seeds 0-4)); steps (env "
            "steps of every run, or a table of them by level (required)); num_envs (envs per run (default 8)); "
            "checkpoint_every (updates between checkpoints (default 20)); threads (torch CPU "
            "threads (default 0: torch's default)); ppo (a table of --ppo.* overrides for every "
            "mode); env (a table of --env.* settings for every mode (reward_weights, "
            "reward_source)); student (a table of --student.* overrides for every mode); modes "
            "(a table of "
            "modes, one sub-table per mode (required))",
        ),
        (
            {"modes": {"baby": {"lr": 0.1}}},
            "c.toml: modes.baby.lr: unknown key; a mode takes 'mode' (the mode, default: its "
            "label), 'modes' (--modes.* overrides), 'ppo' (--ppo.* overrides) and 'env' (--env.* settings)",
        ),
        (
            {"modes": {"baby": {"ppo": {"learning_rate": 0.1}}}},
            "c.toml: modes.baby.ppo.learning_rate: unknown key; modes.baby.ppo takes "
            "['anneal_lr', 'clip', 'curriculum_progress', 'ent_coef', 'epochs', "
            "'exchange_horizon', 'gae_lambda', 'gamma', 'lr', 'max_grad_norm', 'mdl_coef', "
            "'minibatches', 'rollout_steps', 'student_rewards', 'vf_coef', 'wm_coef']",
        ),
        (
            {"student": {"width": 3}},
            "c.toml: student.width: unknown key; student takes ['d_model', 'history', "
            "'latent_dim', 'n_heads', 'n_layers', 'reader_hidden', 'word_dim']",
        ),
        (
            {"modes": {"distill": {"modes": {"alpha": "half"}}}},
            "c.toml: modes.distill.modes.alpha: must be a number, got 'half'",
        ),
        ({"steps": "1000"}, "c.toml: steps: must be an integer, got '1000'"),
        ({"steps": 0}, "c.toml: steps: must be an integer >= 1, got 0"),
        (
            {"steps": 1000},
            "c.toml: steps: 1000 is not a whole number of rollouts for mode 'baby' (num_envs x "
            "ppo.rollout_steps = 512); runs would be rounded up to 1024 steps and budgets would "
            "differ: use a multiple of 512",
        ),
        (
            {"modes": {}},
            f"c.toml: modes: needs at least one mode, e.g. [modes.baby]; the modes are {MODES_TXT}",
        ),
        (
            {"parent": "gpt"},
            "c.toml: parent: unknown parent spec 'gpt'; use one of 'smollm2' (default), "
            "'hf:<hub id or local dir>', 'openai:<base url>#<model name>' (a served parent), "
            "'ct2' (the default parent run by CTranslate2), 'ct2:<converted dir>', 'scripted'; "
            "options after '?', e.g. 'smollm2?dtype=float32'",
        ),
        (
            {"parent": "openai:http://127.0.0.1:8000/v1"},
            "c.toml: parent: bad served-parent spec 'openai:http://127.0.0.1:8000/v1': write "
            "'openai:<base url>#<model name>', e.g. 'openai:http://127.0.0.1:8000/v1#smollm2' "
            "(the URL ends where the OpenAI API starts, usually /v1; the name is the server's "
            "--served-model-name)",
        ),
        ({"ppo": {"lr": -1}}, "c.toml: ppo: ppo.lr must be > 0, got -1.0"),
        (
            {"modes": {"a/b": {}}},
            "c.toml: modes.a/b: a label must be letters, digits, '_', '-' or '.' (it names a "
            "directory)",
        ),
    ],
)
def test_bad_configs_fail_naming_the_field(over, message):
    with pytest.raises(ConfigError) as e:
        parse_config(_base(**over), source="c.toml")
    assert str(e.value) == message


def test_missing_keys_and_files(tmp_path):
    d = _base()
    del d["steps"]
    with pytest.raises(ConfigError) as e:
        parse_config(d, source="c.toml")
    assert str(e.value) == (
        "c.toml: steps: missing (env steps of every run, or a table of them by level (required))"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML"):
        load_config(bad)


def test_a_retired_key_is_read_with_a_warning_and_ignored():
    data = tomllib.loads((CONFIGS / "headline.toml").read_text())
    with pytest.warns(UserWarning, match=r"old.toml: fresh_parent_cache is no longer used"):
        cfg = parse_config({**data, "fresh_parent_cache": False}, source="old.toml")
    assert cfg == parse_config(data, source="old.toml")
    assert "fresh_parent_cache" not in cfg.to_dict()


def test_cli_refuses_a_bad_config_before_anything_runs(tmp_path, capsys):
    cfg = tomllib.loads(SMOKE.read_text())
    cfg["modes"]["baby"] = {"modes": {"alpha": 2.0}}
    path = tmp_path / "bad.toml"
    path.write_text(_to_toml(cfg))
    out = tmp_path / "abl"
    with pytest.raises(SystemExit) as e:
        main(["ablate", str(path), "--out", str(out), "--no-progress"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}: modes.baby.modes: modes.alpha must be in [0, 1], got 2.0" in err
    assert not out.exists()


def _to_toml(d, prefix=""):
    """A tiny TOML writer for the test's configs (scalars, lists and nested tables)."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    for k, v in tables:
        lines.append(f"[{prefix}{k}]")
        lines.append(_to_toml(v, f"{prefix}{k}."))
    return "\n".join(lines) + "\n"


def test_existing_run_directories_are_checked(tmp_path):
    cfg = load_config(SMOKE, out=tmp_path / "abl")
    first = plan_runs(cfg)[0]
    first.path.mkdir(parents=True)
    assert run_status(first.path, first.config) == "stale"  # interrupted before any checkpoint
    saved = first.config.to_dict()
    (first.path / "config.json").write_text(json.dumps(saved))
    (first.path / "metrics.csv").write_text("step\n")
    assert run_status(first.path, first.config) == "stale"
    (first.path / "notes.txt").write_text("mine")
    with pytest.raises(
        ConfigError, match=r"holds files babyworld train does not write \(notes.txt\)"
    ):
        run_status(first.path, first.config)
    (first.path / "notes.txt").unlink()
    (first.path / "config.json").write_text(json.dumps({**saved, "seed": 7}))
    with pytest.raises(ConfigError, match="seed: run has 7, config says 0"):
        plan_runs(cfg)
    (first.path / "config.json").write_text(json.dumps({**saved, "steps": 512}))
    with pytest.raises(ConfigError, match="is a run of 512 steps, more than the budget of 256"):
        plan_runs(cfg)


# --- pure statistics ---------------------------------------------------------------------------


def test_steps_to_threshold_from_a_metrics_csv(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(
        "step,seconds,episodes,success_100,success_500,return_100\n"
        "32,1.0,8,0.5,0.5,0.1\n64,2.0,16,0.95,0.89,0.2\n96,3.0,24,0.9,0.9,0.3\n"
        "128,4.0,32,1.0,0.97,0.4\n"
    )
    rows = read_metrics(path)
    assert rows[1] == {
        "step": 64.0,
        "seconds": 2.0,
        "episodes": 16.0,
        "success_100": 0.95,
        "success_500": 0.89,
        "return_100": 0.2,
    }
    assert steps_to_threshold(rows) == 96
    assert steps_to_threshold(rows, 0.95) == 128
    assert steps_to_threshold(rows, 0.98) is None
    assert steps_to_threshold(rows, 0.9, key="success_100") == 64
    assert read_metrics(tmp_path / "none.csv") == []


def test_median_steps_counts_unreached_as_infinite():
    assert median_steps([100, None, 300]) == 300
    assert median_steps([100, 200]) == 150
    assert median_steps([100, None]) == math.inf
    assert median_steps([None, None, 100]) == math.inf
    assert math.isnan(median_steps([]))
    assert format_steps(300.0, 2, 3) == "300 (2/3)"
    assert format_steps(12288.0, 5, 5) == "12,288 (5/5)"
    assert format_steps(math.inf, 1, 3) == "not reached (1/3)"
    assert format_steps(math.nan, 0, 0) == "–"


def test_bootstrap_inputs_keep_seeds_every_level_has():
    finals = {
        "baby": {"Point": {0: 0.5, 1: 0.7, 2: 0.9}, "Name": {0: 0.1, 2: 0.3}},
        "sparse": {"Point": {0: 1.0}},
    }
    one = bootstrap_inputs(finals, ["Point"])
    np.testing.assert_array_equal(one["baby"], [[0.5], [0.7], [0.9]])
    np.testing.assert_array_equal(one["sparse"], [[1.0]])
    both = bootstrap_inputs(finals, ["Point", "Name"])
    assert set(both) == {"baby"}
    np.testing.assert_array_equal(both["baby"], [[0.5, 0.1], [0.9, 0.3]])


def test_iqm_is_the_25_percent_trimmed_mean():
    assert iqm(np.array([[0.1], [0.5], [0.6], [0.9], [1.0]])) == pytest.approx(
        (0.5 + 0.6 + 0.9) / 3
    )
    assert iqm(np.arange(8.0).reshape(4, 2)) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    assert iqm(np.array([[0.2], [0.6]])) == pytest.approx(0.4)


def test_iqm_confidence_intervals():
    state = np.random.get_state()
    # Two seeds: a resample is (a, a), (a, b) or (b, b) with probabilities 1/4, 1/2, 1/4, so the
    # 2.5% and 97.5% percentiles of its mean are a and b.
    out = iqm_with_ci({"m": np.array([[0.2], [0.6]]), "same": np.full((5, 1), 0.7)}, reps=500)
    assert out["m"] == pytest.approx((0.4, 0.2, 0.6))
    assert out["same"] == pytest.approx((0.7, 0.7, 0.7))
    five = {"m": np.array([[0.1], [0.5], [0.6], [0.9], [1.0]])}
    a, b = iqm_with_ci(five, reps=300, seed=3), iqm_with_ci(five, reps=300, seed=3)
    assert a == b and 0.1 <= a["m"][1] < a["m"][0] < a["m"][2] <= 1.0
    strat = iqm_with_ci({"m": np.array([[0.0, 1.0], [0.0, 1.0]])}, reps=200)
    assert strat["m"] == pytest.approx((0.5, 0.5, 0.5))  # each level resampled within itself
    after = np.random.get_state()  # rliable draws from numpy's global generator: restored
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]


def test_iqm_curve_matches_the_iqm_at_every_point():
    curves = np.array([[0.0, 0.2, 0.5], [0.1, 0.4, 0.9], [0.2, 0.3, 1.0], [0.3, 0.6, 0.8]])
    mid, lo, hi = iqm_curve_with_ci(curves, reps=200)
    np.testing.assert_allclose(mid, [iqm(curves[:, j]) for j in range(3)])
    np.testing.assert_allclose(mid, [0.15, 0.35, 0.85])
    assert np.all(lo <= mid) and np.all(mid <= hi)


def test_supervision_bits_per_mode():
    assert supervision("baby", {}, "Point", 40960) == ([("vector", 40.0, 40960)], 40.0)
    assert supervision("sparse", {}, "Name", 40960) == ([("scalar/episode", 2.0, 40960)], 2.0)
    assert supervision("distill", {}, "Point", 100)[1] == 16.0  # 2 free probabilities x 8 bits
    assert supervision("distill", {}, "Name", 100)[1] == 88.0  # 11 x 8
    assert supervision("distill", {"offline": True}, "Name", 100)[1] == 8.0
    assert supervision("self_distill", {"context": "feedback"}, "Name", 100)[1] == 0.0
    assert supervision("self_distill", {"context": "demonstration"}, "Name", 100)[1] == 8.0
    phases, mean = supervision("predict_first", {"switch_steps": 10240}, "Point", 40960)
    assert phases == [("none", 0.0, 10240), ("vector", 40.0, 30720)] and mean == 30.0
    phases, mean = supervision("hybrid", {"switch_steps": 10240}, "Name", 40960)
    assert mean == (88 * 10240 + 40 * 30720) / 40960 == 52.0
    assert format_bits(phases, mean) == "88 → 40 (mean 52)"
    assert format_bits(*supervision("baby", {}, "Point", 10)) == "40"
    assert supervision("baby", {}, "Point", 10, precision_bits=1)[1] == 5.0
    with pytest.raises(ValueError, match="unknown mode"):
        supervision("dream", {}, "Point", 10)


@pytest.mark.parametrize("level", sorted(LEVEL_FACTS))
def test_level_facts_match_the_envs(level):
    env = gym.make(f"babyworld/{level}-v0", parent="scripted")
    n_actions, episode = LEVEL_FACTS[level]
    assert env.action_space.n == n_actions
    assert len(env.unwrapped.reward_names) == len(REWARD_NAMES) == 5
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(0)
        steps, done = steps + 1, term or trunc
    assert steps == episode


def test_tables_and_formats():
    assert format_ci(0.951, 0.9, 0.98) == "0.95 [0.90, 0.98]"
    assert markdown_table(["a", "b"], [[1, "x|y"], ["z", 2.5]]) == (
        "| a | b |\n|---|---|\n| 1 | x\\|y |\n| z | 2.5 |"
    )
    assert retention_values({"curriculum": {"log": {"retention/Point": 0.8, "stage": 2}}}) == {
        "Point": 0.8
    }
    assert retention_values({"curriculum": {"kind": "fixed", "log": {"p/Point": 0.4}}}) == {}
    assert retention_values({}) == {}


def test_retention_table_when_runs_used_a_curriculum():
    from babyworld.experiments.report import RunResult

    def run(seed, value):
        log = {"stage": 2.0, "retention/Point": value}
        summary = {"curriculum": {"kind": "ladder", "log": log}}
        return RunResult("Point", "baby", "baby", seed, Path("."), summary, [])

    text = "\n".join(retention_section([run(0, 0.5), run(1, 0.9)], ["baby"], ["Point"]))
    assert "| level | label | earlier stage | retention | seeds |" in text
    assert "| Point | baby | Point | 0.70 | 2 |" in text
    none = "\n".join(retention_section([], ["baby"], ["Point"]))
    assert "None: no run of this ablation used a curriculum" in none


def test_common_curve_aligns_runs_on_shared_steps():
    from babyworld.experiments.report import RunResult

    def run(rows):
        return RunResult("Point", "baby", "baby", 0, Path("."), None, rows)

    a = run(
        [
            {"step": 32, "seconds": 60, "success_100": 0.1},
            {"step": 64, "seconds": 120, "success_100": 0.2},
        ]
    )
    b = run([{"step": 32, "seconds": 30, "success_100": 0.3}])
    steps, ys, mins = common_curve([a, b])
    np.testing.assert_array_equal(steps, [32])
    np.testing.assert_array_equal(ys, [[0.1], [0.3]])
    np.testing.assert_array_equal(mins, [[1.0], [0.5]])


def test_run_parent_stats_counts_one_run():
    start = {
        "calls": 2,
        "requests": 10,
        "cache_hits": 4,
        "prompt_tokens": 100,
        "generated_tokens": 5,
        "scored_tokens": 20,
        "seconds": 1.0,
        "prefix_hit_tokens": 0,
        "prefix_built_tokens": 0,
        "store_hits": 0,
        "store_seconds": 0.0,
    }
    now = {
        **start,
        "calls": 5,
        "requests": 30,
        "cache_hits": 14,
        "prompt_tokens": 160,
        "generated_tokens": 9,
        "scored_tokens": 30,
        "seconds": 2.5,
    }
    carried = {
        "calls": 1,
        "requests": 10,
        "cache_hits": 0,
        "prompt_tokens": 40,
        "generated_tokens": 0,
        "scored_tokens": 0,
        "seconds": 0.5,
        "prefix_hit_tokens": 0,
        "prefix_built_tokens": 0,
        "tokens": 40,
        "hit_rate": 0.0,
    }
    d = run_parent_stats(now, start, carried)
    assert d["calls"] == 4 and d["requests"] == 30 and d["cache_hits"] == 10
    assert d["tokens"] == (60 + 4 + 10) + 40 and d["hit_rate"] == pytest.approx(1 / 3)
    assert d["seconds"] == pytest.approx(2.0)
    assert run_parent_stats(now, now)["tokens"] == 0


# --- end to end --------------------------------------------------------------------------------


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def test_ablate_interrupt_resume_and_report(tmp_path, capsys):
    out = tmp_path / "abl"
    main(["ablate", str(SMOKE), "--out", str(out), "--dry-run"])
    assert "8 runs: 8 new, 0 partial, 0 stale, 0 done" in capsys.readouterr().out
    assert not out.exists()

    cfg = load_config(SMOKE, out=out)
    with pytest.raises(
        ConfigError, match=r"--levels Chat: the config's levels are \['Point', 'Name'\]"
    ):
        run_ablation(cfg, progress=False, levels=["Chat"])
    assert not out.exists()
    first = run_ablation(cfg, progress=False, max_runs=2, levels=["Point"])
    assert [r.action for r in first] == ["trained", "trained"]  # seeds before modes
    assert [r.path for r in first] == [out / "Point/baby/seed0", out / "Point/hybrid/seed0"]
    before = {r.path: _files(r.path) for r in first}
    write_report(out, reps=50, curve_reps=20)  # a report of what has finished so far
    partial = (out / "report.md").read_text()
    assert "2 of 8 runs finished" in partial
    assert "`baby` reward source verifier, weights default" in partial  # the env settings
    assert (
        "| hybrid | hybrid | 0/2 | – | – | – | – | – | – |" in partial
        and "## All levels" not in partial
    )

    def interrupt(run, step, success):
        if run.path == out / "Point/baby/seed1" and step == 160:
            raise KeyboardInterrupt  # Ctrl-C after update 5; the last checkpoint is update 4

    with pytest.raises(KeyboardInterrupt):
        run_ablation(cfg, progress=False, on_update=interrupt)
    third = out / "Point/baby/seed1"
    assert not (third / "summary.json").exists() and (third / "checkpoint.pt").exists()
    stale = plan_runs(cfg)[4]  # as if killed before its first checkpoint
    stale.path.mkdir(parents=True)
    (stale.path / "config.json").write_text(json.dumps(stale.config.to_dict()))
    (stale.path / "metrics.csv").write_text("step,seconds\n32,0.1\n")
    statuses = [r.status for r in plan_runs(cfg)]
    assert statuses == ["done", "done", "partial", "new", "stale", "new", "new", "new"]

    main(["ablate", str(SMOKE), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert "8 runs: 4 new, 1 partial, 1 stale, 2 done" in printed
    assert "5 trained, 1 resumed, 2 skipped of 8 runs" in printed
    for path, files in before.items():
        assert _files(path) == files, f"{path} was run again"
    for run in plan_runs(cfg):
        assert run.status == "done"
        summary = json.loads((run.path / "summary.json").read_text())
        assert summary["steps"] == 256 and summary["parent_stats"]["tokens"] > 0
        steps = [int(r["step"]) for r in read_metrics(run.path / "metrics.csv")]
        assert steps == list(range(32, 257, 32)), run.path
    plan = json.loads((out / "ablation.json").read_text())
    assert len(plan["runs"]) == 8 and plan["runs"][2]["dir"] == "Point/baby/seed1"

    again = run_ablation(cfg, progress=False)
    assert [r.action for r in again] == ["skipped"] * 8

    main(["report", str(out), "--reps", "200", "--curve-reps", "100"])
    report = (out / "report.md").read_text()
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    for text in (
        "## Point",
        "## Name",
        "## All levels",
        "| label | mode | seeds | IQM final success [95% CI] | steps to 0.9 | minutes | parent "
        "requests | parent hits | parent tokens computed | supervision bits/step |",
        "Runs share the parent's persistent answer store",
        "| baby | baby | 2/2 | ",
        "| 16 → 40 (mean 28) |",  # Point hybrid: distill (2 x 8 bits) for 128 of 256 steps
        "| 88 → 40 (mean 64) |",  # Name hybrid: 11 x 8 bits, then the vector
        "None: no run of this ablation used a curriculum",
        "rliable, percentile, 200 resamples",
        "babyworld ablate " + str(SMOKE),
    ):
        assert text in report, text
    assert report.count("| 40 |") == 2  # baby on both levels
    for name in ("success_vs_steps.png", "success_vs_minutes.png", "iqm_final.png"):
        assert (out / name).stat().st_size > 5000, name
        assert f"![{name[:-4]}]({name})" in report


def test_report_refuses_what_is_not_an_ablation(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path)])
    assert e.value.code == 2
    assert "is not an ablation directory (no ablation.json)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "spec",
    ["smollm2", "scripted", "hf:/models/my-lm", "hf:org/model", "openai:http://h:8000/v1#smollm2"],
)
def test_every_parent_spec_train_takes_is_a_valid_ablation_parent(spec):
    cfg = parse_config(_base(parent=spec))  # only the form is checked: nothing is loaded
    assert cfg.parent == spec
    assert cfg.train_config("Point", cfg.modes[0], 0).parent == spec


def test_an_ablation_runs_with_a_served_parent(tmp_path):
    from openai_fake import FakeServer
    from test_parent_unit import _tiny_lm

    server = FakeServer(*_tiny_lm())
    try:
        spec = f"openai:{server.url}#tiny"
        config = tmp_path / "served.toml"
        smoke = SMOKE.read_text().replace('parent = "scripted"', f'parent = "{spec}"')
        smoke = smoke.replace('levels = ["Point", "Name"]', 'levels = ["Point"]')
        smoke = smoke.replace("steps = 256", "steps = 32")  # one update of 4 envs x 8 steps
        smoke = smoke.replace("switch_steps = 128", "switch_steps = 16")
        config.write_text(smoke.replace("seeds = [0, 1]", "seeds = [0]"))
        cfg = load_config(config)
        assert cfg.parent == spec
        out = tmp_path / "out"
        records = run_ablation(dataclasses.replace(cfg, out=out), progress=False, max_runs=1)
    finally:
        server.close()
    assert [r.action for r in records] == ["trained"]
    summary = json.loads((out / "Point/baby/seed0/summary.json").read_text())
    assert summary["steps"] == 32 and summary["parent_stats"]["tokens"] > 0
    assert server.requests  # the runs asked the served parent
