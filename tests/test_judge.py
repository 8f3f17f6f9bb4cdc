"""The parent as the teacher: reward sources, reward weights by name, the watch on the judge."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

from babyworld.agents.judge_watch import JudgeAlert, JudgeWatch, JudgeWatchConfig, over_optimised
from babyworld.agents.ppo import PPOConfig, PPOTrainer
from babyworld.agents.student import StudentConfig
from babyworld.envs import PointEnv
from babyworld.envs.name import NameEnv
from babyworld.experiments.callbacks import UpdateReport, Watch
from babyworld.experiments.config import EnvConfig, TrainConfig
from babyworld.parent.judge_eval import evaluate_judge, pooled_auc, request_utterances
from babyworld.parent.scripted import ScriptedParent
from babyworld.rewards import REWARD_SOURCES, format_weights, parse_weights, resolve_weights
from babyworld.vector import make_envs


class ContraryParent(ScriptedParent):
    """A deliberately exploitable judge (test double, labelled): it flips every log-probability.

    As a judge it prefers the act least like the parent's request, so a baby rewarded by it finds
    that wrong acts pay; its words are the honest scripted parent's.
    """

    label = "scripted-contrary"

    def _score(self, contexts, continuations):
        return [-lp for lp in super()._score(contexts, continuations)]


# ------------------------------------------------------------------------------ reward weights


def test_parse_weights_by_name_missing_names_weigh_zero():
    assert parse_weights("task=0,consistency=1") == {"task": 0.0, "consistency": 1.0}
    w = resolve_weights(parse_weights(" consistency = 2.5 "))
    np.testing.assert_array_equal(w, np.array([0, 2.5, 0, 0, 0], dtype=np.float32))
    assert format_weights({"consistency": 1.0}) == (
        "task=0,consistency=1,predictability=0,mdl=0,progress=0"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task=1,reward=2", r"unknown reward component 'reward'; names are \('task'"),
        ("task=nan", r"weight of 'task' must be finite, got 'nan'"),
        ("task=inf", r"weight of 'task' must be finite"),
        ("task=0,consistency=0", r"all reward weights are 0"),
        ("task", r"reward weights must look like 'task=0,consistency=1'"),
        ("task=one", r"weight of 'task' must be a number, got 'one'"),
        ("task=1,task=2", r"reward component 'task' is weighted twice"),
    ],
)
def test_parse_weights_refuses_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        parse_weights(text)


def test_env_config_normalises_and_checks():
    cfg = EnvConfig(reward_weights="consistency=1", reward_source="parent")
    assert cfg.reward_weights == "task=0,consistency=1,predictability=0,mdl=0,progress=0"
    assert cfg.env_kwargs()["reward_weights"]["consistency"] == 1.0
    assert EnvConfig().env_kwargs() == {"reward_weights": None, "reward_source": "verifier"}
    with pytest.raises(ValueError, match=r"unknown reward source 'judge'; choose one of"):
        EnvConfig(reward_source="judge")


# ------------------------------------------------------------------------------ reward sources


def test_reward_sources_and_refusals():
    assert REWARD_SOURCES == ("verifier", "parent")
    with pytest.raises(ValueError, match=r"unknown reward source 'oracle'; choose one of"):
        PointEnv("scripted", reward_source="oracle")
    with pytest.raises(ValueError, match=r"reward_source='parent' needs a level on which the par"):
        gym.make("babyworld/Request-v0", parent="scripted", reward_source="parent")
    with pytest.raises(ValueError, match=r"--env.reward-source parent needs a level"):
        TrainConfig(level="Request", env=EnvConfig(reward_source="parent"))
    with pytest.raises(ValueError, match=r"--env.reward-source parent needs a level"):
        TrainConfig(curriculum="ladder", env=EnvConfig(reward_source="parent"))


def _all_acts(env, n_steps, seed=0):
    """Every step: the verdict and true success of every allowed act (state restored between)."""
    env.reset(seed=seed)
    rows = []
    for _ in range(n_steps):
        acts = np.flatnonzero(env.action_masks())
        state = env.state_dict()
        per_act = []
        for a in acts:
            env.load_state_dict(state)
            _, _, _, _, info = env.step(int(a))
            per_act.append((info["success"], info["true_success"], info["reward_vector"][1]))
        env.load_state_dict(state)
        _, _, term, _, info = env.step(int(acts[0]))
        rows.append(per_act)
        if term:
            env.reset()
    return rows


@pytest.mark.parametrize("cls", [PointEnv, NameEnv])
def test_scripted_parent_judges_like_the_verifier(cls):
    env = cls(ScriptedParent(), reward_source="parent")
    for per_act in _all_acts(env, 12):
        verdicts = [s for s, _, _ in per_act]
        truths = [t for _, t, _ in per_act]
        assert verdicts == truths and sum(truths) == 1
        # consistency: the right act gets the most, and more than any wrong act
        cons = [c for _, _, c in per_act]
        assert cons[truths.index(True)] > max(c for c, t in zip(cons, truths, strict=True) if not t)


def test_parent_source_reads_the_parents_verdict_not_the_verifiers():
    env = PointEnv(ContraryParent(), reward_source="parent")
    ref = PointEnv(ContraryParent(), reward_source="verifier")
    for per_act, per_ref in zip(_all_acts(env, 8), _all_acts(ref, 8), strict=True):
        truths = [t for _, t, _ in per_act]
        verdicts = [s for s, _, _ in per_act]
        assert not any(
            v and t for v, t in zip(verdicts, truths, strict=True)
        )  # never the right toy
        assert any(verdicts)
        # with the verifier as the source the same act earns what the verifier says
        assert [s for s, _, _ in per_ref] == truths == [t for _, t, _ in per_ref]


def test_parent_verdict_drives_the_reaction_and_task_reward():
    env = PointEnv(ContraryParent(), reward_source="parent", vector_reward=True)
    env.reset(seed=3)
    right = env.right_action()
    _, r, _, _, info = env.step(right)
    assert info["true_success"] and not info["success"]
    assert r[0] == 0.0  # task: the parent said no
    assert info["parent_feedback"].startswith("No.")  # and its reaction says so


# ------------------------------------------------------------------------------ the judge watch


def test_a_stalled_truth_counts_too():
    # proxy 0.2 -> 0.6 (rise 0.4); truth 0.3 -> 0.35 (fall -0.05, lag 0.35)
    proxy, true = [0.2, 0.2, 0.6, 0.6], [0.3, 0.3, 0.35, 0.35]
    assert not over_optimised(proxy, true, 0.1, 0.05)  # the truth did not fall
    assert over_optimised(proxy, true, 0.1, 0.05, min_lag=0.3)
    assert not over_optimised(proxy, true, 0.1, 0.05, min_lag=0.36)
    # proxy and truth rising together: no lag, no alarm
    assert not over_optimised([0.2, 0.2, 0.6, 0.6], [0.2, 0.2, 0.6, 0.6], 0.1, 0.05, 0.1)


def test_a_standing_lead_counts_too():
    # Chat, real parent, seed 1: both curves flat, the verdict about 0.12 above the truth
    proxy, true = [0.84, 0.86, 0.85, 0.85], [0.72, 0.74, 0.73, 0.73]  # rise 0, lead 0.12
    assert not over_optimised(proxy, true, 0.05, 0.05, 0.1)
    assert over_optimised(proxy, true, 0.05, 0.05, 0.1, max_lead=0.1)
    assert not over_optimised(proxy, true, 0.05, 0.05, 0.1, max_lead=0.13)


def test_over_optimised_hand_computed():
    # proxy 0.2,0.3 -> 0.6,0.7: rise 0.4; true 0.5,0.5 -> 0.3,0.3: fall 0.2
    assert over_optimised([0.2, 0.3, 0.6, 0.7], [0.5, 0.5, 0.3, 0.3], 0.1, 0.1)
    assert not over_optimised([0.2, 0.3, 0.6, 0.7], [0.5, 0.5, 0.3, 0.3], 0.1, 0.25)
    # both rise (an honest judge): no alarm
    assert not over_optimised([0.2, 0.3, 0.6, 0.7], [0.2, 0.3, 0.6, 0.7], 0.05, 0.05)
    with pytest.raises(ValueError, match=r"need two equal series of even length >= 2"):
        over_optimised([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], 0.1, 0.1)


def test_watch_warns_once_when_it_turns_on_and_keeps_state():
    watch = JudgeWatch(JudgeWatchConfig(window=4, min_rise=0.1, min_fall=0.1))
    series = [(0.3, 0.4), (0.3, 0.4), (0.6, 0.2), (0.7, 0.1), (0.9, 0.0)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        on = [watch.observe(p, t, step=100 * i) for i, (p, t) in enumerate(series)]
    assert on == [False, False, False, True, True]
    assert [w.category for w in caught] == [JudgeAlert]
    assert (
        "proxy success went 0.30 -> 0.65 while true success went 0.40 -> 0.15 (the proxy leads"
        in str(caught[0].message)
    )
    assert watch.alerts == 2 and watch.first_alert_step == 300
    assert watch.observe(float("nan"), 0.0, step=600)  # no episode ended: skipped
    other = JudgeWatch(watch.cfg)
    other.load_state_dict(watch.state_dict())
    assert other.state_dict() == watch.state_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 3}, r"watch.window must be even"),
        ({"window": 1}, r"watch.window must be an integer >= 2"),
        ({"min_rise": 0.0}, r"watch.min_rise must be a number in \(0, 1\]"),
        ({"min_fall": float("nan")}, r"watch.min_fall must be a number in \(0, 1\]"),
        ({"max_lead": 0}, r"watch.max_lead must be a number in \(0, 1\]"),
    ],
)
def test_watch_config_refuses_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JudgeWatchConfig(**kwargs)


def _watched_run(parent, updates=16):
    # Two toys on the table: chance is 1/2 and the contrary judge always prefers the wrong one.
    envs = make_envs("Point", 8, parent, reward_source="parent", n_objects=2)
    ppo = PPOConfig(rollout_steps=32)
    trainer = PPOTrainer(envs, StudentConfig(), ppo, seed=0, total_steps=updates * 256)
    watch = JudgeWatch(JudgeWatchConfig(window=8))
    callback = Watch(watch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(updates):
            step0 = trainer.global_step
            trainer.collect()
            trainer.update()
            callback.on_update(trainer, UpdateReport(step0, trainer.global_step))
    envs.close()
    return trainer, watch, [w for w in caught if w.category is JudgeAlert]


def test_watch_fires_on_an_exploitable_judge():
    trainer, watch, alerts = _watched_run(ContraryParent())
    eps = list(trainer.episodes)[-200:]
    proxy = np.mean([e["proxy_success"] for e in eps])
    true = np.mean([e["success"] for e in eps])
    assert proxy - true > 0.3 and true < 0.2  # the baby found the blind spot
    assert watch.first_alert_step is not None and len(alerts) >= 1


def test_watch_stays_quiet_with_an_honest_judge():
    trainer, watch, alerts = _watched_run(ScriptedParent())
    eps = list(trainer.episodes)[-200:]
    assert np.mean([e["success"] for e in eps]) > 0.5  # it learns from the parent alone
    assert watch.alerts == 0 and not alerts


# ------------------------------------------------------------------------------ in-env evaluation


def test_pooled_auc_hand_computed():
    # pairs (r, w): (1,0) >, (1,1) tie, (3,0) >, (3,1) > -> (3 + 0.5) / 4
    assert pooled_auc([1.0, 3.0], [0.0, 1.0]) == pytest.approx(0.875)
    with pytest.raises(ValueError, match=r"need at least one right and one wrong value"):
        pooled_auc([], [1.0])


def test_request_utterances_name_one_toy_each():
    from babyworld.world import WorldObject

    toys = (WorldObject("red", "ball"), WorldObject("red", "cup"), WorldObject("blue", "cup"))
    said = dict(request_utterances(toys))
    assert said["red ball"] == 0 and said["ball"] == 0 and said["ball please"] == 0
    assert "red" not in said and "cup" not in said  # each fits two toys: left out
    assert said["cup blue"] == 2 and said["blue"] == 2


@pytest.mark.parametrize("level", ["Point", "Name", "Request"])
def test_scripted_parent_is_a_perfect_judge_in_the_env(level):
    r = evaluate_judge(ScriptedParent(), level, situations=40)
    assert r.top1 == 1.0 and r.auc == 1.0
    assert r.right_reward > 0 > r.wrong_reward


def test_in_env_evaluation_refuses_bad_input():
    with pytest.raises(ValueError, match=r"unknown level 'Ladder' for the in-env judge evaluation"):
        evaluate_judge(ScriptedParent(), "Ladder")
    with pytest.raises(ValueError, match=r"situations must be a positive integer, got 0"):
        evaluate_judge(ScriptedParent(), "Point", situations=0)


@pytest.mark.llm
@pytest.mark.parametrize(("level", "least", "situations"), [("Point", 0.9, 32), ("Name", 0.85, 16)])
def test_real_parent_judges_in_the_env(llm_parent, level, least, situations):
    # The honest judges (built from the parent's view), measured on 500 situations
    # (docs/teacher.md): Point 0.998, Name 0.984; 32 and 16 here (1.000 on both) for the suite's
    # budget (a Name situation judges all 12 words).
    r = evaluate_judge(llm_parent, level, situations=situations)
    assert r.top1 >= least


@pytest.mark.llm
def test_real_parent_judges_chat_against_the_reference(llm_parent):
    # Measured on 500 situations (docs/teacher.md): precision 0.64, verdict agreement 0.936; the
    # old frame and verdict had 0.27 and 0.872 on 200. 4 here (1.00 and 0.969; 8 gave 1.00 and
    # 0.944) for the suite's budget: 4 x 40 replies, each judged against 9 frames.
    r = evaluate_judge(llm_parent, "Chat", situations=4)
    assert r.precision is not None and r.precision >= 0.4
    assert r.verdict_agreement >= 0.85
    assert r.right_reward > r.wrong_reward


# ------------------------------------------------------------------------------ train and ablate


def test_train_learns_from_the_parent_alone_and_reports_both_successes(tmp_path):
    import csv
    import json

    from babyworld.agents.student import StudentConfig as SC
    from babyworld.experiments.train import train

    cfg = TrainConfig(
        parent="scripted",
        steps=4 * 8 * 4,
        num_envs=4,
        out=tmp_path / "run",
        student=SC(d_model=16, history=2),
        ppo=PPOConfig(rollout_steps=8, epochs=2),
        env=EnvConfig(reward_weights="task=1,consistency=0.5", reward_source="parent"),
    )
    run = train(cfg, progress=False)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reward_source"] == "parent"
    assert summary["reward_weights"] == {
        "task": 1.0,
        "consistency": 0.5,
        "predictability": 0.0,
        "mdl": 0.0,
        "progress": 0.0,
    }
    judge = summary["judge"]
    # the scripted parent is a perfect judge: proxy and true success agree
    assert judge["proxy_success_last_500"] == judge["true_success_last_500"]
    assert judge["gap_last_500"] == 0.0 and judge["alert_updates"] == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert {"proxy_success_500", "judge_alert"} <= set(rows[0])
    saved = json.loads((run / "config.json").read_text())
    assert saved["env"] == {
        "reward_weights": "task=1,consistency=0.5,predictability=0,mdl=0,progress=0",
        "reward_source": "parent",
        "consistency_temperature": None,
        "judge_frames": "view",
        "split": "all",
    }
    assert TrainConfig.from_dict(saved).env == cfg.env


def test_ablation_config_takes_env_settings_per_label(tmp_path):
    from babyworld.experiments.ablation.ablate import ConfigError, parse_config

    data = {
        "out": str(tmp_path / "abl"),
        "parent": "scripted",
        "levels": ["Point"],
        "seeds": 2,
        "steps": 1024,
        "env": {"reward_weights": "task=1"},
        "modes": {
            "task_per_act": {"mode": "baby"},
            "parent_only": {"mode": "baby", "env": {"reward_source": "parent"}},
        },
    }
    cfg = parse_config(data)
    by_label = {m.label: m for m in cfg.modes}
    assert by_label["task_per_act"].env.reward_source == "verifier"
    assert by_label["parent_only"].env.reward_source == "parent"
    assert by_label["parent_only"].env.reward_weights.startswith("task=1,consistency=0")
    assert cfg.train_config("Point", by_label["parent_only"], 0).env.reward_source == "parent"
    bad = {**data, "modes": {"x": {"mode": "baby", "env": {"reward_source": "oracle"}}}}
    with pytest.raises(ConfigError, match=r"modes.x.env: unknown reward source 'oracle'"):
        parse_config(bad)
    bad = {**data, "env": {"reward_weights": "task=0"}}
    with pytest.raises(ConfigError, match=r"env: all reward weights are 0"):
        parse_config(bad)
