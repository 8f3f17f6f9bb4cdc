"""A trained baby loaded from its run directory acts as the run's own evaluation says it does."""

from __future__ import annotations

import csv
import json
import re

import gymnasium as gym
import numpy as np
import pytest
import torch

import babyworld
from babyworld.agents.checkpoint import CheckpointError
from babyworld.agents.evaluate import EVAL_SEED_BASE
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.evaluation import EvalConfig
from babyworld.experiments.train import train
from babyworld.task import Task

EPISODES = 16


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = TrainConfig(
        level="Point",
        parent="scripted",
        seed=0,
        steps=8 * 16 * 6,
        num_envs=8,
        out=tmp_path_factory.mktemp("trained") / "run",
        student=StudentConfig(d_model=32, history=2),
        ppo=PPOConfig(rollout_steps=16, epochs=2),
        eval=EvalConfig(episodes=EPISODES, num_envs=EPISODES, every=6),
    )
    return train(cfg, progress=False)


def _play(baby, deterministic: bool = True) -> list[float]:
    """The held-out episodes of the run's evaluation, played one env at a time with predict."""
    env = gym.make(babyworld.env_id("Point"), parent="scripted")
    out = []
    for j in range(EPISODES):
        obs, info = env.reset(seed=EVAL_SEED_BASE + j, options={"task": Task.parse("Point")})
        state, right, exchanges, done = None, 0, 0, False
        while not done:
            action, state = baby.predict(
                obs, state, deterministic=deterministic, action_masks=info["action_mask"]
            )
            assert isinstance(action, int)
            obs, _, term, trunc, info = env.step(action)
            exchanges += bool(info["exchange_end"])
            right += bool(info["exchange_end"]) and bool(info["true_success"])
            done = term or trunc
        out.append(right / exchanges)
    env.close()
    return out


