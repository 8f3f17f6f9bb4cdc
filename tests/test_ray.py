"""Rollout workers as Ray actors: same results as the local path, recovery, bad input.

One local Ray cluster (2 CPUs) serves the whole module: starting Ray costs seconds.
"""

from __future__ import annotations

import csv
import logging
import pickle
import socket
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("ray")
# One local Ray cluster for the file: under pytest-xdist its tests all run in one worker.
pytestmark = pytest.mark.xdist_group("ray")

import ray  # noqa: E402

from babyworld.agents.checkpoint import load_checkpoint  # noqa: E402
from babyworld.agents.ppo import PPOConfig, PPOTrainer  # noqa: E402
from babyworld.agents.student import StudentConfig  # noqa: E402
from babyworld.experiments.cli import _ray_flag, main  # noqa: E402
from babyworld.experiments.config import TrainConfig  # noqa: E402
from babyworld.experiments.evaluation import EvalConfig  # noqa: E402
from babyworld.experiments.train import train  # noqa: E402
from babyworld.task import Task  # noqa: E402
from babyworld.vector import make_envs  # noqa: E402
from babyworld.vector.cluster import connect, import_ray  # noqa: E402
from babyworld.vector.distributed import RayVectorEnv  # noqa: E402

SMALL = StudentConfig(d_model=32, n_heads=2, history=4, latent_dim=8, word_dim=8, reader_hidden=32)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    started = connect(None)  # what `--ray` alone does: a local cluster, no dashboard
    yield
    if started:
        ray.shutdown()


def _cfg(tmp_path, name, **kw):
    base = dict(
        level="Point",
        parent="scripted",
        seed=3,
        steps=4 * 16 * 3,
        num_envs=4,
        out=tmp_path / name,
        student=SMALL,
        ppo=PPOConfig(rollout_steps=16, epochs=2, minibatches=4),
    )
    return TrainConfig(**{**base, **kw})


def _rows(run):
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def _same(x, y, path=""):
    """Equal values, dtypes and keys, recursively (infos hold dicts and object arrays)."""
    if isinstance(x, dict):
        assert set(x) == set(y), (path, set(x) ^ set(y))
        for k in x:
            _same(x[k], y[k], f"{path}/{k}")
    elif isinstance(x, tuple | list):
        assert len(x) == len(y), path
        for p, q in zip(x, y, strict=True):
            _same(p, q, path)
    elif isinstance(x, np.ndarray) and x.dtype == object:
        assert x.shape == y.shape, path
        for p, q in zip(x, y, strict=True):
            _same(p, q, path)
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and np.array_equal(x, y), (path, x, y)
    else:
        assert type(x) is type(y) and x == y, (path, x, y)


