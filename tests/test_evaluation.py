"""The evaluation protocol: held-out seeds, greedy and sampled, verifier success, no effect on
training, resumable, bad intervals refused (scripted parent: templates, labelled as such)."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from babyworld.agents.evaluate import EVAL_SEED_BASE, eval_seeds, play_episodes
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.experiments.config import EnvConfig, TrainConfig
from babyworld.experiments.evaluation import EVAL_FIELDS, EvalConfig
from babyworld.experiments.train import train
from babyworld.task import Task
from babyworld.validation import SEED_LIMIT
from babyworld.vector import make_envs

SMALL = StudentConfig(d_model=32, n_heads=2, history=4, latent_dim=8, word_dim=8, reader_hidden=32)


def _cfg(tmp_path, name, steps=4 * 8 * 4, **kw):
    kw.setdefault("eval", EvalConfig(every=2, episodes=6, num_envs=4))
    return TrainConfig(
        parent="scripted",
        steps=steps,
        num_envs=4,
        out=tmp_path / name,
        checkpoint_every=100,
        student=SMALL,
        ppo=PPOConfig(rollout_steps=8, epochs=2),
        **kw,
    )


class _Oracle(torch.nn.Module):
    """A stand-in student that acts by the verifier's right act (or always a wrong one)."""

    def __init__(self, envs, wrong=False):
        super().__init__()
        self.envs, self.wrong = envs, wrong
        self.cfg = SimpleNamespace(history=4)
        env0 = envs.envs[0].unwrapped
        space = env0.observation_space
        self.heard_length, self.percept_dim = space["heard"].shape[0], space["percept"].shape[0]
        self.n_actions = int(env0.action_space.n)

    def forward(self, *window_and_mask):
        mask = window_and_mask[-1]
        right = torch.as_tensor([int(r) for r in self.envs.call("right_action")])
        logits = torch.zeros(mask.shape)
        if self.wrong:
            logits[torch.arange(len(right)), right] = -50.0
        else:
            logits[torch.arange(len(right)), right] = 50.0
        return SimpleNamespace(logits=logits.masked_fill(~mask, -1e9))


def test_held_out_seeds_are_disjoint_from_training_seeds():
    assert eval_seeds(3) == [2**32, 2**32 + 1, 2**32 + 2]
    # a training env i gets seed + i with seed below SEED_LIMIT - 4096 and i < 4096
    assert EVAL_SEED_BASE > SEED_LIMIT


@pytest.mark.parametrize("source", ["verifier", "parent"])
def test_success_is_the_verifiers(source):
    envs = make_envs("Point", 3, "scripted", reward_source=source)
    tasks = [Task.make("Point")]
    right = play_episodes(_Oracle(envs), envs, tasks, 5, greedy=True)
    wrong = play_episodes(_Oracle(envs, wrong=True), envs, tasks, 5, greedy=True)
    gen = torch.Generator().manual_seed(0)
    sampled = play_episodes(_Oracle(envs), envs, tasks, 5, greedy=False, generator=gen)
    np.testing.assert_array_equal(right, np.ones(5))
    np.testing.assert_array_equal(wrong, np.zeros(5))
    np.testing.assert_array_equal(sampled, np.ones(5))  # probability ~1 on the right act


def test_episodes_replay_the_same_held_out_scenes():
    envs = make_envs("Name", 4, "scripted")
    seen = []
    real = envs.reset

    def spy(*, seed=None, options=None):
        seen.append(list(seed))
        return real(seed=seed, options=options)

    envs.reset = spy
    from babyworld.agents.student import Student

    torch.manual_seed(0)
    env0 = envs.envs[0].unwrapped
    m = Student(
        SMALL,
        vocab_size=int(env0.observation_space["heard"].nvec[0]),
        heard_length=env0.observation_space["heard"].shape[0],
        percept_dim=env0.observation_space["percept"].shape[0],
        n_actions=int(env0.action_space.n),
        n_rewards=5,
    )
    a = play_episodes(m, envs, [Task.make("Name")], 6, greedy=True)
    first = seen[0]
    b = play_episodes(m, envs, [Task.make("Name")], 6, greedy=True)
    np.testing.assert_array_equal(a, b)
    assert first == [EVAL_SEED_BASE + j for j in range(4)]
    used = {s for call in seen for s in call if s is not None}
    assert min(used) == EVAL_SEED_BASE and len(a) == 6


def _rows(path):
    return list(csv.DictReader(path.open()))


def _training(run):
    rows = _rows(run / "metrics.csv")
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_eval_writes_csv_tensorboard_and_summary_and_leaves_training_alone(tmp_path):
    on = train(_cfg(tmp_path, "on", steps=4 * 8 * 5), progress=False)
    off = train(_cfg(tmp_path, "off", steps=4 * 8 * 5, eval=EvalConfig(episodes=0)), progress=False)
    assert _training(on) == _training(off)
    rows = _rows(on / "eval.csv")
    assert list(rows[0]) == list(EVAL_FIELDS)
    # every 2 updates of 32 steps, and the end (update 5)
    assert [int(r["step"]) for r in rows] == [64, 128, 160]
    assert all(r["episodes"] == "6" for r in rows)
    s = json.loads((on / "summary.json").read_text())
    assert s["eval"]["greedy_success"] == pytest.approx(float(rows[-1]["greedy_success"]), abs=1e-4)
    assert s["eval"]["sampled_success"] == pytest.approx(
        float(rows[-1]["sampled_success"]), abs=1e-4
    )
    assert s["eval"]["episodes"] == 6 and s["eval"]["every"] == 2
    assert s["eval"]["parent_requests"] > 0
    assert json.loads((off / "summary.json").read_text())["eval"] is None
    # the run's parent counters are the training's, evaluation's requests apart
    s_off = json.loads((off / "summary.json").read_text())
    assert s["parent_stats"]["requests"] == s_off["parent_stats"]["requests"] > 0
    assert not (off / "eval.csv").exists()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ev = EventAccumulator(str(on))
    ev.Reload()
    greedy = [e.step for e in ev.Scalars("eval/greedy_success")]
    assert greedy == [64, 128, 160] and len(ev.Scalars("eval/sampled_success")) == 3