def test_a_loaded_baby_plays_the_runs_greedy_evaluation_exactly(run):
    baby = babyworld.load(run)
    assert (
        baby.level == "Point"
        and baby.n_actions == gym.make(babyworld.env_id("Point"), parent="scripted").action_space.n
    )
    with (run / "eval.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    assert int(last["step"]) == json.loads((run / "summary.json").read_text())["steps"]
    assert f"{np.mean(_play(baby)):.4f}" == last["greedy_success"]


def test_the_window_is_the_one_the_trainer_builds(run):
    # The state after each predict holds exactly the window the trainer's HistoryBuffer builds
    # from the same observations and acts (reset: start; step: push with the act taken).
    import torch

    from babyworld.agents.history import HistoryBuffer

    baby = babyworld.load(run)
    m = baby.model
    env = gym.make(babyworld.env_id("Point"), parent="scripted")
    gen = torch.Generator().manual_seed(1)  # sampled acts, so that they differ
    pushed = []
    for episode in range(6):
        ref = HistoryBuffer(1, m.cfg.history, m.heard_length, m.percept_dim, baby.n_actions)
        obs, info = env.reset(seed=episode)
        ref.start_rows(np.ones(1, dtype=bool), {k: np.asarray(v)[None] for k, v in obs.items()})
        state, done = None, False
        while not done:
            action, state = baby.predict(
                obs, state, deterministic=False, action_masks=info["action_mask"], generator=gen
            )
            for a, b in zip(state.history.w.as_tuple(), ref.w.as_tuple(), strict=True):
                assert torch.equal(a, b)
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
            if not done:
                batch = {k: np.asarray(v)[None] for k, v in obs.items()}
                ref.push_rows(np.ones(1, dtype=bool), batch, np.array([action]))
                pushed.append(action)
    assert len(set(pushed)) > 1  # the windows saw different acts


def test_a_batch_of_observations_acts_as_each_one_alone(run):
    baby = babyworld.load(run)
    envs = [gym.make(babyworld.env_id("Point"), parent="scripted") for _ in range(3)]
    firsts = [e.reset(seed=EVAL_SEED_BASE + i) for i, e in enumerate(envs)]
    batch = {k: np.stack([o[k] for o, _ in firsts]) for k in firsts[0][0]}
    masks = np.stack([i["action_mask"] for _, i in firsts])
    acts, state = baby.predict(batch, action_masks=masks)
    assert acts.shape == (3,) and len(state.actions) == 3
    alone = [baby.predict(o, action_masks=i["action_mask"])[0] for o, i in firsts]
    assert acts.tolist() == alone
    # a second step: the window moves on, and an episode_start restarts that row only
    steps = [e.step(int(a)) for e, a in zip(envs, acts, strict=True)]
    batch = {k: np.stack([s[0][k] for s in steps]) for k in batch}
    masks = np.stack([s[4]["action_mask"] for s in steps])
    again, state = baby.predict(batch, state, np.array([False, True, False]), action_masks=masks)
    fresh, _ = baby.predict({k: v[1] for k, v in batch.items()}, action_masks=masks[1])
    assert again[1] == fresh


def test_bad_input_is_refused_clearly(run, tmp_path):
    baby = babyworld.load(run)
    name_env = gym.make(babyworld.env_id("Name"), parent="scripted")
    obs, info = name_env.reset(seed=0)
    with pytest.raises(ValueError, match="trained on Point"):
        baby.predict({"heard": obs["heard"]})
    point = gym.make(babyworld.env_id("Point"), parent="scripted")
    obs, info = point.reset(seed=0)
    with pytest.raises(ValueError, match=r"action_masks has shape \(2,\)"):
        baby.predict(obs, action_masks=np.ones(2, dtype=bool))
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    _, state = baby.predict(batch)
    with pytest.raises(ValueError, match="state is for 2 observations, got 1"):
        baby.predict(obs, state)
    with pytest.raises(FileNotFoundError, match="not a babyworld run directory"):
        babyworld.load(tmp_path)
    (tmp_path / "config.json").write_text((run / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        babyworld.load(tmp_path)


def _eval(capsys, *argv) -> dict:
    from babyworld.experiments.cli import main

    main(["eval", *map(str, argv)])
    return json.loads(capsys.readouterr().out)


def test_eval_plays_the_runs_last_evaluation_again(run, capsys, tmp_path):
    with (run / "eval.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    out = _eval(capsys, run, "--out", tmp_path / "e" / "eval.json")
    assert out == json.loads((tmp_path / "e" / "eval.json").read_text())
    assert (out["step"], out["episodes"], out["tasks"], out["parent"]) == (
        int(last["step"]),
        EPISODES,
        ["Point"],
        "scripted",
    )
    assert f"{out['greedy_success']:.4f}" == last["greedy_success"]
    assert f"{out['sampled_success']:.4f}" == last["sampled_success"]
    assert np.mean(out["greedy_per_episode"]) == pytest.approx(out["greedy_success"], abs=1e-4)
    # another seed draws other sampled acts from the same weights; greedy acts do not change
    other = _eval(capsys, run, "--seed", 7, "--episodes", 8, "--num-envs", 3)
    assert other["greedy_per_episode"] == out["greedy_per_episode"][:8]
    assert other["seed"] == 7 and len(other["sampled_per_episode"]) == 8


def test_eval_plays_one_rung_of_a_ladder_run(capsys, tmp_path):
    cfg = TrainConfig(
        curriculum="ladder",
        parent="scripted",
        steps=4 * 16,
        num_envs=4,
        out=tmp_path / "ladder",
        student=StudentConfig(d_model=16, history=2),
        ppo=PPOConfig(rollout_steps=16, epochs=1),
        eval=EvalConfig(episodes=2, num_envs=2),
    )
    run = train(cfg, progress=False)
    out = _eval(capsys, run, "--level", "Name", "--episodes", 3)
    assert out["tasks"] == ["Name"] and len(out["greedy_per_episode"]) == 3
    # Name's episodes have 4 exchanges: success is a count of quarters
    assert all(4 * x == int(4 * x) for x in out["greedy_per_episode"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--episodes", "0"], "--episodes must be >= 1, got 0"),
        (["--level", "Name"], "trained on Point .3 acts.; Name's observations or its 12 acts"),
        (["--level", "Bogus"], "unknown level 'Bogus'"),
        (["--parent", "bogus"], "unknown parent spec 'bogus'"),
    ],
)
def test_eval_refuses_bad_input_and_writes_nothing(run, capsys, tmp_path, argv, message):
    from babyworld.experiments.cli import main

    with pytest.raises(SystemExit) as e:
        main(["eval", str(run), *argv, "--out", str(tmp_path / "eval.json")])
    assert e.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "eval.json").exists()


def _spawn(*argv):
    import sys

    import pexpect

    code = "from babyworld.experiments.cli import main; main()"
    return pexpect.spawn(
        sys.executable, ["-c", code, "play", *map(str, argv)], encoding="utf-8", timeout=120
    )


def test_play_in_a_terminal_watching(run):
    import pexpect

    child = _spawn(run)
    child.expect(r"episode 1 of 1 · Point · scripted · greedy")
    child.expect(r"parent: \S.*\r\n")
    child.expect(r"baby:   sym\d \(points at the \w+ \w+\)")
    child.expect(r"rewarded [✓✗]  truth [✓✗] \(wanted: \w+ \w+\)  task [+-]\d\.\d\d  consistency")
    child.expect(r"q quit > ")
    child.sendline("")  # the next exchange
    child.expect(r"baby:   sym\d")
    child.expect(r"q quit > ")
    child.sendline("q")
    child.expect(r"episode 1: \d of 2 exchanges right \(the verifier\)")
    child.expect(r"played 1 episode\(s\): true success (0|0\.5|1)\.\d\d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_play_in_a_terminal_as_the_parent(run):
    import pexpect

    child = _spawn(run, "--you", "--no-pause")
    child.expect(r"\[you, the parent: ask for this toy — object: (\w+ \w+)\]")
    wanted = child.match.group(1)
    child.expect(r"you say> ")
    child.sendline(f"Where is the {wanted}?")
    # the baby points; its parent (you) is asked to react, with what it was handed
    child.expect(r"\[you, the parent: react to what the baby did — said: Where is the [\w ]+\?, "
                 r"got: (\w+ \w+), verdict: (right|wrong)\]")  # fmt: skip
    child.expect(r"you say> (Yes, well done!|No\.) ")
    child.sendline("Thank you, little one.")
    child.expect(r"you say> ")  # the next request
    child.sendline("And now?")
    child.expect(r"baby:   sym\d \(points at the \w+ \w+\)")
    child.expect(r"parent: (Yes, well done!|No\.) Thank you, little one\.")
    child.sendeof()  # input ends: the session stops cleanly
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--episodes", "0"], "--episodes must be >= 1, got 0"),
        (["--level", "Name"], "trained on Point (3 acts); Name's observations or its 12 acts"),
    ],
)
def test_play_refuses_bad_input(run, capsys, argv, message):
    from babyworld.experiments.cli import main

    with pytest.raises(SystemExit) as e:
        main(["play", str(run), "--no-pause", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_export_writes_files_any_framework_reads_and_load_reads_them(run, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file

    from babyworld.experiments.cli import main

    main(["export", str(run), str(tmp_path / "baby")])
    out = tmp_path / "baby"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
    original, exported = babyworld.load(run), babyworld.load(out)
    assert meta["level"] == "Point" and int(meta["step"]) == original.step == exported.step
    weights = load_file(str(out / "model.safetensors"))  # no babyworld code needed to read them
    for k, v in original.model.state_dict().items():
        assert torch.equal(weights[k], v)
    # the exported baby is the same policy: the run's last evaluation again
    capsys.readouterr()
    assert _eval(capsys, out)["greedy_success"] == _eval(capsys, run)["greedy_success"]
    # nothing is overwritten; a damaged file is refused
    with pytest.raises(FileExistsError, match="not an empty directory"):
        babyworld.experiments.rundir.export(run, out)
    (out / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="is damaged"):
        babyworld.load(out)