def test_ray_training_equals_local_training(tmp_path):
    local = train(_cfg(tmp_path, "local"), progress=False)
    dist = train(_cfg(tmp_path, "ray", ray="local", workers=2), progress=False)
    rows = _rows(local)
    assert len(rows) == 3 and int(rows[-1]["episodes"]) > 0
    assert _rows(dist) == rows
    a = load_checkpoint(local / "checkpoint.pt")["trainer"]
    b = load_checkpoint(dist / "checkpoint.pt")["trainer"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert [e["return"] for e in a["episodes"]] == [e["return"] for e in b["episodes"]]
    _same(a["envs"][2], b["envs"][2])  # env states (seeds, predictor, ...) came back too
    assert b["parent_stats"]["requests"] == a["parent_stats"]["requests"] > 0
    # where a run executes is not part of its config: stop on Ray, finish locally
    part = _cfg(tmp_path, "moved", ray="local", workers=2)
    train(part, progress=False, stop_after_updates=2)
    moved = train(TrainConfig(resume=tmp_path / "moved"), progress=False)
    assert _rows(moved) == rows
    c = load_checkpoint(moved / "checkpoint.pt")["trainer"]
    assert all(torch.equal(v, c["model"][k]) for k, v in a["model"].items())


def test_vector_env_matches_native_env_step_by_step():
    loc = make_envs("Point", 3, "scripted")
    rv = make_envs("Point", 3, "scripted", ray="local", workers=2)
    try:
        assert [(w.start, w.stop) for w in rv.workers] == [(0, 2), (2, 3)]
        a, b = loc.reset(seed=5), rv.reset(seed=5)
        _same(a, b)
        rng = np.random.default_rng(0)
        for _ in range(9):
            masks = loc.action_masks()
            np.testing.assert_array_equal(masks, rv.action_masks())
            act = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
            ra, rb = loc.step(act), rv.step(act)
            _same(ra, rb)
            ended = ra[2] | ra[3]
            if ended.any():
                _same(
                    loc.reset(options={"reset_mask": ended}),
                    rv.reset(options={"reset_mask": ended}),
                )
        # a bad task in the last shard or a bad seed: refused before any env of any shard moves
        for envs in (loc, rv):
            before = pickle.dumps(envs.call("state_dict"))
            with pytest.raises(ValueError, match="which level 'Point' does not take"):
                envs.reset(options={"task": [None, None, Task.make("Point", max_words=2)]})
            with pytest.raises(ValueError, match=r"^seed\[1\] must be an integer in \[0, "):
                envs.reset(seed=[1, -1, 2])
            assert pickle.dumps(envs.call("state_dict")) == before
        # a bad action in the last shard: refused before any env of any shard moves
        bad = np.zeros(3, dtype=np.int64)
        bad[2] = 99
        for envs in (loc, rv):
            with pytest.raises(ValueError, match=r"^action 99 is outside the action space"):
                envs.step(bad)
        _same(loc.step(bad * 0), rv.step(bad * 0))
    finally:
        rv.close()
        loc.close()


def _kill(worker) -> None:
    """Kill a worker's actor and wait until its process is gone (``ray.kill`` does not wait)."""
    import os
    import time

    ray.kill(worker.actor)
    for _ in range(600):
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"Ray worker pid {worker.pid} still runs 30 s after ray.kill")


def test_dead_worker_is_replaced_and_the_run_continues(caplog):
    envs = make_envs("Point", 4, "scripted", ray="local", workers=2)
    trainer = PPOTrainer(
        envs, SMALL, PPOConfig(rollout_steps=8, epochs=1), seed=0, total_steps=10**4
    )
    try:
        trainer.collect()
        trainer.update()
        old = envs.workers[1]
        old_pid, last_obs = old.pid, {k: v[2:].copy() for k, v in envs._obs.items()}
        _kill(old)
        caplog.set_level(logging.WARNING, logger="babyworld.vector.distributed")
        masks = envs.action_masks()  # finds the dead worker and re-hosts its envs
        [warning] = [r.getMessage() for r in caplog.records]
        assert warning.startswith(f"Ray worker 1 (pid {old_pid} on ")
        assert "envs 2-3) died (ActorDiedError); its envs [2, 3] now run on a new worker" in warning
        assert envs.workers[1].pid != old_pid
        # the lost envs' episodes end now, truncated, with their last observation and no reward
        act = np.array([int(np.flatnonzero(m)[0]) for m in masks])
        obs, rew, term, trunc, infos = envs.step(act)
        assert trunc[2:].all() and not term[2:].any() and (rew[2:] == 0).all()
        assert list(infos["_worker_lost"]) == [False, False, True, True]
        assert infos["worker_lost"][2].startswith(f"worker 1 (pid {old_pid} ")
        for k, v in last_obs.items():
            np.testing.assert_array_equal(obs[k][2:], v)
        # the curriculum runner resets them as any ended env; training goes on
        trainer.runner.reset(seed=1)
        for _ in range(2):
            trainer.collect()
            trainer.update()
        assert trainer.global_step == 3 * 4 * 8
        assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
        # the trainer itself meets a dead worker inside a rollout
        _kill(envs.workers[0])
        trainer.collect()
        trainer.update()
        assert trainer.global_step == 4 * 4 * 8 and len(caplog.records) == 2
    finally:
        envs.close()


