"""The ablation report: hand-computed statistics, fixture run directories, the per-seed CSV."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from babyworld.experiments.ablation import stats
from babyworld.experiments.ablation.per_seed import PER_SEED, read_per_seed, write_per_seed
from babyworld.experiments.ablation.report import (
    FROM_CSV,
    ReportError,
    format_steps_ci,
    load_ablation,
    seed_row,
    table_section,
    tables,
    write_report,
    write_report_from_csv,
)
from babyworld.experiments.ablation.stats import (
    bootstrap_indices,
    censored,
    censored_median,
    iqm,
    iqm_curve_with_ci,
    iqm_with_ci,
    percentile_bootstrap,
    percentile_interval,
    steps_to_threshold,
)
from babyworld.experiments.cli import main

# --- pure statistics, by hand ------------------------------------------------------------------


def test_steps_to_threshold_reads_greedy_success_of_the_evaluations():
    rows = [
        {"step": 512, "greedy_success": 0.5, "sampled_success": 0.95},
        {"step": 1024, "greedy_success": 0.89, "sampled_success": 0.5},
        {"step": 1536, "greedy_success": 0.9, "sampled_success": 0.6},
        {"step": 2048, "greedy_success": 0.97, "sampled_success": 0.9},
    ]
    assert steps_to_threshold(rows, 0.9) == 1536  # >=, and greedy, not sampled
    assert steps_to_threshold(rows, 0.95) == 2048
    assert steps_to_threshold(rows, 0.98) is None
    assert steps_to_threshold(rows, 0.9, key="sampled_success") == 512
    assert steps_to_threshold([], 0.5) is None


def test_censored_median_never_averages_a_run_that_did_not_get_there():
    assert list(censored([100, None])) == [100.0, math.inf]
    assert censored_median([100, None, 300]) == 300  # 2 of 3 got there: the middle one
    assert censored_median([100, 200]) == 150
    assert censored_median([100, None]) == math.inf  # half got there: the median did not
    assert censored_median([None, None, 100]) == math.inf
    assert math.isnan(censored_median([]))


def test_percentile_interval_takes_order_statistics():
    assert percentile_interval(np.arange(40.0)) == (1.0, 38.0)  # s[floor(1)], s[ceil(39) - 1]
    assert percentile_interval(np.arange(1000.0)[::-1]) == (25.0, 974.0)  # sorted first
    assert percentile_interval(np.arange(10.0), size=0.5) == (2.0, 7.0)  # s[floor(2.5)], s[8 - 1]
    assert percentile_interval([1.0, math.inf, math.inf, 2.0], size=0.5) == (2.0, math.inf)
    with pytest.raises(ValueError, match="size must be in"):
        percentile_interval([1.0], size=1.0)
    with pytest.raises(ValueError, match="no NaN"):
        percentile_interval([1.0, math.nan])


def test_percentile_bootstrap_on_given_resamples(monkeypatch):
    # Resamples of [1, 2, 9]: (1,1,1), (1,2,9), (9,9,9), (2,2,9); medians 1, 2, 9, 2; sorted
    # [1, 2, 2, 9]; the central 50%: s[floor(1)] = 2, s[ceil(3) - 1] = 2. Point: median 2.
    fixed = np.array([[0, 0, 0], [0, 1, 2], [2, 2, 2], [1, 1, 2]])
    monkeypatch.setattr(stats, "bootstrap_indices", lambda n, reps, seed: fixed)
    assert percentile_bootstrap([1.0, 2.0, 9.0], size=0.5) == (2.0, 2.0, 2.0)
    # the mean instead: 1, 4, 9, 13/3 -> sorted [1, 4, 13/3, 9]: s[1] = 4, s[2] = 13/3
    mean = percentile_bootstrap([1.0, 2.0, 9.0], statistic=lambda x: x.mean(-1), size=0.5)
    assert mean == pytest.approx((4.0, 4.0, 13 / 3))


def test_percentile_bootstrap_of_two_seeds():
    # Resamples of two values: (a, a), (a, b), (b, a), (b, b), each 1/4; the 2.5% and 97.5%
    # percentiles of the mean are a and b (each has 1/4 of the mass, far more than 2.5%).
    assert percentile_bootstrap([0.0, 10.0], lambda x: x.mean(-1), reps=1000) == (5.0, 0.0, 10.0)
    # censored: medians of (100, 100) = 100, of (100, inf) or (inf, inf) = inf
    assert percentile_bootstrap([100.0, math.inf], reps=1000) == (math.inf, 100.0, math.inf)
    assert percentile_bootstrap([7.0, 7.0, 7.0]) == (7.0, 7.0, 7.0)
    a = percentile_bootstrap([1.0, 5.0, 2.0, 8.0], reps=300, seed=4)
    assert a == percentile_bootstrap([1.0, 5.0, 2.0, 8.0], reps=300, seed=4)  # seeded
    with pytest.raises(ValueError, match="needs at least 2 values"):
        percentile_bootstrap([1.0])
    with pytest.raises(ValueError, match="must not be NaN"):
        percentile_bootstrap([1.0, math.nan])


def test_bootstrap_indices_are_seeded_and_in_range():
    a, b = bootstrap_indices(5, 100, 3), bootstrap_indices(5, 100, 3)
    assert a.shape == (100, 5) and np.array_equal(a, b)
    assert a.min() == 0 and a.max() == 4
    assert not np.array_equal(a, bootstrap_indices(5, 100, 4))
    with pytest.raises(ValueError):
        bootstrap_indices(0, 10, 0)


def test_iqm_is_the_25_percent_trimmed_mean():
    assert iqm(np.array([[0.1], [0.5], [0.6], [0.9], [1.0]])) == pytest.approx(
        (0.5 + 0.6 + 0.9) / 3
    )
    assert iqm(np.arange(8.0).reshape(4, 2)) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    assert iqm(np.array([[0.8], [0.9], [1.0], [1.0]])) == pytest.approx(0.95)


def test_iqm_confidence_intervals():
    state = np.random.get_state()
    out = iqm_with_ci({"m": np.array([[0.2], [0.6]]), "same": np.full((5, 1), 0.7)}, reps=500)
    assert out["m"] == pytest.approx((0.4, 0.2, 0.6))  # as for the mean of two, above
    assert out["same"] == pytest.approx((0.7, 0.7, 0.7))
    strat = iqm_with_ci({"m": np.array([[0.0, 1.0], [0.0, 1.0]])}, reps=200)
    assert strat["m"] == pytest.approx((0.5, 0.5, 0.5))  # each level resampled within itself
    after = np.random.get_state()  # rliable draws from numpy's global generator: restored
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]


def test_iqm_curve_matches_the_iqm_at_every_point():
    curves = np.array([[0.0, 0.2, 0.5], [0.1, 0.4, 0.9], [0.2, 0.3, 1.0], [0.3, 0.6, 0.8]])
    mid, lo, hi = iqm_curve_with_ci(curves, reps=200)
    np.testing.assert_allclose(mid, [0.15, 0.35, 0.85])
    assert np.all(lo <= mid) and np.all(mid <= hi)


def test_format_steps():
    assert format_steps_ci(3072.0, 2048.0, 4096.0) == "3,072 [2,048, 4,096]"
    assert format_steps_ci(3072.0, 2048.0, math.inf) == "3,072 [2,048, not reached]"
    assert format_steps_ci(math.inf) == "not reached"


# --- fixture ablations -------------------------------------------------------------------------

#: (greedy, sampled, steps to 0.9 or None, parent requests) per seed of each (level, label).
CELLS = {
    ("Point", "sparse_ppo"): [
        (0.5, 0.45, None, 100),
        (0.4, 0.40, None, 100),
        (0.6, 0.55, None, 100),
        (0.5, 0.50, None, 100),
    ],
    ("Point", "baby"): [
        (0.9, 0.80, 2048, 100),
        (1.0, 0.90, 4096, 200),
        (0.8, 0.70, None, 300),
        (1.0, 0.95, 2048, 400),
    ],
    ("Name", "baby"): [
        (0.3, 0.2, None, 50),
        (0.2, 0.1, None, 50),
        (0.4, 0.3, None, 50),
        (0.1, 0.1, None, 50),
    ],
}
BUDGET = 6144


def _evals(final: float, reached: int | None) -> str:
    lines = ["step,greedy_success,sampled_success,episodes"]
    for step in range(1024, BUDGET + 1, 1024):
        g = 0.95 if reached is not None and step >= reached else min(final, 0.85)
        lines.append(f"{step},{final if step == BUDGET else g},0.5,64")
    return "\n".join(lines) + "\n"


def make_ablation(out: Path, cells=CELLS, seeds=(0, 1, 2, 3), unfinished=()) -> Path:
    """An ablation directory as ``ablate`` and ``train`` write it, with chosen results."""
    levels = list(dict.fromkeys(lv for lv, _ in cells))
    labels = list(dict.fromkeys(lb for _, lb in cells))
    runs = []
    for (level, label), results in cells.items():
        for seed, (greedy, sampled, reached, requests) in zip(seeds, results, strict=False):
            d = out / level / label / f"seed{seed}"
            d.mkdir(parents=True)
            runs.append(
                {
                    "level": level,
                    "label": label,
                    "mode": label,
                    "seed": seed,
                    "dir": str(d.relative_to(out)),
                }
            )
            (d / "eval.csv").write_text(_evals(greedy, reached))
            summary = {
                "steps": BUDGET // 2 if (level, label, seed) in unfinished else BUDGET,
                "minutes": 2.0,
                "success_last_500": 0.5,
                "parent_stats": {
                    "requests": requests,
                    "cache_hits": requests // 2,
                    "store_hits": 1,
                    "computed_tokens": 10,
                    "tokens": 99,
                },
                "eval": {
                    "greedy_success": greedy,
                    "sampled_success": sampled,
                    "episodes": 64,
                    "every": 2,
                },
                "supervision": {
                    "bits_per_step": 1.0 if label == "baby" else 0.25,
                    "heard": {"words_per_step": 2.5},
                },
                "language": {
                    level: {
                        "messages": 200,
                        "topsim": None if seed == 3 else seed / 10,
                        "vocabulary": 3 + seed,
                        "posdis": None,
                    }
                },
            }
            (d / "summary.json").write_text(json.dumps(summary))
    config = {
        "out": str(out),
        "levels": levels,
        "seeds": list(seeds),
        "steps": {lv: BUDGET for lv in levels},
        "parent": "scripted",
        "num_envs": 8,
        "modes": [{"label": lb, "mode": lb, "modes": {}, "ppo": {}, "env": {}} for lb in labels],
        "source": "fixture.toml",
    }
    (out / "ablation.json").write_text(json.dumps({"config": config, "runs": runs}))
    return out


def test_report_ranks_by_greedy_success_with_hand_computed_cells(tmp_path):
    out = make_ablation(tmp_path / "abl")
    path = write_report(out, reps=400, curve_reps=50)
    text = path.read_text()
    point = text[text.index("## Point") : text.index("## Name")]
    rows = [
        line for line in point.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")
    ]
    # baby: greedy [0.8, 0.9, 1.0, 1.0] -> IQM (0.9 + 1.0) / 2 = 0.95; sampled [0.7, 0.8, 0.9,
    # 0.95] -> 0.85; reached at 2048, 4096, -, 2048 -> median of (2048, 2048, 4096, inf) = 3072;
    # requests 250, hits (50 + 100 + 150 + 200) / 4 + 1 = 126; supervision 1 bit, 2.5 words.
    assert rows[0].startswith("| 1 | baby | baby | 4 | 0.95 [")
    assert "| 0.85 [" in rows[0] and "| 3/4 | 3,072 [2,048, " in rows[0]
    assert rows[0].endswith("| 250 | 126 | 10 | 2.00 | 1 | 2.5 |")
    # sparse_ppo, ranked second: IQM greedy (0.5 + 0.5) / 2, never reached
    assert rows[1].startswith("| 2 | sparse_ppo | sparse_ppo | 4 | 0.50 [")
    assert "| 0/4 | not reached [not reached, not reached] |" in rows[1]
    assert "| supervision: bits_per_step | supervision: heard.words_per_step |" in point
    assert "## All levels" in text and "| 1 | baby | 4 | " in text
    # language, seeds 0-3: topsim (0 + 0.1 + 0.2) / 3 = 0.1 (seed 3 undefined, left out);
    # vocabulary (3 + 4 + 5 + 6) / 4 = 4.5; posdis undefined everywhere: no column
    lang = point[point.index("Emergent language") :]
    assert "| label | Point.messages | Point.topsim | Point.vocabulary |" in lang
    assert "| baby | 200 | 0.1 | 4.5 |" in lang and "posdis" not in lang
    assert (out / "greedy_vs_steps.png").stat().st_size > 5000
    assert (out / "iqm_final.png").stat().st_size > 5000
    plain = write_report(out, intervals=False, curve_reps=20).read_text()
    assert "| 1 | baby | baby | 4 | 0.95 | 0.85 | 3/4 | 3,072 | 250 |" in plain


def test_per_seed_csv_round_trips_and_gives_the_same_tables(tmp_path):
    out = make_ablation(tmp_path / "abl")
    report = write_report(out, reps=300, curve_reps=20).read_text()
    rows = read_per_seed(out / PER_SEED)
    cfg, runs = load_ablation(out)
    assert rows == [seed_row(r, BUDGET, 0.9) for r in runs]  # every field, exactly
    first = rows[0]
    assert first["level"] == "Point" and first["label"] == "sparse_ppo" and first["seed"] == 0
    assert first["steps_to_threshold"] is None and rows[4]["steps_to_threshold"] == 2048
    assert first["supervision.heard.words_per_step"] == 2.5 and first["parent_hits"] == 51
    assert first["language.Point.topsim"] == 0.0 and "language.Point.topsim" not in rows[3]
    from_csv = write_report_from_csv(out / PER_SEED, reps=300).read_text()
    assert (out / FROM_CSV).is_file()
    assert table_section(from_csv) == table_section(report)
    again = tmp_path / "again.csv"
    write_per_seed(again, rows)
    assert again.read_text() == (out / PER_SEED).read_text()  # write(read(x)) == x
    main(
        [
            "report",
            "--from-csv",
            str(out / PER_SEED),
            "--out",
            str(tmp_path / "r.md"),
            "--reps",
            "300",
        ]
    )
    assert table_section((tmp_path / "r.md").read_text()) == table_section(report)


def test_report_refuses_intervals_over_fewer_than_2_seeds(tmp_path, capsys):
    cells = {("Point", "baby"): CELLS["Point", "baby"]}
    out = make_ablation(
        tmp_path / "abl",
        cells,
        unfinished={("Point", "baby", 1), ("Point", "baby", 2), ("Point", "baby", 3)},
    )
    with pytest.raises(SystemExit) as e:
        main(["report", str(out), "--reps", "50"])
    assert e.value.code == 2
    assert (
        "a confidence interval needs at least 2 seeds, and Point/baby has 1 finished run: run "
        "more seeds (or wait for them to finish), or pass --no-intervals"
    ) in capsys.readouterr().err
    assert not (out / "report.md").exists() and not (out / PER_SEED).exists()
    text = write_report(out, intervals=False, curve_reps=20).read_text()
    assert "| 1 | baby | baby | 1 | 0.90 | 0.80 | 1/1 | 2,048 |" in text
    one = make_ablation(tmp_path / "one", cells, seeds=(0,))
    with pytest.raises(ReportError, match="has 1 seed: a confidence interval needs at least 2"):
        write_report(one)


def test_report_refuses_runs_without_evaluation_and_bad_csvs(tmp_path):
    out = make_ablation(tmp_path / "abl")
    s = out / "Point/baby/seed0/summary.json"
    summary = json.loads(s.read_text())
    del summary["eval"]
    s.write_text(json.dumps(summary))
    with pytest.raises(ReportError, match=r"seed0: summary.json has no evaluation \('eval' with"):
        write_report(out, reps=50)
    with pytest.raises(ReportError, match="does not exist"):
        write_report_from_csv(tmp_path / "none.csv")
    good = make_ablation(tmp_path / "good")
    write_report(good, reps=50, curve_reps=20)
    text = (good / PER_SEED).read_text()
    with pytest.raises(ReportError, match="computed at 0.9, not 0.8"):
        write_report_from_csv(good / PER_SEED, threshold=0.8)
    bad = tmp_path / "bad.csv"
    lines = text.splitlines()
    bad.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(ReportError, match=r"run \('Point', 'sparse_ppo', 0\) is listed twice"):
        write_report_from_csv(bad)
    bad.write_text("\n".join([lines[0], lines[1].replace(",0.5,", ",half,", 1)]) + "\n")
    with pytest.raises(ReportError, match="bad.csv, line 2: final_greedy_success must be a number"):
        write_report_from_csv(bad)
    with pytest.raises(ReportError, match="no finished run"):
        tables([])


def test_the_header_lists_what_each_label_changes():
    import dataclasses

    from babyworld.agents.modes import ModeConfig
    from babyworld.agents.ppo import PPOConfig
    from babyworld.experiments.ablation.report import _settings

    spec = {
        "mode": "baby",
        "env": {"reward_weights": None, "reward_source": "parent", "consistency_temperature": None},
        "modes": dataclasses.asdict(ModeConfig()),
        "ppo": {**dataclasses.asdict(PPOConfig()), "wm_coef": 0.0},
    }
    assert _settings(spec) == "mode baby, env reward_source=parent, ppo wm_coef=0.0"
    assert _settings({"mode": "distill", "env": {"consistency_temperature": 0.1}}) == (
        "mode distill, env consistency_temperature=0.1"
    )


def test_report_of_some_levels_while_others_run(tmp_path, capsys):
    # Name/baby has one finished seed: the whole report refuses intervals, Point's alone does not
    out = make_ablation(
        tmp_path / "abl",
        unfinished={("Name", "baby", 1), ("Name", "baby", 2), ("Name", "baby", 3)},
    )
    with pytest.raises(ReportError, match="Name/baby has 1 finished run"):
        write_report(out, reps=50, curve_reps=10)
    text = write_report(out, reps=50, curve_reps=10, levels=["Point"]).read_text()
    assert "## Point" in text and "## Name" not in text and "## All levels" not in text
    assert "`: parent `scripted`, env steps per run Point 6,144," in text
    assert f"then `babyworld report {out} --levels Point`;" in text
    assert {r["level"] for r in read_per_seed(out / PER_SEED)} == {"Point"}
    with pytest.raises(SystemExit) as e:
        main(["report", str(out), "--levels", "Chat", "--reps", "50"])
    assert e.value.code == 2
    assert "has no level 'Chat'; its levels are ['Point', 'Name']" in capsys.readouterr().err


def test_a_run_trained_without_the_held_out_toys_reports_them_per_seed(tmp_path):
    out = make_ablation(tmp_path / "abl")
    _, runs = load_ablation(out)
    runs[0].summary["eval"].update(held_out_greedy_success=0.75, held_out_sampled_success=0.5)
    rows = [seed_row(r, BUDGET, 0.9) for r in runs]
    assert rows[0]["held_out.greedy_success"] == 0.75
    assert rows[0]["held_out.sampled_success"] == 0.5
    assert "held_out.greedy_success" not in rows[1]
    write_per_seed(tmp_path / "p.csv", rows)
    back = read_per_seed(tmp_path / "p.csv")
    assert back[0]["held_out.greedy_success"] == 0.75 and "held_out.greedy_success" not in back[1]
    # one run without them: no held-out columns (a column over some seeds would mislead)
    assert "held-out toys" not in "\n".join(tables(rows, intervals=False)[0])
    # every run with them: two columns beside the training toys' own; on Point, baby's seeds
    # (rows 4-7) held-out greedy [0.6, 0.2, 0.4, 1.0] -> IQM (0.4 + 0.6) / 2 = 0.5, sampled
    # [0.3, 0.1, 0.2, 0.5] -> (0.2 + 0.3) / 2 = 0.25
    for i, r in enumerate(rows):
        r["held_out.greedy_success"] = [0.6, 0.2, 0.4, 1.0][i % 4]
        r["held_out.sampled_success"] = [0.3, 0.1, 0.2, 0.5][i % 4]
    text = "\n".join(tables(rows, intervals=False)[0])
    assert "| held-out toys, greedy, IQM | held-out toys, sampled, IQM |" in text
    assert "| 1 | baby | baby | 4 | 0.95 | 0.85 | 0.50 | 0.25 | 3/4 |" in text
    with_ci = "\n".join(tables(rows, reps=200)[0])
    assert "| held-out toys, greedy, IQM [95% CI] |" in with_ci
    assert "| 1 | baby | baby | 4 | 0.95 [" in with_ci and "] | 0.50 [" in with_ci


def test_a_curve_still_moving_at_the_budget_and_mode_diagnostics_are_reported(tmp_path):
    from babyworld.experiments.ablation.report_tables import moving_section

    out = make_ablation(tmp_path / "abl")
    _, runs = load_ablation(out)
    greedy = [0.5, 0.80, 0.81, 0.83]  # the last three span 0.03
    row = dict(runs[0].evals[-1])
    runs[0].evals = [{**row, "step": i, "greedy_success": g} for i, g in enumerate(greedy)]
    runs[1].evals = runs[1].evals[-2:]  # fewer than three evaluations: no span
    gain = {"mean": 0.25, "per_update": [[32, 0.5], [64, 0.0]]}
    runs[0].summary["mode_diagnostics"] = {"sd/hindsight_gain_right": gain}
    rows = [seed_row(r, BUDGET, 0.9) for r in runs[:2]]
    assert rows[0]["diagnostics.sd/hindsight_gain_right"] == 0.25  # a mode's own, per seed
    write_per_seed(tmp_path / "p.csv", rows)
    assert read_per_seed(tmp_path / "p.csv")[0]["diagnostics.sd/hindsight_gain_right"] == 0.25
    assert rows[0]["curve.last3_greedy_span"] == pytest.approx(0.03)
    assert rows[0]["curve.greedy_auc"] == pytest.approx(sum(greedy) / 4)
    assert "curve.last3_greedy_span" not in rows[1]
    rows[1].update({"curve.last3_greedy_span": 0.01, "label": rows[0]["label"]})  # one cell
    text = "\n".join(moving_section(rows))
    assert rows[0]["level"] == rows[1]["level"]
    assert f"`{rows[0]['label']}` on {rows[0]['level']} 1 of 2." in text
    rows[0]["curve.last3_greedy_span"] = 0.0199
    assert "span >= 0.02): none." in "\n".join(moving_section(rows))
    assert moving_section([]) == []
