"""Searches in an ablation config: the grid by hand, its bad input, and the choice of the best."""

from __future__ import annotations

import math
import sys

import pytest

from babyworld.experiments.ablation.ablation_config import ConfigError, parse_config
from babyworld.experiments.ablation.search import choose, chosen_toml, search_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _cfg(modes, **over):
    return parse_config(
        {"out": "runs/x", "parent": "scripted", "levels": ["Point"], "steps": 1024, "modes": modes}
        | over
    )


def test_a_search_is_one_label_per_point_of_its_grid():
    cfg = _cfg(
        {
            "baby": {},
            "grpo": {"search": {"ppo": {"lr": [1e-3, 3e-4]}, "modes": {"group_size": [2, 4]}}},
            "nj": {"control": "no_judgement", "search": {"ppo": {"ent_coef": [0.0, 0.01, 0.1, 1]}}},
        }
    )
    got = {m.label: (m.mode, m.search, m.ppo.lr, m.modes.group_size) for m in cfg.modes}
    assert got["baby"] == ("baby", None, cfg.base.ppo.lr, 0)
    assert got["grpo-lr0.001-group_size2"] == (
        "grpo", ("grpo", (("ppo.lr", 1e-3), ("modes.group_size", 2))), 1e-3, 2,
    )  # fmt: skip
    assert [lb for lb in got if lb.startswith("grpo")] == [
        "grpo-lr0.001-group_size2", "grpo-lr0.001-group_size4",
        "grpo-lr0.0003-group_size2", "grpo-lr0.0003-group_size4",
    ]  # fmt: skip
    nj = [m for m in cfg.modes if m.label.startswith("nj")]
    assert [m.ppo.ent_coef for m in nj] == [0.0, 0.01, 0.1, 1.0]
    assert all(m.env.reward_weights == nj[0].env.reward_weights for m in nj)  # the control's


@pytest.mark.parametrize(
    ("search", "match"),
    [
        ({"ppo": {"lr": []}}, r"modes.grpo.search.ppo.lr: must be a non-empty list .*no trial"),
        ({"ppo": {"lr": 1e-3}}, r"modes.grpo.search.ppo.lr: must be a non-empty list"),
        ({}, r"modes.grpo.search: must be a table of axes"),
        ({"student": {"d_model": [8]}}, r"search.student: a search axis is a --modes"),
        ({"ppo": {"epochs": [1, 2]}}, r"search.ppo.epochs: is also set in the label"),
        ({"ppo": {"no_such": [1, 2]}}, r"no_such"),
        ([1], r"modes.grpo.search: must be a table of axes"),
        ({"ppo": {"lr": [1e-3, 0.001]}}, r"search.ppo.lr: must list distinct numbers"),
        ({"env": {"reward_weights": [[1, 0]]}}, r"search.env.reward_weights: must list distinct"),
        ({"env": {"reward_weights": ["task=1"]}}, r"makes a trial 'grpo-reward_weightstask=1'"),
    ],
)
def test_bad_searches_are_refused(search, match):
    with pytest.raises(ConfigError, match=match):
        _cfg({"grpo": {"ppo": {"epochs": 2}, "search": search}})


def test_a_label_table_that_is_not_a_table_or_a_trial_named_like_a_label_is_refused():
    with pytest.raises(ConfigError, match=r"modes.grpo.ppo: must be a table, got 3"):
        _cfg({"grpo": {"ppo": 3, "search": {"ppo": {"lr": [1e-3]}}}})
    with pytest.raises(ConfigError, match=r"makes a trial 'grpo-lr1e-05', the name of another"):
        _cfg({"grpo-lr1e-05": {"mode": "baby"}, "grpo": {"search": {"ppo": {"lr": [1e-5]}}}})


def test_searched_labels_must_cost_the_same():
    with pytest.raises(ConfigError, match=r"same number of trials \(equal cost\), got"):
        _cfg(
            {
                "baby": {"search": {"ppo": {"lr": [1e-3, 3e-4]}}},
                "grpo": {"search": {"ppo": {"lr": [1e-3, 3e-4, 1e-4]}}},
            }
        )


def test_the_best_trial_by_hand_and_its_settings_as_a_config():
    cfg = _cfg({"baby": {"search": {"ppo": {"lr": [1e-3, 3e-4, 1e-4]}}}})
    specs = [{"label": m.label, "search": m.search} for m in cfg.modes]
    rows = [
        {"label": lb, "curve.greedy_auc": a, "final_greedy_success": g, "final_sampled_success": s}
        for lb, a, g, s in (
            ("baby-lr0.001", 0.7, 1.0, 0.4), ("baby-lr0.001", 0.7, 1.0, 0.4),  # auc 0.7
            ("baby-lr0.0003", 0.8, 0.9, 0.5), ("baby-lr0.0003", 0.6, 0.9, 0.5),  # 0.7, greedy 0.9
            ("baby-lr0.0001", 0.9, 1.0, 0.9),  # the best so far, but 1 of its 2 runs: not chosen
        )
    ]  # fmt: skip
    planned = {m.label: 2 for m in cfg.modes}
    (c,) = choose(specs, rows, planned)
    assert [t["runs"] for t in c["trials"]] == [2, 2, 1]
    assert c["trials"][1]["auc"] == pytest.approx(0.7) and c["trials"][2]["greedy"] == 1.0
    assert c["best"]["label"] == "baby-lr0.001"  # a tie on the curve's area: the final greedy
    (c1,) = choose(specs, rows[:4], planned)
    assert c1["trials"][2]["runs"] == 0 and math.isnan(c1["trials"][2]["greedy"])
    md = "\n".join(search_lines([c]))
    assert "| baby | baby-lr0.0001 | ppo.lr = 0.0001 | 1 of 2 | 0.900 | 1.000 | 0.900 |" in md
    assert "| baby | **baby-lr0.001** | ppo.lr = 0.001 | 2 of 2 | 0.700 | 1.000 | 0.400 |" in md
    chosen = tomllib.loads(chosen_toml([c], "search.toml"))
    assert chosen == {"modes": {"baby": {"ppo": {"lr": 0.001}}}}
    main = _cfg(chosen["modes"])  # the chosen settings make a valid config
    assert main.modes[0].ppo.lr == 0.001
    (c,) = choose(specs, rows[4:], planned)
    assert c["best"] is None and "no trial has finished all its runs" in chosen_toml([c], "s")
