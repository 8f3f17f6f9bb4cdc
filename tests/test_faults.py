"""Kill a training run at random moments (checkpoint writes included); it must go on, identically.

Each trial starts a small run (scripted parent) in a child process and SIGKILLs it: after a random
delay, or from inside its k-th atomic file write (the temporary file cut short, whole but not yet
renamed, or just renamed). The run is then continued the way its directory says — ``--resume``
when it holds a ``config.json``, else started again with ``--out`` in place — possibly killed
again, and finally finished. Its last checkpoint must equal an uninterrupted run's bit for bit,
and its ``metrics.csv`` must hold the same rows.

Children are forked from a server that has imported babyworld and torch once, so a kill costs
no import time. ``BABYWORLD_FAULT_KILLS=20`` runs more trials (the default is CI-sized).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from babyworld.agents.checkpoint import load_checkpoint
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.train import train

N_KILLS = int(os.environ.get("BABYWORLD_FAULT_KILLS", "6"))
UPDATES = 6
SMALL = StudentConfig(d_model=16, n_heads=2, history=2, latent_dim=4, word_dim=4, reader_hidden=16)


def _config(out: Path) -> TrainConfig:
    return TrainConfig(
        parent="scripted",
        steps=UPDATES * 16,
        num_envs=2,
        out=out,
        checkpoint_every=1,
        threads=1,
        student=SMALL,
        ppo=PPOConfig(rollout_steps=8, epochs=1, minibatches=2),
    )


def _go_on(out: str, kill_in_write: int, cut: float) -> None:
    """Continue (or start) the run in ``out``; SIGKILL self inside write ``kill_in_write``."""
    from babyworld.agents import checkpoint

    if kill_in_write >= 0:
        calls = {"n": 0}
        fsync, replace = os.fsync, os.replace

        def die() -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        def cut_fsync(fd: int) -> None:
            calls["n"] += 1
            if calls["n"] == kill_in_write and cut < 0.5:  # the temporary file cut short
                os.ftruncate(fd, int(os.fstat(fd).st_size * cut * 2))
                die()
            fsync(fd)

        def cut_replace(src: str, dst: str) -> None:
            if calls["n"] == kill_in_write and cut < 0.75:  # whole, not yet renamed
                die()
            replace(src, dst)
            if calls["n"] == kill_in_write:  # renamed, nothing after it done
                die()

        checkpoint.os = _Patched(fsync=cut_fsync, replace=cut_replace)
    run = Path(out)
    if (run / "config.json").is_file():
        train(TrainConfig(resume=run), progress=False)
    else:
        train(_config(run), progress=False)


class _Patched:
    """``os`` with some functions replaced (only in a child that is about to be killed)."""

    def __init__(self, **funcs: object) -> None:
        self.__dict__.update(funcs)

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)


def _metrics(run: Path) -> list[list[str]]:
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    return [r[:1] + r[2:] for r in rows]  # every column but the wall-clock seconds


@pytest.fixture(scope="module")
def ctx() -> mp.context.BaseContext:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["fault_warmup"])
    # Python 3.11's fork server ignores the parent's sys.path: it finds the preload module here.
    here = str(Path(__file__).parent)
    with pytest.MonkeyPatch.context() as mp_env:
        mp_env.setenv("PYTHONPATH", os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
        p = ctx.Process(target=os.getpid)  # starts the fork server with that environment
        p.start()
        p.join(300)
    return ctx


def test_killed_runs_go_on_and_end_bit_identical(tmp_path: Path, ctx) -> None:
    rng = np.random.default_rng(14)
    # The uninterrupted reference, in a child; it also times a whole run (the kill delays are
    # drawn within it).
    ref = tmp_path / "reference"
    p = ctx.Process(target=_go_on, args=(str(ref), -1, 0.0))
    t0 = time.perf_counter()
    p.start()
    p.join(300)
    assert p.exitcode == 0
    whole = time.perf_counter() - t0
    want = load_checkpoint(ref / "checkpoint.pt")["trainer"]
    kills: Counter[str] = Counter()
    went_on = 0
    for trial in range(N_KILLS):
        run = tmp_path / f"trial{trial}"
        in_write = trial % 2 == 1  # every other kill comes from inside a file write
        for attempt in range(2):  # kill the same run up to twice
            # trials 1 and 3 are first killed in the config's write, then the first checkpoint's
            first = {1: 1, 3: 2}.get(trial) if attempt == 0 else None
            nth = (first or int(rng.integers(1, UPDATES + 3))) if in_write else -1
            cut = float(rng.random())
            p = ctx.Process(target=_go_on, args=(str(run), nth, cut))
            p.start()
            if in_write:
                p.join(300)
            else:
                p.join(float(rng.uniform(0.02, 0.9)) * whole)
                p.kill()
                p.join(60)
            if p.exitcode == 0:
                break  # it finished before the kill came
            assert p.exitcode == -signal.SIGKILL, p.exitcode
            kind = ("cut short", "not renamed", "renamed")[(cut >= 0.5) + (cut >= 0.75)]
            kills[f"in a write, temp file {kind}" if in_write else "at a random moment"] += 1
        finish = ctx.Process(target=_go_on, args=(str(run), -1, 0.0))
        finish.start()
        finish.join(300)
        assert finish.exitcode == 0, f"trial {trial}: the killed run could not go on"
        got = load_checkpoint(run / "checkpoint.pt")["trainer"]
        assert got["global_step"] == want["global_step"]
        for k, v in want["model"].items():
            assert torch.equal(v, got["model"][k]), (trial, k)
        assert _metrics(run) == _metrics(ref), trial
        assert not list(run.glob("*.tmp")), trial
        went_on += 1
    print(
        f"\nfaults: {kills.total()} SIGKILLs ({dict(kills)}) in {N_KILLS} runs; {went_on} of "
        f"{N_KILLS} runs went on and ended bit-identical to the uninterrupted run"
    )
    assert kills.total() >= N_KILLS // 2
