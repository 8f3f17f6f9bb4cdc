"""SDPO and SDFT as they are (scripted parent: templates, labelled as such): hindsight inputs,
peers, the blend with GRPO, warm start, and the teacher carrying a signal once the student reads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from babyworld.agents.history import Window
from babyworld.agents.mode_base import MiniBatch
from babyworld.agents.modes import ModeConfig
from babyworld.agents.modes_sd import first_successful_peer, hindsight_window
from babyworld.agents.ppo import PPOConfig, PPOTrainer
from babyworld.agents.student import StudentConfig
from babyworld.experiments.config import TrainConfig
from babyworld.vector import make_envs

SMALL = StudentConfig(d_model=32, n_heads=2, history=4, latent_dim=8, word_dim=8, reader_hidden=32)
PPO = PPOConfig(rollout_steps=8, epochs=2)


def _trainer(mode, n=4, seed=0, ppo=PPO, **modes):
    envs = make_envs("Point", n, "scripted")
    return PPOTrainer(envs, SMALL, ppo, seed, 100_000, mode=mode, modes=ModeConfig(**modes))


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def test_first_successful_peer_by_hand():
    s = np.array([False, True, True, False])
    assert first_successful_peer(s, 2) == [1, None, None, 2]
    s = np.array([True, True, False, True, False, False, False, False])
    # group 0 = rows 0-3: row 0 -> 1 (not itself), rows 1-3 -> 0; group 1: nobody succeeded
    assert first_successful_peer(s, 4) == [1, 0, 0, 0, None, None, None, None]


def test_hindsight_window_rolls_and_shows_the_judged_act():
    h, length = 3, 5
    w = Window(
        heard=torch.arange(2 * h * length).reshape(2, h, length),
        heard_len=torch.tensor([[1, 2, 3], [4, 5, 5]]),
        percept=torch.arange(2 * h * 2, dtype=torch.float32).reshape(2, h, 2),
        prev_action=torch.tensor([[3, 0, 1], [3, 3, 2]]),
        valid=torch.tensor([[False, True, True], [True, True, True]]),
    )
    new = torch.full((2, length), 7)
    out = hindsight_window(w, new, torch.tensor([2, 4]), torch.tensor([2, 0]))
    assert torch.equal(out.heard[:, :2], w.heard[:, 1:]) and torch.equal(out.heard[:, 2], new)
    assert out.heard_len.tolist() == [[2, 3, 2], [5, 5, 4]]
    assert out.prev_action.tolist() == [[0, 1, 2], [3, 2, 0]]  # the judged act comes last
    assert torch.equal(out.percept[:, 2], w.percept[:, 2])  # the same scene
    assert out.valid.tolist() == [[True, True, True], [True, True, True]]
    assert torch.equal(w.prev_action, torch.tensor([[3, 0, 1], [3, 3, 2]]))  # input untouched


def _collect_with_feedback(t):
    """One rollout of ``t``, and the parent's reaction each env heard after each step."""
    feedback, hook = [], t.learning.after_env_step

    def spy(trainer, step, heard, n, infos):
        feedback.append(list(infos["parent_feedback"]))
        return hook(trainer, step, heard, n, infos)

    t.learning.after_env_step = spy
    t.collect()
    return feedback


@pytest.mark.parametrize("hindsight", ["act", "text"])
def test_sdpo_teacher_reads_a_successful_peer_else_the_feedback(hindsight):
    t = _trainer("sdpo", hindsight=hindsight)
    feedback = _collect_with_feedback(t)
    b, env = t.buf, t.envs.envs[0].unwrapped
    enc = lambda text: [int(x) for x in env.tokenizer.encode(text)]  # noqa: E731
    peers_seen = 0
    for step in range(8):
        ok = (b["action"][step] == b["right"][step]).numpy()  # Point: right act = success
        peers = first_successful_peer(ok, 4)
        for i in range(4):
            act, p = int(b["action"][step, i]), peers[i]
            if p is None:  # the judged act and the parent's reaction to it, either way
                context, shown = feedback[step][i], act
            elif hindsight == "act":  # the peer's act as an act, then its reaction
                context, shown = feedback[step][p], int(b["action"][step, p])
            else:  # the peer's act in words the baby never hears; the judged act
                context, shown = f"the baby says {env.words[int(b['action'][step, p])]}", act
            peers_seen += p is not None
            cur_n = int(b["window"].heard_len[step, i, -1])
            cur = b["window"].heard[step, i, -1, :cur_n].tolist()
            want = (enc(context) + cur)[-t.heard_length :]  # the request stays last
            assert b["sd_heard"][step, i, : int(b["sd_len"][step, i])].tolist() == want
            assert int(b["sd_act"][step, i]) == shown
    assert peers_seen > 0


