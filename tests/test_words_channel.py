"""The words-channel study: rewards after right and after wrong acts, from hand-made transcripts."""

from __future__ import annotations

import json

import pytest

from babyworld.experiments.studies.words_channel import main, per_seed


def _write(run, turns_by_update):
    run.mkdir(parents=True)
    lines = []
    for update, turns in turns_by_update.items():
        turns = [{"success": ok, "rewards": {"predictability": r, "mdl": -0.5}} for ok, r in turns]
        lines.append(json.dumps({"update": update, "turns": turns}))
    (run / "transcripts.jsonl").write_text("\n".join(lines) + "\n")


def test_right_and_wrong_turns_by_phase_of_training(tmp_path, capsys):
    # updates 1..6: the first third is updates 1-2, the last third 5-6
    turns = {
        1: [(True, -0.6), (False, -0.5)],
        2: [(True, -0.8), (False, -0.3)],
        3: [(True, 0.0)],  # the middle third is not reported
        4: [(False, 0.0)],
        5: [(True, -0.9), (False, -0.2), (False, -0.4)],
        6: [(False, -0.3)],
    }
    _write(tmp_path / "Point" / "no_judgement" / "seed0", turns)
    shifted = {u: [(ok, r + 0.1) for ok, r in t] for u, t in turns.items()}
    _write(tmp_path / "Point" / "no_judgement" / "seed1", shifted)
    rows = per_seed(tmp_path)
    first = rows[0]
    assert (first["phase"], first["right_turns"], first["wrong_turns"]) == ("first third", 2, 2)
    assert first["reward_right"] == pytest.approx(-0.7) and first["reward_wrong"] == -0.4
    last = rows[1]
    assert (last["right_turns"], last["wrong_turns"]) == (1, 3)
    assert last["reward_right"] == -0.9 and last["reward_wrong"] == pytest.approx(-0.3)
    main([str(tmp_path)])
    table = (tmp_path / "by_truth.md").read_text()
    # right - wrong: first third -0.7 - (-0.4) = -0.3 in both seeds; last third -0.9 - (-0.3)
    assert (
        "| Point | no_judgement | first third | 2 | -0.650 | -0.350 | -0.300 [-0.300, -0.300] |"
        in table
    )
    assert (
        "| Point | no_judgement | last third | 2 | -0.850 | -0.250 | -0.600 [-0.600, -0.600] |"
        in table
    )
    assert (tmp_path / "by_truth.csv").read_text().count("\n") == 5  # a header, 2 seeds x 2 phases
    assert "first third" in capsys.readouterr().out


def test_an_empty_directory_says_what_to_do(tmp_path):
    with pytest.raises(
        SystemExit, match="no run with transcripts under .*: run the ablation first"
    ):
        main([str(tmp_path)])


def test_the_world_model_is_measured_on_held_out_episodes_after_right_and_wrong(tmp_path):
    # Two tiny scripted Point runs in the ablation's layout: one whose world model trained, one
    # whose world model never did (wm_coef 0). Bits per word of the parent's reactions: the
    # untrained one guesses near uniformly over the vocabulary, the trained one far better.
    import csv
    import math

    from babyworld.agents.ppo import PPOConfig
    from babyworld.agents.student import StudentConfig
    from babyworld.experiments.config import EnvConfig, TrainConfig
    from babyworld.experiments.evaluation import EvalConfig
    from babyworld.experiments.rundir import load
    from babyworld.experiments.train import train

    def run(label, wm):
        cfg = TrainConfig(
            parent="scripted", level="Point", steps=STEPS, out=tmp_path / "Point" / label / "seed0",
            student=StudentConfig(d_model=32, history=2), num_envs=4,
            ppo=PPOConfig(rollout_steps=32, epochs=2, minibatches=2, wm_coef=wm),
            env=EnvConfig(reward_source="parent"), eval=EvalConfig(episodes=0),
        )  # fmt: skip
        return train(cfg, progress=False)

    uniform = math.log2(load(run("untrained", 0.0)).model.vocab_size)
    run("trained", 1.0)
    _write(tmp_path / "Point" / "transcripts_only" / "seed0", {1: [(True, 0.0)]})  # no checkpoint
    main([str(tmp_path), "--world-model", "8"])
    with open(tmp_path / "world_model.csv") as f:
        rows = {r["label"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"trained", "untrained"}
    for r in rows.values():  # every exchange of the 8 episodes ends in a reaction
        assert int(r["right_reactions"]) + int(r["wrong_reactions"]) == 8 * 4
    assert float(rows["untrained"]["bits_after_wrong"]) > 0.8 * uniform
    assert float(rows["trained"]["bits_after_wrong"]) < 0.5 * uniform
    assert "| Point | trained | 1 |" in (tmp_path / "world_model.md").read_text()
    with pytest.raises(SystemExit, match="--world-model must be >= 0 episodes, got -1"):
        main([str(tmp_path), "--world-model", "-1"])


STEPS = 4 * 32 * 6  # six updates of 4 envs x 32 steps