def test_bad_workers_and_addresses(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match=r"^--workers 2 needs --ray: pass --ray"):
        TrainConfig(workers=2)
    with pytest.raises(
        ValueError, match=r"^--workers must be an integer >= 1, got 0 \(for 8 envs\)"
    ):
        TrainConfig(ray="local", workers=0)
    with pytest.raises(ValueError, match=r"^--workers 5 is more than the 4 envs \(--num-envs\)"):
        TrainConfig(ray="local", workers=5, num_envs=4)
    with pytest.raises(ValueError, match="more than the 2 envs"):
        RayVectorEnv("Point", 2, "scripted", workers=3)
    assert (
        TrainConfig(ray="local").workers == 2 and TrainConfig(ray="local", num_envs=1).workers == 1
    )
    # nothing listens on a port we just closed: a clear error at once, not Ray's minutes of retries
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionError, match=rf"^no Ray cluster answers at '127.0.0.1:{port}'"):
        connect(f"127.0.0.1:{port}")
    with pytest.raises(ConnectionError, match=r"ray start --head"):
        train(_cfg(tmp_path, "r", ray=f"127.0.0.1:{port}"), progress=False)
    assert not (tmp_path / "r").exists()
    # the command line: --ray alone is a local cluster; errors are one line, exit status 2
    assert _ray_flag(["train", "--ray", "--workers", "2"]) == [
        "train", "--ray", "local", "--workers", "2",
    ]  # fmt: skip
    assert _ray_flag(["train", "--ray", "10.0.0.5:6379"]) == ["train", "--ray", "10.0.0.5:6379"]
    with pytest.raises(SystemExit) as e:
        main(["train", "--parent", "scripted", "--workers", "2", "--out", str(tmp_path / "c")])
    assert e.value.code == 2
    assert "babyworld: error: --workers 2 needs --ray" in capsys.readouterr().err
    # without Ray installed
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"need Ray: pip install 'babyworld\[ray\]'"):
        import_ray()


def test_bad_parent_spec_comes_back_from_the_workers(tmp_path):
    with pytest.raises(ValueError, match="unknown parent spec .no-such-parent."):
        train(_cfg(tmp_path, "p", parent="no-such-parent", ray="local"), progress=False)
    assert not (tmp_path / "p").exists()


@pytest.mark.llm
def test_distributed_training_with_the_real_parent(tmp_path):
    # 2 workers with one env each, one update of 8 steps (several updates under Ray are checked
    # against local training above, with the scripted parent): every worker loads SmolLM2 and
    # answers with it (cold parent cache, batch 1); the learner's evaluation is kept to 4 episodes
    cfg = _cfg(
        tmp_path, "real", parent="smollm2", num_envs=2, steps=2 * 8, ray="local", workers=2,
        eval=EvalConfig(episodes=4, num_envs=4),
        ppo=PPOConfig(rollout_steps=8, epochs=2, minibatches=4),
    )  # fmt: skip
    run = train(cfg, progress=False)
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == [16] and int(rows[-1]["episodes"]) > 0
    import json

    summary = json.loads((run / "summary.json").read_text())
    assert summary["parent"] != "scripted"
    assert summary["parent_stats"]["requests"] > 0 and summary["parent_stats"]["tokens"] > 0
    # this process holds no parent: config.json names how the workers' parent computes
    runtime = json.loads((run / "config.json").read_text())["parent_runtime"]
    assert runtime.startswith("torch ") and "(auto: this CPU has " in runtime


def test_workers_share_a_served_parent():
    # The learner's machine serves the parent (here the FAKE OpenAI-compatible server of
    # tests/openai_fake.py over a tiny model); every worker sends its shard's requests to it.
    from openai_fake import FakeServer
    from test_parent_unit import _tiny_lm

    server = FakeServer(*_tiny_lm())
    spec = f"openai:{server.url}#tiny"
    loc = make_envs("Point", 2, spec)
    rv = make_envs("Point", 2, spec, ray="local", workers=2)
    try:
        _same(loc.reset(seed=1), rv.reset(seed=1))
        n0 = len(server.requests)
        for a in ([0, 1], [2, 0]):
            _same(loc.step(np.array(a)), rv.step(np.array(a)))
        assert len(server.requests) > n0 and rv.parent_stats()["requests"] > 0
    finally:
        rv.close()
        loc.close()
        server.close()