@pytest.mark.parametrize("hindsight", ["act", "text"])
def test_sdft_teacher_reads_the_right_act(hindsight):
    t = _trainer("sdft", hindsight=hindsight)
    t.collect()
    b, env = t.buf, t.envs.envs[0].unwrapped
    for i in range(4):
        right, act = int(b["right"][0, i]), int(b["action"][0, i])
        cur = b["window"].heard[0, i, -1, : int(b["window"].heard_len[0, i, -1])].tolist()
        demo = (
            [] if hindsight == "act" else env.tokenizer.encode(f"the baby says {env.words[right]}")
        )
        assert b["sd_heard"][0, i, : int(b["sd_len"][0, i])].tolist() == [*demo, *cur]
        assert int(b["sd_act"][0, i]) == (right if hindsight == "act" else act)


@pytest.mark.parametrize("mode", ["sdpo", "sdft"])
def test_sd_modes_train_log_diagnostics_and_keep_the_teacher_frozen(mode):
    t = _trainer(mode, teacher="initial")
    frozen = _params(t.learning.teacher_model)
    for _ in range(2):
        t.collect()
        m = t.update()
    assert np.isfinite(m["sd/kl"]) and m["sd/kl"] == pytest.approx(m["distill"])
    assert -1 <= m["sd/teacher_minus_student_right"] <= 1
    assert np.isfinite(m["sd/hindsight_gain_right"])
    assert all(
        torch.equal(a, b) for a, b in zip(frozen, _params(t.learning.teacher_model), strict=True)
    )
    assert all(not p.requires_grad for p in t.learning.teacher_model.parameters())


def test_distill_weight_zero_is_grpo():
    a = _trainer("sdpo", distill_weight=0.0, teacher="live")
    b = _trainer("grpo")
    for t in (a, b):
        t.collect()
        t.update()
    assert all(torch.equal(x, y) for x, y in zip(_params(a.model), _params(b.model), strict=True))


def test_bad_sd_settings_are_refused():
    with pytest.raises(ValueError, match=r"modes.distill_weight must be in \[0, 1\]"):
        ModeConfig(distill_weight=1.5)
    with pytest.raises(ValueError, match="needs --modes.group-size G >= 2"):
        TrainConfig(mode="sdpo", modes=ModeConfig(group_size=1))
    with pytest.raises(ValueError, match="one-act levels"):
        TrainConfig(mode="sdft", level="Request")


