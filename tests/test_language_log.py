"""Word budgets, transcripts and language measures of a run; `babyworld transcript`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from babyworld.agents.checkpoint import load_checkpoint
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.experiments.cli import main
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.language_log import (
    LanguageConfig,
    LanguageLog,
    count_words,
    meaning_of,
    parse_milestones,
)
from babyworld.experiments.train import train

SMALL = StudentConfig(d_model=16, n_heads=2, history=2, latent_dim=4, word_dim=4, reader_hidden=16)


def _infos(**columns):
    """Vector-env infos of 2 envs from per-env columns."""
    out = {k: np.array(v, dtype=object) for k, v in columns.items()}
    return out


def _step(ends, finished=(), reset=None, **cols):
    base = {
        "exchange_end": ends,
        "task": ["Request", "Request"],
        "baby_utterance": ["", ""],
        "baby_meaning": ["", ""],
        "target": ["red ball", "blue cup"],
        "parent_utterance": ["", ""],
        "parent_feedback": ["", ""],
        "parent_request": ["", ""],
        "true_success": [False, False],
        "success": [False, False],
        "reward_vector": [np.zeros(5), np.zeros(5)],
    }
    base.update(cols)
    return SimpleNamespace(
        infos=_infos(**base),
        finished=[SimpleNamespace(env=i, true_success=1.0) for i in finished],
        reset_infos=reset or {},
    )


def test_word_budgets_and_dialogues_by_hand():
    log = LanguageLog(2, LanguageConfig(dialogues=5), seed=0)
    log.start(_infos(task=["Request", "Name"], parent_utterance=["What do you want?", "Look!"]))
    assert log.heard == {"Request": 4, "Name": 1}
    # env 0 says one word and goes on: the parent says nothing new, nothing is produced yet
    log(_step([False, False]), step=2)
    assert log.words_heard == 5 and log.words_produced == 0
    # env 0 ends its utterance "red ball" (2 words); the parent answers with 6 words
    log(
        _step(
            [True, False],
            finished=[0],
            reset=_infos(task=["Request", None], parent_utterance=["Which toy, sweetie?", None]),
            baby_utterance=["red ball", ""],
            baby_meaning=["asks for the red ball", ""],
            parent_utterance=["Here is the red ball.", ""],
            parent_feedback=["Here is the red ball.", ""],
            true_success=[True, False],
        ),
        step=4,
    )
    assert log.heard == {"Request": 4 + 5 + 3, "Name": 1}
    assert log.produced == {"Request": 2}
    assert log.budgets()["stages"]["Request"] == {"words_heard": 12, "words_produced": 2}
    [dialogue] = log.sample(update=1, step=4)
    assert dialogue["stage"] == "Request" and dialogue["success"] == 1.0
    [turn] = dialogue["turns"]
    assert turn["parent"] == "What do you want?" and turn["baby"] == "red ball"
    assert turn["reaction"] == "Here is the red ball." and turn["success"] is True
    assert turn["verdict"] is False  # the verdict the rewards read is logged beside the truth
    assert log.sample(update=2, step=8) == []  # each dialogue is sampled once
    assert log.pairs["Request"][0] == (("red", "ball"), ("red", "ball"))
    assert log.measures()["Request"]["mean_length"] == 2.0
    # 13 words heard in all: 10 and 13 are passed, once
    assert log.due_milestones([10, 13, 14]) == [10, 13] and log.due_milestones([10, 13]) == []


def test_helpers():
    assert count_words("Yes, well done! It is a red ball.") == 8  # whitespace words (BabyLM)
    assert meaning_of("red ball") == ("red", "ball")
    assert meaning_of("red") == ("red",) and meaning_of("it is bedtime") == ("it is bedtime",)
    assert parse_milestones("1e5,1e6") == (100_000, 1_000_000)
    assert parse_milestones(None) == ()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("0", "not a positive whole number"),
        ("-5", "not a positive whole number"),
        ("1.5", "not a positive whole number"),
        ("1e6,1e5", "must increase: 100000 follows 1000000"),
        ("1e5,1e5", "must increase"),
        ("lots", "'lots' is not a number"),
    ],
)
def test_bad_word_milestones_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(checkpoint_at_words=spec)


def _cfg(tmp_path, name, steps, **kw):
    return TrainConfig(
        parent="scripted",
        level="Name",
        steps=steps,
        num_envs=4,
        out=tmp_path / name,
        checkpoint_every=100,
        student=SMALL,
        ppo=PPOConfig(rollout_steps=8, epochs=1),
        lang=LanguageConfig(every=1, dialogues=2),
        **kw,
    )


def test_run_records_budgets_transcripts_and_milestones_and_resumes_exactly(tmp_path):
    full = train(_cfg(tmp_path, "full", 4 * 8 * 4, checkpoint_at_words="50,400"), progress=False)
    s = json.loads((full / "summary.json").read_text())
    # Name: every act is a one-word answer that ends an exchange -> one word per step
    assert s["words"]["words_produced"] == 128
    assert s["words"]["stages"]["Name"]["words_heard"] == s["words"]["words_heard"] > 400
    assert set(s["language"]["Name"]) >= {"topsim", "entropy", "vocabulary", "posdis"}
    assert s["words_checkpoints"] == {
        "50": "checkpoint_words_50.pt",
        "400": "checkpoint_words_400.pt",
    }
    early = load_checkpoint(full / "checkpoint_words_50.pt")["trainer"]
    assert early["updates"] == 1 and early["language"]["heard"]["Name"] >= 50
    lines = (full / "transcripts.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert [r["update"] for r in records] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert all(len(r["turns"]) == 4 and r["turns"][0]["parent"] for r in records)
    part = train(_cfg(tmp_path, "part", 4 * 8 * 4), progress=False, stop_after_updates=2)
    with (part / "transcripts.jsonl").open("a") as f:
        f.write('{"update": 3, "cut by a kill')  # written after the checkpoint, then killed
    resumed = train(TrainConfig(resume=part, steps=4 * 8 * 4), progress=False)
    r = json.loads((resumed / "summary.json").read_text())
    assert r["words"] == s["words"] and r["language"] == s["language"]
    assert (resumed / "transcripts.jsonl").read_text().splitlines() == lines


def test_transcript_command_prints_and_refuses_bad_input(tmp_path, capsys):
    run = train(_cfg(tmp_path, "run", 4 * 8 * 2), progress=False)
    main(["transcript", str(run), "--last", "1"])
    out = capsys.readouterr().out
    assert "Name" in out and "update 2" in out and "parent" in out
    with pytest.raises(SystemExit) as e:
        main(["transcript", str(run), "--stage", "Chat"])
    assert e.value.code == 2
    assert "no transcripts of stage 'Chat'; its stages: Name" in capsys.readouterr().err
    (run / "transcripts.jsonl").unlink()
    with pytest.raises(SystemExit) as e:
        main(["transcript", str(run)])
    assert e.value.code == 2 and "has no transcripts" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["transcript", str(tmp_path)])
    assert e.value.code == 2 and "is not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["transcript", str(tmp_path / "nowhere")])
    assert e.value.code == 2 and "does not exist" in capsys.readouterr().err


def test_request_probe_names_the_toy_exactly_with_colour_and_shape():
    from babyworld.experiments.studies.request_probe import probe

    out = probe(exchanges=40)
    # distinct toys: naming both attributes matches one candidate only (the scripted channel)
    assert out["colour shape <stop>"] == 1.0
    assert out["three random words"] < out["colour, two random words"] < 1.0
    # <stop> is not needed: the third word ends an utterance, and repeating a right word is
    # harmless (the channel averages over words)
    assert out["colour shape shape"] == 1.0
