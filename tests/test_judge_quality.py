"""Honest judges measured: Name's question contrast, Chat's held-out reference, a judge of known
quality (the scripted parent's ``judge_error`` and ``judge_bias``) and the sweep over them.
Scripted parent (templates, labelled as such)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from babyworld.envs.chat import (
    CHAT_REFERENCE,
    ChatEnv,
    check_reference,
    is_echo,
    reference_fits,
)
from babyworld.envs.name import NameEnv
from babyworld.experiments.studies import judge_sweep
from babyworld.parent import make_parent
from babyworld.parent.judge_eval import evaluate_judge
from babyworld.parent.scripted import ScriptedParent
from babyworld.rewards import components
from babyworld.validation import ValidationError


def test_question_contrast_by_hand():
    # m_q = mean(-1, -3) = -2; calibration means -4 and -2 -> -3; j = -2 + 2 * (-2 + 3) = 0
    j = components.question_contrast(
        np.array([-1.0, -3.0]), [np.array([-4.0]), np.array([-2.0])], 2
    )
    assert j == pytest.approx(0.0)
    flat = [np.array([-1.0]), np.array([-2.0]), np.array([-5.0]), np.array([-3.0])]
    # act 0: -1 + 1 * (-1 + 2) = 0; act 1: -5 + 1 * (-5 + 3) = -7
    assert components.question_contrasts(flat, 2, 1.0).tolist() == pytest.approx([0.0, -7.0])
    with pytest.raises(ValueError, match="groups of 3"):
        components.question_contrasts(flat, 3, 1.0)
    with pytest.raises(ValueError, match="at least one calibration question"):
        components.question_contrast(np.array([-1.0]), [], 1.0)


@pytest.mark.parametrize(
    ("situation", "reply", "fits"),
    [
        ("it is lunch time", "eat milk", True),
        ("it is lunch time", "yes eat", True),
        ("it is lunch time", "yes", False),  # neutral words alone say nothing about lunch
        ("it is lunch time", "eat sleep", False),  # a word of another situation
        ("it is bedtime", "bye", True),
        ("grandma comes in", "hi bye", True),
        ("a dog is barking outside", "tired dog dog", False),
        ("the bath is ready", "no no no", False),
    ],
)
def test_the_chat_reference_by_hand(situation, reply, fits):
    assert reference_fits(CHAT_REFERENCE, situation, reply) is fits


def test_echoes():
    assert is_echo("Hey, a dog!", "dog dog")
    assert not is_echo("Hey, a dog!", "tired dog dog")
    assert not is_echo("Hey, a dog!", "")


def test_a_reference_naming_a_word_outside_the_vocabulary_is_refused():
    bad = {**CHAT_REFERENCE, "it is lunch time": {"eat", "pizza"}}
    with pytest.raises(ValidationError, match=r"unknown: \['pizza'\]"):
        check_reference(bad)
    with pytest.raises(ValidationError, match="no neutral word"):
        check_reference({**CHAT_REFERENCE, "it is bedtime": {"yes", "sleep"}})
    with pytest.raises(ValidationError, match="maps each situation"):
        ChatEnv("scripted", reference={"it is lunch time": {"eat"}})


def test_chat_true_success_is_the_reference_not_the_parent():
    # A reference that disagrees with the scripted parent (which copies its own line's words):
    # each situation's words moved to the next situation.
    words = list(CHAT_REFERENCE.values())
    env = ChatEnv(
        "scripted", reference=dict(zip(CHAT_REFERENCE, words[1:] + words[:1], strict=True))
    )
    env.reset(seed=0)
    seen_apart = 0
    for _ in range(200):
        mask = env.action_masks()
        action = int(env.np_random.choice(np.flatnonzero(mask)))
        *_, terminated, truncated, info = env.step(action)
        if info["exchange_end"]:
            situation = info["target"]
            fits = reference_fits(env.reference, situation, info["baby_utterance"])
            assert info["true_success"] is fits
            seen_apart += info["success"] != info["true_success"]
        if terminated or truncated:
            env.reset()
    assert seen_apart > 0  # the parent's verdict is not what true_success reads


@pytest.mark.parametrize(("error", "bias"), [(0.2, 0.0), (0.0, 0.4), (0.3, 0.2)])
def test_a_scripted_judge_of_known_quality(error, bias):
    """Over Name's 72 (toy, question) situations, the judge errs and also accepts the other
    attribute about as often as asked, and always the same way in the same situation."""
    parent = make_parent(f"scripted?judge_error={error}&judge_bias={bias}", shared=False)
    assert parent.label == f"scripted(judge_error={error:g},judge_bias={bias:g})"
    wrong = other = situations = 0
    for seed in range(300):
        env = NameEnv(parent)
        env.reset(seed=seed)
        logits = env.teacher_logprobs()
        accepted = set(np.flatnonzero(logits >= logits.max() - 1e-9))
        task = env._task
        situations += 1
        wrong += env.right_action() not in accepted
        other_word = task.shown.attribute("color" if task.attribute == "shape" else "shape")
        other += env.words.index(other_word) in accepted
        again = NameEnv(parent)
        again.reset(seed=seed)
        assert np.array_equal(again.teacher_logprobs(), logits)
    assert wrong / situations == pytest.approx(error, abs=0.1)
    assert other / situations == pytest.approx(bias * (1 - error), abs=0.12)


def test_judge_settings_are_checked():
    with pytest.raises(ValidationError, match=r"judge_error must be a finite number in \[0, 1\)"):
        ScriptedParent(judge_error=1.0)
    with pytest.raises(ValidationError, match="judge_bias"):
        ScriptedParent(judge_bias=-0.1)


def test_the_chat_judge_is_measured_against_the_reference():
    # The scripted parent copies its own line's words, which name its situation: measured on 500
    # situations, agreement 0.966 and precision 0.93 against the reference.
    r = evaluate_judge(ScriptedParent(), "Chat", situations=16)
    assert r.verdict_agreement is not None and r.verdict_agreement >= 0.9
    assert r.precision is not None and r.precision >= 0.8
    assert r.echoes > 0 and r.echo_accepted is not None and r.echo_reference_accepted is not None
    assert not math.isnan(r.auc)


def test_the_sweep_refuses_shares_outside_0_1_and_creates_nothing(tmp_path):
    out = tmp_path / "sweep"
    for flag in (["--errors", "0", "1.0"], ["--biases", "-0.2"]):
        with pytest.raises(ValueError, match=r"shares in \[0, 1\)"):
            judge_sweep.main(["--out", str(out), *flag])
    assert not out.exists()


def test_the_sweep_trains_every_cell_and_reports(tmp_path):
    out = tmp_path / "sweep"
    args = ["--out", str(out), "--errors", "0", "0.4", "--biases", "0", "--seeds", "1"]
    judge_sweep.main([*args, "--steps", "512"])
    with open(out / "per_seed.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["error"], r["bias"], r["seed"]) for r in table] == [
        ("0.0", "0.0", "0"),
        ("0.4", "0.0", "0"),
    ]
    assert (out / "sweep.png").stat().st_size > 0
    assert "| 0.4 | 0 | 1 |" in (out / "sweep.md").read_text()
    mtime = (out / "e0.4_b0" / "seed0" / "summary.json").stat().st_mtime
    judge_sweep.main([*args, "--steps", "512"])  # finished runs are skipped
    assert (out / "e0.4_b0" / "seed0" / "summary.json").stat().st_mtime == mtime


def test_channel_fits_by_hand():
    lines = np.array([[-1.0, -2.0], [-3.0, -2.5], [-1.5, -4.0]])  # own line first, [K=3, T=2]
    assert components.channel_fits(lines, np.array([-2.0, -3.0]))  # own line best on both tokens
    assert not components.channel_fits(lines, np.array([-2.0, -1.0]))  # token 2 likelier alone
    tie = np.array([[-1.0, -2.0], [-1.0, -3.0]])
    assert not components.channel_fits(tie, np.array([-5.0, -5.0]))  # a tie is not "likelier"
    with pytest.raises(ValueError, match=r"need \[K>=2, T\]"):
        components.channel_fits(lines[:1], np.array([-2.0, -3.0]))