def _teach_to_read(model, rollouts):
    """Supervised: the student learns to act on a hindsight act shown before the request.

    Trained on SDPO's and SDFT's own hindsight inputs of other episodes (the hindsight act as the
    previous act, then what is heard: the reaction to it says whether it was right) with
    cross-entropy to the right act, and on the plain inputs towards the uniform choice: what the
    student knows comes from the hint alone. (Left alone, the plain inputs can come to carry the
    task too, through the request and the scene, and the hint then adds nothing: with one torch
    thread SDPO's gap was 2e-5.)
    """
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    f = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
    for _ in range(150):
        for b in rollouts:
            w, mask = Window(*(f(x) for x in b["window"].as_tuple())), f(b["mask"])
            tw = hindsight_window(w, f(b["sd_heard"]), f(b["sd_len"]), f(b["sd_act"]))
            logits = model(*tw.as_tuple(), mask).logits
            plain = model(*w.as_tuple(), mask).logits.masked_fill(~mask, -torch.inf)
            uniform = mask / mask.sum(-1, keepdim=True)
            loss = (
                torch.nn.functional.cross_entropy(logits, f(b["right"]))
                - (uniform * plain.log_softmax(-1).masked_fill(~mask, 0.0)).sum(-1).mean()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()


def _flat(t):
    """The rollout as one minibatch: its windows, masks, acts and right acts, flattened."""
    b = t.buf
    f = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
    t.flat = {k: f(b[k]) for k in t.mode_fields}
    return Window(*(f(x) for x in b["window"].as_tuple())), f(b["mask"]), f(b["action"])


def _sd_metrics(t):
    """The ``sd/*`` diagnostics over the whole rollout, through the mode's own loss."""
    w, mask, action = _flat(t)
    with torch.no_grad():
        out = t.model(*w.as_tuple(), mask)
        logp = torch.log_softmax(out.logits, -1).gather(-1, action[:, None])[:, 0]
        idx = torch.arange(action.shape[0])
        t.learning.policy_loss(
            t, MiniBatch(idx, out, w, mask, action, logp, logp, logp.mean(), logp)
        )
    return t.learning.update_metrics()


def _gap(t):
    """``sd/teacher_minus_student_right`` of a live teacher: its hindsight gain, the same."""
    m = _sd_metrics(t)
    assert m["sd/hindsight_gain_right"] == pytest.approx(m["sd/teacher_minus_student_right"])
    return m["sd/teacher_minus_student_right"]


def test_the_hindsight_gain_compares_the_teacher_with_itself():
    # an initial teacher lags the student: the margin adds that lag, the gain leaves it out
    t = _trainer("sdpo", teacher="initial")
    for _ in range(3):
        t.collect()
        t.update()
    t.collect()
    m = _sd_metrics(t)
    w, mask, _ = _flat(t)
    right = t.flat["right"][:, None]
    with torch.no_grad():
        p_teacher = (
            t.learning.teacher_model(*w.as_tuple(), mask).logits.softmax(-1).gather(-1, right)
        )
        p_student = t.model(*w.as_tuple(), mask).logits.softmax(-1).gather(-1, right)
    lag = float((p_teacher - p_student).mean())
    gain, margin = m["sd/hindsight_gain_right"], m["sd/teacher_minus_student_right"]
    assert margin - gain == pytest.approx(lag, abs=1e-6) and abs(lag) > 1e-3


def test_a_student_that_reads_makes_the_teacher_know_more_than_the_student():
    # teach a student to read hindsight acts on SDPO and SDFT rollouts of some episodes ...
    rollouts = []
    for mode in ("sdpo", "sdft"):
        school = _trainer(mode, n=8, seed=11, teacher="live")
        for _ in range(3):
            school.collect()
            rollouts.append({k: v.clone() for k, v in school.buf.items() if torch.is_tensor(v)})
            rollouts[-1]["window"] = Window(*(x.clone() for x in school.buf["window"].as_tuple()))
    reader = school.model  # any student: it learns from both schools' rollouts
    _teach_to_read(reader, rollouts)
    weights = reader.state_dict()
    # ... then start SDPO and SDFT from it (a warm start) on other episodes
    for mode in ("sdpo", "sdft"):
        scratch = _trainer(mode, n=8, seed=5, teacher="live")
        scratch.collect()
        fresh = _gap(scratch)  # from a random init the teacher knows no more than the student
        warm = _trainer(mode, n=8, seed=5, teacher="live")
        warm.warm_start(weights)
        warm.collect()
        gap = _gap(warm)
        assert gap > 0.03 and gap > abs(fresh) + 0.02, (mode, gap, fresh)


def test_demonstrations_are_refused_when_the_parent_judges():
    from babyworld.experiments.config import EnvConfig

    parent = EnvConfig(reward_source="parent")
    with pytest.raises(ValueError, match="mode 'sdft' shows the verifier's right act"):
        TrainConfig(mode="sdft", env=parent)
    with pytest.raises(ValueError, match="mode 'self_distill' shows the verifier's right act"):
        TrainConfig(mode="self_distill", env=parent, modes=ModeConfig(context="demonstration"))
    TrainConfig(mode="sdpo", env=parent)  # a peer's act and the parent's feedback: allowed


def test_warm_start_from_a_checkpoint_and_bad_weights_refused(tmp_path):
    from babyworld.agents.checkpoint import load_checkpoint
    from babyworld.experiments.evaluation import EvalConfig
    from babyworld.experiments.train import train

    def cfg(name, **kw):
        return TrainConfig(
            parent="scripted", steps=64, num_envs=4, out=tmp_path / name, student=SMALL,
            ppo=PPOConfig(rollout_steps=8, epochs=1), eval=EvalConfig(episodes=0), **kw,
        )  # fmt: skip

    warm = train(cfg("warm"), progress=False)
    ckpt = warm / "checkpoint.pt"
    t = _trainer("sdpo", teacher="initial")
    t.warm_start(load_checkpoint(ckpt)["trainer"]["model"])
    want = load_checkpoint(ckpt)["trainer"]["model"]
    for name, p in t.learning.teacher_model.state_dict().items():  # the teacher starts warm too
        assert torch.equal(p, want[name])
    run = train(cfg("sd", mode="sdpo", init_from=ckpt), progress=False)
    diag = json.loads((run / "summary.json").read_text())["mode_diagnostics"]
    margin = diag["sd/teacher_minus_student_right"]  # per update, kept across a resume:
    assert [s for s, _ in margin["per_update"]] == [32, 64]
    assert margin["mean"] == pytest.approx(np.mean([v for _, v in margin["per_update"]]))
    part = train(cfg("part", mode="sdpo", init_from=ckpt), progress=False, stop_after_updates=1)
    again = json.loads(
        (train(TrainConfig(resume=part), progress=False) / "summary.json").read_text()
    )
    assert again["mode_diagnostics"] == diag
    other = StudentConfig(d_model=16, n_heads=2, history=4, latent_dim=8, word_dim=8)
    bad = dataclasses.replace(cfg("bad", mode="sdpo", init_from=ckpt), student=other)
    with pytest.raises(ValueError, match="--init-from weights do not fit"):
        train(bad, progress=False)
    assert not (tmp_path / "bad").exists()


def test_without_hindsight_the_teacher_reads_the_students_window():
    # hindsight "none" (the control): no gain by construction; a live teacher is then the
    # student itself, so the divergence is 0 and only (1 - w) * GRPO moves the weights
    t = _trainer("sdpo", hindsight="none", teacher="live")
    t.collect()
    m = _sd_metrics(t)
    zero = pytest.approx(0.0, abs=1e-6)  # exp(log_softmax) against softmax: rounding only
    assert m["sd/hindsight_gain_right"] == zero and m["sd/teacher_minus_student_right"] == zero
    assert m["sd/kl"] == zero
    ema = _trainer("sdpo", hindsight="none")  # an EMA teacher lags: a pull, still no gain
    for _ in range(2):
        ema.collect()
        ema.update()
    ema.collect()
    m = _sd_metrics(ema)
    assert m["sd/hindsight_gain_right"] == zero and abs(m["sd/teacher_minus_student_right"]) > 1e-3