def test_resumed_run_evaluates_as_an_uninterrupted_one(tmp_path):
    full = train(_cfg(tmp_path, "full"), progress=False)
    part = train(_cfg(tmp_path, "part"), progress=False, stop_after_updates=3)
    # the interrupted session evaluated at update 2; a row past the checkpoint is cut on resume
    assert [int(r["step"]) for r in _rows(part / "eval.csv")] == [64]
    resumed = train(TrainConfig(resume=part, steps=4 * 8 * 4), progress=False)
    assert _rows(full / "eval.csv") == _rows(resumed / "eval.csv")
    s_full = json.loads((full / "summary.json").read_text())["eval"]
    s_res = json.loads((resumed / "summary.json").read_text())["eval"]
    assert s_full == s_res


@pytest.mark.parametrize("every", [0, -3, 2.5, True])
def test_an_interval_that_is_not_a_whole_number_of_updates_is_refused(tmp_path, every):
    with pytest.raises(ValueError, match="eval.every counts updates .* positive whole number"):
        EvalConfig(every=every)
    assert not (tmp_path / "run").exists()


def test_the_cli_refuses_a_bad_interval_before_anything_runs(tmp_path):
    from babyworld.experiments.cli import main

    out = tmp_path / "run"
    with pytest.raises((SystemExit, ValueError)):
        main(["train", "--parent", "scripted", "--out", str(out), "--eval.every", "0"])
    assert not out.exists()


def test_eval_reads_the_env_settings_but_success_stays_true():
    cfg = TrainConfig(parent="scripted", env=EnvConfig(reward_source="parent"))
    assert cfg.eval.every == 20 and cfg.eval.episodes == 64


# --------------------------------------------------------------------------- held-out toys


@pytest.mark.parametrize("level", ["Point", "Name", "Request"])
def test_a_split_keeps_its_toys_apart_and_a_task_can_ask_for_the_other(level):
    from babyworld.world import is_held_out

    envs = make_envs(level, 4, "scripted", split="train")
    held = lambda e: [is_held_out(o.color, o.shape) for o in e.unwrapped.view().table]  # noqa: E731
    for s in range(0, 40, 4):
        envs.reset(seed=s, options={"task": [Task.make(level)] * 4})  # the env's own split
        assert not any(any(held(e)) for e in envs.envs)
        envs.reset(seed=s, options={"task": [Task.make(level, split="held_out")] * 4})
        assert all(all(held(e)) for e in envs.envs)
    envs.close()


def test_a_split_is_refused_where_it_cannot_hold_anything_out(tmp_path):
    with pytest.raises(ValueError, match="Chat has no held-out split"):
        make_envs("Chat", 1, "scripted", split="train")
    with pytest.raises(ValueError, match="'held_out' holds 6 distinct toys, fewer than the 7"):
        make_envs("Point", 1, "scripted", split="held_out", n_objects=7)
    with pytest.raises(ValueError, match="Chat's situations are not toys on a table"):
        TrainConfig(level="Chat", parent="scripted", env=EnvConfig(split="train"))
    with pytest.raises(ValueError, match="env.split must be 'all' or 'train'"):
        EnvConfig(split="held_out")
    from babyworld.experiments.evaluation import on_split

    with pytest.raises(ValueError, match=r"no task of \['Chat'\] has a split"):
        on_split([Task.make("Chat")])


def test_a_run_without_the_held_out_toys_is_evaluated_on_them_too(tmp_path, capsys):
    from babyworld.experiments.cli import main
    from babyworld.experiments.evaluation import HELD_OUT_FIELDS

    cfg = _cfg(tmp_path, "split", env=EnvConfig(split="train"))
    full = train(cfg, progress=False)
    rows = _rows(full / "eval.csv")
    assert list(rows[0]) == [*EVAL_FIELDS, *HELD_OUT_FIELDS] and len(rows) == 2
    last = json.loads((full / "summary.json").read_text())["eval"]
    for k in HELD_OUT_FIELDS:
        assert f"{last[k]:.4f}" == rows[-1][k]
    # babyworld eval replays both; --split held_out plays the held-out toys alone
    main(["eval", str(full)])
    out = json.loads(capsys.readouterr().out)
    assert all(f"{out[k]:.4f}" == rows[-1][k] for k in ("greedy_success", *HELD_OUT_FIELDS))
    main(["eval", str(full), "--split", "held_out"])
    alone = json.loads(capsys.readouterr().out)
    assert alone["tasks"] == ["Point[split=held_out]"] and "held_out_greedy_success" not in alone
    assert alone["greedy_success"] == out["held_out_greedy_success"]
    # a resumed run writes the same six columns
    part = train(
        _cfg(tmp_path, "part", env=EnvConfig(split="train")), stop_after_updates=3, progress=False
    )
    resumed = train(TrainConfig(resume=part, steps=cfg.steps), progress=False)
    assert _rows(resumed / "eval.csv") == rows
