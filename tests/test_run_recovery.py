"""Run directories a kill or a hand left damaged: refused up front, repaired, or restarted in place."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from babyworld.agents.checkpoint import CheckpointError, load_checkpoint
from babyworld.agents.ppo import PPOConfig, PPOTrainer
from babyworld.agents.student import StudentConfig
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.train import train, train_or_resume

SMALL = StudentConfig(d_model=16, n_heads=2, history=2, latent_dim=4, word_dim=4, reader_hidden=16)
STEPS = 4 * 16  # 4 updates of 2 envs x 8 steps


def _cfg(out: Path) -> TrainConfig:
    return TrainConfig(
        parent="scripted",
        steps=STEPS,
        num_envs=2,
        out=out,
        checkpoint_every=1,
        threads=1,
        student=SMALL,
        ppo=PPOConfig(rollout_steps=8, epochs=1, minibatches=2),
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(_cfg(tmp_path_factory.mktemp("ref") / "run"), progress=False)


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def _same_model(a: Path, b: Path) -> bool:
    x, y = (load_checkpoint(p / "checkpoint.pt")["trainer"]["model"] for p in (a, b))
    return all(torch.equal(v, y[k]) for k, v in x.items())


def _metrics(run: Path) -> list[list[str]]:
    rows = [r.split(",") for r in (run / "metrics.csv").read_text().splitlines()]
    return [r[:1] + r[2:] for r in rows]  # all but the wall-clock seconds


def _part(tmp_path: Path, name: str = "part") -> Path:
    return train(_cfg(tmp_path / name), progress=False, stop_after_updates=2)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: b[:-999] + bytes([b[-999] ^ 4]) + b[-998:], r"SHA-256 digest does not match"),
        (lambda b: b[:50] + b"x" + b[51:], r"SHA-256 digest does not match"),
        (lambda b: b[:-30] + b"x" + b[-29:], r"is corrupt \(its digest line is damaged\)"),
        (lambda b: b[: len(b) // 2], r"is truncated or corrupt \(RuntimeError"),
        (lambda b: b + b"\0", r"is corrupt \(its digest line is damaged\)"),
        (lambda b: b"not a checkpoint at all", "is not a babyworld checkpoint"),
    ],
)
def test_a_damaged_checkpoint_is_refused_before_anything_moves(tmp_path, damage, match):
    run = _part(tmp_path)
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(damage(ckpt.read_bytes()))
    before = _files(run)
    with pytest.raises(CheckpointError, match=match) as e:
        train(TrainConfig(resume=run), progress=False)
    assert str(run / "checkpoint.pt") in str(e.value) and "restore the file" in str(e.value)
    assert _files(run) == before


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"level": "Point"', "config.json is damaged or edited \\(JSONDecodeError"),
        ('{"level": "Point", "bogus": 1}', "config.json is damaged or edited"),
        ("\udcff", "config.json is damaged or edited"),
    ],
)
def test_a_damaged_config_is_refused_before_anything_moves(tmp_path, text, match):
    run = _part(tmp_path)
    (run / "config.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    before = _files(run)
    with pytest.raises(CheckpointError, match=match):
        train(TrainConfig(resume=run), progress=False)
    assert _files(run) == before


def test_metrics_cut_by_a_kill_are_repaired_from_the_checkpoint(tmp_path, reference):
    run = _part(tmp_path)
    metrics = run / "metrics.csv"
    metrics.write_text(metrics.read_text() + "48,9.99,12,0.5000,0.5000,0.5000\n64,1.")
    (run / "checkpoint.pt.k2j4.tmp").write_bytes(b"half a checkpoint")
    train(TrainConfig(resume=run), progress=False)
    assert _metrics(run) == _metrics(reference) and _same_model(run, reference)
    assert not list(run.glob("*.tmp"))


def test_damaged_metrics_before_the_checkpoint_are_refused(tmp_path):
    run = _part(tmp_path)
    metrics = run / "metrics.csv"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], lines[1][:5], *lines[2:]]) + "\n")
    before = _files(run)
    with pytest.raises(CheckpointError, match=r"metrics.csv is damaged at line 2 \('16,"):
        train(TrainConfig(resume=run), progress=False)
    assert _files(run) == before
    metrics.write_text(lines[0] + "\n" + lines[2] + "\n")  # the first update's row is gone
    with pytest.raises(CheckpointError, match="metrics.csv is damaged at line 2"):
        train(TrainConfig(resume=run), progress=False)


def test_a_run_killed_before_its_first_checkpoint_restarts_in_place(tmp_path, reference):
    run = _part(tmp_path)  # as a kill in the first checkpoint's write leaves it:
    (run / "checkpoint.pt").unlink()
    (run / "checkpoint.pt.x81q.tmp").write_bytes(b"cut")
    with pytest.raises(FileExistsError, match="stopped before its first checkpoint.*--resume"):
        train(_cfg(run), progress=False)
    train(TrainConfig(resume=run), progress=False)
    assert _same_model(run, reference) and _metrics(run) == _metrics(reference)
    assert not list(run.glob("*.tmp"))


def test_a_study_brings_any_state_of_a_run_to_its_end(tmp_path, reference):
    """train_or_resume (the studies' runs): fresh, stopped before its first checkpoint, or done."""
    fresh = train_or_resume(_cfg(tmp_path / "fresh"))
    assert _same_model(fresh, reference)
    early = _part(tmp_path)
    (early / "checkpoint.pt").unlink()
    assert _same_model(train_or_resume(_cfg(early)), reference)
    mtime = (fresh / "summary.json").stat().st_mtime
    train_or_resume(_cfg(fresh))  # finished: skipped
    assert (fresh / "summary.json").stat().st_mtime == mtime


def test_a_run_killed_before_its_config_starts_again_with_out(tmp_path, reference):
    run = tmp_path / "early"
    run.mkdir()
    (run / "config.json.a1b2.tmp").write_text("{")
    with pytest.raises(FileNotFoundError, match=f"start it again in place with .*--out {run}"):
        train(TrainConfig(resume=run), progress=False)
    train(_cfg(run), progress=False)
    assert _same_model(run, reference) and not list(run.glob("*.tmp"))


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_directory(tmp_path, monkeypatch):
    def refuse(self):
        raise ValueError("refused")

    monkeypatch.setattr(PPOTrainer, "update", refuse)
    with pytest.raises(ValueError, match="refused"):
        train(_cfg(tmp_path / "gone"), progress=False)
    assert not (tmp_path / "gone").exists()


def _format_2(path: Path, ckpt: dict) -> None:
    """What babyworld wrote before format 3: a digest header line, then the torch.save payload."""
    import hashlib
    import io

    buf = io.BytesIO()
    torch.save({**ckpt, "format": 2}, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    head = f"babyworld-checkpoint format 2 sha256 {digest} bytes {len(payload)}\n".encode()
    path.write_bytes(head + payload)


@pytest.mark.parametrize("older", [1, 2])
def test_an_older_checkpoint_still_resumes(tmp_path, reference, older):
    run = _part(tmp_path)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    if older == 1:
        torch.save({**ckpt, "format": 1}, run / "checkpoint.pt")  # no digest at all
    else:
        _format_2(run / "checkpoint.pt", ckpt)
    assert load_checkpoint(run / "checkpoint.pt")["format"] == older
    train(TrainConfig(resume=run), progress=False)
    assert _same_model(run, reference)
    assert load_checkpoint(run / "checkpoint.pt")["format"] == 3  # rewritten in the new format


def test_a_checkpoint_opens_with_torch_alone(tmp_path):
    import json

    run = _part(tmp_path)
    plain = torch.load(run / "checkpoint.pt", weights_only=True)  # no babyworld code involved
    ours = load_checkpoint(run / "checkpoint.pt")
    assert plain["format"] == 3 and json.loads(plain["config"]) == ours["config"]
    assert plain["step"] == ours["trainer"]["global_step"] > 0
    assert plain["model"].keys() == ours["trainer"]["model"].keys()
    assert all(torch.equal(v, ours["trainer"]["model"][k]) for k, v in plain["model"].items())


@pytest.mark.parametrize("room", ["half a checkpoint", "nothing"])
def test_a_full_disk_stops_the_run_with_its_last_checkpoint_intact(tmp_path, reference, room):
    """Writes that run out of room (here a file size limit, RLIMIT_FSIZE, as a full disk does it
    with ENOSPC) end the run with a message saying how to go on, even when closing its files
    fails too; the checkpoint before loads, and --resume once there is room ends where an
    uninterrupted run ends. With room for half a checkpoint, the checkpoint's write is what
    fails; with none, the metrics and TensorBoard's files fail first."""
    import resource
    import signal

    run = tmp_path / "run"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def squeeze(step: int, success: float) -> None:
        if step == 2 * 16:  # after the 2nd update's checkpoint: the 3rd cannot be written
            size = (run / "checkpoint.pt").stat().st_size // 2 if room != "nothing" else 1
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))

    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    try:
        hint = f"checkpoint is intact: make room and continue with babyworld train --resume {run}"
        with pytest.raises(OSError, match=hint):
            train(_cfg(run), progress=False, on_update=squeeze)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert load_checkpoint(run / "checkpoint.pt")["trainer"]["global_step"] == 2 * 16
    assert not list(run.glob("*.tmp"))  # the half-written checkpoint is gone
    resumed = train(TrainConfig(resume=run), progress=False)
    assert _same_model(resumed, reference)
