"""Learning modes end to end with the scripted parent (templates, labelled as such): each mode
trains, uses the signal it claims, and refuses bad configs."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from babyworld.agents.modes import ModeConfig, check_mode, phase
from babyworld.agents.ppo import PPOConfig, PPOTrainer
from babyworld.agents.student import StudentConfig
from babyworld.experiments.config import TrainConfig
from babyworld.vector import make_envs

SMALL = StudentConfig(d_model=32, n_heads=2, history=4, latent_dim=8, word_dim=8, reader_hidden=32)
PPO = PPOConfig(rollout_steps=8, epochs=2)


def _trainer(mode, level="Point", total=10_000, seed=0, **modes):
    envs = make_envs(level, 4, "scripted")
    return PPOTrainer(envs, SMALL, PPO, seed, total, mode=mode, modes=ModeConfig(**modes))


def _run(t, updates):
    metrics = []
    for _ in range(updates):
        t.collect()
        metrics.append(t.update())
    return metrics


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("level", ["Point", "Name"])
@pytest.mark.parametrize(
    ("mode", "modes"),
    [
        ("baby", {}),
        ("sparse_ppo", {}),
        ("grpo", {}),
        ("distill", {}),
        ("distill", {"offline": True}),
        ("distill", {"divergence": "jsd", "alpha": 0.3}),
        ("self_distill", {}),
        ("self_distill", {"context": "demonstration", "teacher": "live"}),
        ("self_distill", {"support": "sampled", "divergence": "reverse_kl"}),
        ("predict_first", {"switch_steps": 32}),
        ("hybrid", {"switch_steps": 32}),
    ],
)
def test_every_mode_trains_end_to_end(level, mode, modes):
    t = _trainer(mode, level, **modes)
    before = _params(t.model)
    m = _run(t, 2)
    assert t.global_step == 64
    assert all(np.isfinite(v) for row in m for v in row.values())
    assert not _same(before, _params(t.model))


@pytest.mark.parametrize("modes", [{}, {"divergence": "reverse_kl"}, {"offline": True}])
def test_distill_updates_move_the_student_toward_the_parent(modes):
    t = _trainer("distill", **modes)
    t.collect()
    first = t.update()["distill"]
    for _ in range(10):  # the same rollout again: the divergence must fall
        last = t.update()["distill"]
    assert last < 0.7 * first, (first, last)


def test_distill_stores_the_parents_distribution():
    t = _trainer("distill")
    t.collect()
    probs = t.buf["teacher"].exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(8, 4))
    # the scripted judge puts the most mass on the wanted toy; offline acts would follow it
    assert (probs.max(-1).values > 0.5).all()


def test_offline_distill_acts_by_the_parent():
    t = _trainer("distill", offline=True)
    t.collect()
    lp = t.buf["teacher"].gather(-1, t.buf["action"][..., None])[..., 0]
    torch.testing.assert_close(t.buf["logp"], lp)  # the behaviour log-probs are the parent's


def test_sparse_pays_only_the_task_reward_at_episode_end():
    t = _trainer("sparse_ppo")
    t.collect()
    r, end = t.buf["reward"], t.buf["episode_end"].bool()
    assert torch.all(r[..., 1:] == 0)
    assert torch.all(r[..., 0][~end] == 0)
    # Point episodes have 4 one-act exchanges: a paid value is the episode's count of successes
    paid = r[..., 0][end]
    assert paid.numel() > 0 and torch.all((paid >= 0) & (paid <= 4) & (paid == paid.round()))
    assert torch.all(t.buf["terminated"][~end] == 0)  # no exchange horizon cut


def test_predict_phase_leaves_the_policy_head_alone_then_baby_moves_it():
    t = _trainer("predict_first", switch_steps=64)
    head = _params(t.model.policy)
    trunk = _params(t.model)
    _run(t, 2)
    assert _same(head, _params(t.model.policy)) and not _same(trunk, _params(t.model))
    acts = t.buf["action"]
    assert phase("predict_first", t.modes, t.global_step) == "baby"
    _run(t, 1)
    assert not _same(head, _params(t.model.policy))
    assert acts.unique().numel() == 3  # uniform acts covered every symbol


def test_hybrid_switches_from_distill_to_baby():
    t = _trainer("hybrid", switch_steps=32)
    m = _run(t, 2)
    assert m[0]["phase"] == 2.0 and m[0]["distill"] > 0 and m[0]["clipfrac"] == 0
    assert m[1]["phase"] == 0.0 and m[1]["distill"] == 0


def test_self_distill_teacher_is_never_differentiated():
    t = _trainer("self_distill", teacher="initial")
    frozen = _params(t.learning.teacher_model)
    _run(t, 2)
    assert _same(frozen, _params(t.learning.teacher_model))
    assert all(not p.requires_grad for p in t.learning.teacher_model.parameters())


def test_self_distill_ema_teacher_follows_the_formula():
    t = _trainer("self_distill", teacher="ema", ema_decay=0.9)
    t.collect()
    before = _params(t.learning.teacher_model)
    t.update()
    after_student = _params(t.model)
    for b, s, a in zip(before, after_student, t.learning.teacher_model.parameters(), strict=True):
        torch.testing.assert_close(a, 0.9 * b + 0.1 * s)


def _current_heard(t, step, i):
    w = t.buf["window"]
    n = int(w.heard_len[step, i, -1])
    return w.heard[step, i, -1, :n]


def test_self_distill_feedback_context_puts_the_reaction_before_the_request():
    t = _trainer("self_distill", context="feedback")
    t.collect()
    b = t.buf
    for step in range(8):
        for i in range(4):
            n = int(b["sd_len"][step, i])
            cur = _current_heard(t, step, i)
            # the current request stays where the student reads it: at the end
            assert torch.equal(b["sd_heard"][step, i, n - len(cur) : n], cur)
            assert n > len(cur)  # and the reaction came before it


def test_self_distill_feedback_is_the_parents_reaction_alone():
    t = _trainer("self_distill", context="feedback")
    env = t.envs.envs[0].unwrapped
    seen = []
    real = t.learning.teacher_input
    t.learning.teacher_input = lambda tr, i, h, n, fb: (seen.append(fb), real(tr, i, h, n, fb))  # noqa: E731
    t.collect()
    assert seen and all(fb and "?" not in fb for fb in seen)  # reactions, not the next request
    assert all(env.tokenizer.encode(fb) for fb in seen)


def test_self_distill_demonstration_names_the_right_act_before_the_request():
    t = _trainer("self_distill", context="demonstration")
    t.collect()
    env = t.envs.envs[0].unwrapped
    demos = [env.tokenizer.encode(f"the baby says {w}") for w in env.words]
    for step in range(8):
        for i in range(4):
            cur = _current_heard(t, step, i)
            n = int(t.buf["sd_len"][step, i])
            head = t.buf["sd_heard"][step, i, : n - len(cur)].tolist()
            assert head in demos


def test_parent_and_uniform_acts_are_not_counted_as_the_students():
    t = _trainer("distill", offline=True)
    _run(t, 1)
    assert t.episodes_total == 8 and len(t.episodes) == 0
    t = _trainer("predict_first", switch_steps=32)
    _run(t, 2)
    assert t.episodes_total == 16 and len(t.episodes) == 8  # only the baby rollout's


def test_switch_budget_is_rounded_to_whole_rollouts():
    # rollouts of 4 envs x 8 steps = 32: a switch at 40 happens at 64, which a 64-step run never
    # reaches
    with pytest.raises(ValueError, match="rounds up to 64 .* leaves no 'baby' rollout in 64"):
        _trainer("hybrid", total=64, switch_steps=40)
    _trainer("hybrid", total=96, switch_steps=40)


def test_modes_needing_the_parents_distribution_refuse_other_levels():
    with pytest.raises(ValueError, match="one-act levels: use --level Point or Name"):
        TrainConfig(mode="distill", level="Request")
    with pytest.raises(ValueError, match="with --curriculum fixed"):
        TrainConfig(mode="hybrid", curriculum="ladder", modes=ModeConfig(switch_steps=10))
    with pytest.raises(ValueError, match="one-act levels: train on Point or Name"):
        _trainer("distill", level="Chat")


def test_checkpoint_round_trip_keeps_the_teacher_and_the_carry():
    a = _trainer("self_distill", teacher="ema")
    b = _trainer("self_distill", teacher="ema")
    _run(a, 1)
    # a snapshot, as a checkpoint on disk is (state_dict shares live arrays, like torch's)
    state = copy.deepcopy(a.state_dict())
    _run(a, 1)
    b.load_state_dict(state)
    assert state["mode"]["teacher_model"] is not None
    _run(b, 1)
    assert _same(_params(a.learning.teacher_model), _params(b.learning.teacher_model))
    assert _same(_params(a.model), _params(b.model))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.5}, r"modes.alpha must be in \[0, 1\], got 1.5"),
        ({"alpha": -0.1}, r"modes.alpha must be in \[0, 1\]"),
        ({"ema_decay": 1.0}, r"modes.ema_decay must be in \[0, 1\)"),
        ({"top_k": 0}, "modes.top_k must be >= 1"),
        ({"switch_steps": -1}, "modes.switch_steps must be >= 0"),
        ({"support": "sampled"}, "support=sampled estimates KL"),
        ({"divergence": "l2"}, "modes.divergence must be one of"),
        ({"teacher": "oracle"}, "modes.teacher must be one of"),
        ({"group_by": "act"}, r"modes.group_by must be one of \('exchange', 'episode'\)"),
        ({"hindsight": "words"}, r"modes.hindsight must be one of \('act', 'text', 'none'\)"),
    ],
)
def test_bad_mode_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModeConfig(**kwargs)


def test_budgets_that_do_not_add_up_and_unknown_modes():
    with pytest.raises(ValueError, match="leaves no steps of 'baby' in a run of 1000 steps"):
        check_mode("hybrid", ModeConfig(switch_steps=1000), 1000)
    with pytest.raises(ValueError, match="unknown mode 'dream'"):
        check_mode("dream", ModeConfig())
    with pytest.raises(ValueError, match="leaves no steps of 'baby'"):
        TrainConfig(mode="predict_first", steps=5000, modes=ModeConfig(switch_steps=5000))


def test_grpo_groups_replay_one_task_seed_and_advantages_are_group_relative():
    t = _trainer("grpo", group_size=2)
    for _ in range(2):
        t.collect()
        # the two envs of a group heard the same requests and saw the same scenes
        w = t.buf["window"]
        assert torch.equal(w.percept[:, 0], w.percept[:, 1])
        assert torch.equal(w.percept[:, 2], w.percept[:, 3])
        assert not torch.equal(w.percept[:, 0], w.percept[:, 2])
        t.update()
    seeds = t.runner._seeds
    assert seeds[0] == seeds[1] != seeds[2] == seeds[3]
    from babyworld.agents import losses

    adv = t.learning.advantages(t, None, t.weights)  # by exchange, the default
    # centred within every (step, group): the two members' advantages sum to zero
    torch.testing.assert_close(adv[:, 0] + adv[:, 1], torch.zeros(8))
    r = t.buf["reward"][..., 0]  # each act's own task reward: a win beats a loss at that step
    assert ((adv[:, 0] > 0) == (r[:, 0] > r[:, 1])).all()
    episode = losses.lockstep_group_advantages(r, t.buf["episode_end"], 4, 2, per="episode")
    assert (episode[0:4, 0] == episode[0, 0]).all()  # one advantage for every step of an episode


def test_grpo_refuses_what_it_cannot_group():
    with pytest.raises(ValueError, match="applies to the group modes .*, not 'baby'"):
        check_mode("baby", ModeConfig(group_size=2))
    with pytest.raises(ValueError, match="num_envs 4 must be a multiple of --modes.group-size 3"):
        _trainer("grpo", group_size=3)
    with pytest.raises(ValueError, match="needs fixed-length episodes"):
        _trainer("grpo", level="Request", group_size=2)
    envs = make_envs("Point", 4, "scripted")
    with pytest.raises(ValueError, match="rollout-steps 6 must be a multiple of Point's episode"):
        PPOTrainer(
            envs,
            SMALL,
            PPOConfig(rollout_steps=6),
            0,
            1000,
            mode="grpo",
            modes=ModeConfig(group_size=2),
        )
    with pytest.raises(ValueError, match="modes.group_size must be >= 0"):
        ModeConfig(group_size=-1)


def test_grpo_advantages_by_hand():
    from babyworld.agents import losses

    # one group of G = 4 envs, one 4-step episode each; returns 1, 2, 3, 4 paid at the end
    paid = torch.zeros(4, 4)
    paid[3] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    end = torch.zeros(4, 4)
    end[3] = 1
    adv = losses.lockstep_group_advantages(paid, end, 4, 4, per="episode")
    # mean 2.5; sample std sqrt((1.5^2 + 0.5^2 + 0.5^2 + 1.5^2) / 3) = sqrt(5/3) = 1.29099
    want = torch.tensor([-1.5, -0.5, 0.5, 1.5]) / (math.sqrt(5 / 3) + 1e-6)
    for t in range(4):  # every step of an episode carries its episode's advantage
        torch.testing.assert_close(adv[t], want)
    torch.testing.assert_close(want, torch.tensor([-1.16189, -0.38730, 0.38730, 1.16189]))


def test_grpo_in_the_trainer_replays_one_seed_per_group_of_four():
    t = _trainer("grpo")  # default G = 4 over the 4 envs
    assert t.group_size == 4
    t.collect()
    w = t.buf["window"]
    for i in (1, 2, 3):
        assert torch.equal(w.percept[:, 0], w.percept[:, i])
    r = t.buf["reward"][..., 0]
    adv = t.learning.advantages(t, None, t.weights)
    for k in range(8):  # every step of the rollout is one exchange answered by the group of 4
        want = (r[k] - r[k].mean()) / (r[k].std() + 1e-6) if r[k].std() > 0 else torch.zeros(4)
        torch.testing.assert_close(adv[k], want)


@pytest.mark.parametrize("g", [1, -1])
def test_grpo_refuses_fewer_than_two_replays(g, tmp_path):
    with pytest.raises(
        ValueError, match=r"needs --modes.group-size G >= 2 \(default 4\), got 1|must be >= 0"
    ):
        TrainConfig(mode="grpo", modes=ModeConfig(group_size=g))
    from babyworld.experiments.cli import main

    out = tmp_path / "run"
    with pytest.raises((SystemExit, ValueError)):
        main(["train", "--parent", "scripted", "--mode", "grpo", "--modes.group-size", "1",
              "--out", str(out)])  # fmt: skip
    assert not out.exists()


def test_unknown_mode_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="unknown mode 'dream'"):
        TrainConfig(mode="dream")
    from babyworld.experiments.cli import main

    out = tmp_path / "run"
    with pytest.raises((SystemExit, ValueError)):
        main(["train", "--parent", "scripted", "--mode", "dream", "--out", str(out)])
    assert not out.exists()


def test_registry_is_the_one_list_of_modes():
    import typing

    from babyworld.agents.modes import LEGACY, MODES, REGISTRY
    from babyworld.experiments.config import TrainConfig as TC

    assert MODES == tuple(REGISTRY) and {"baby", "sparse_ppo", "grpo"} <= set(MODES)
    hint = typing.get_type_hints(TC)["mode"]
    assert typing.get_args(hint) == MODES + tuple(LEGACY)  # the modes, then older names
    for name, cls in REGISTRY.items():
        assert cls.name == name


def test_ema_update_mixes_each_parameter_by_hand():
    from babyworld.agents.mode_base import ema_update_

    teacher, student = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        teacher.weight.copy_(torch.tensor([[1.0, 2.0]]))
        teacher.bias.fill_(4.0)
        student.weight.copy_(torch.tensor([[3.0, -2.0]]))
        student.bias.fill_(0.0)
    ema_update_(teacher, student, 0.75)
    # 0.75 * 1 + 0.25 * 3 = 1.5; 0.75 * 2 + 0.25 * (-2) = 1.0; 0.75 * 4 = 3.0
    assert teacher.weight.tolist() == [[1.5, 1.0]] and teacher.bias.tolist() == [3.0]
    assert student.weight.tolist() == [[3.0, -2.0]]
    with pytest.raises(ValueError):
        ema_update_(teacher, torch.nn.Linear(2, 1, bias=False), 0.5)  # a parameter short


@pytest.mark.parametrize(("vf_coef", "reaches"), [(0.0, False), (0.5, True)])
def test_predictive_pre_training_takes_no_reward_into_the_weights(vf_coef, reaches):
    # mode predict: uniform acts, no policy loss. With --ppo.vf-coef 0 only the world model and
    # the latent learn: runs whose rollouts carry other rewards end with identical weights; with
    # a critic (vf_coef > 0) the rewards reach the shared encoder.
    ppo = PPOConfig(rollout_steps=8, epochs=2, vf_coef=vf_coef)
    ends = []
    for scramble in (False, True):
        t = PPOTrainer(make_envs("Point", 4, "scripted"), SMALL, ppo, 0, 10_000, mode="predict")
        start = _params(t.model)
        for _ in range(2):
            t.collect()
            if scramble:  # other rewards, the same acts and words
                t.buf["reward"].copy_(
                    torch.rand(t.buf["reward"].shape, generator=torch.Generator().manual_seed(1))
                )
            t.update()
        ends.append(_params(t.model))
        assert t.supervision_summary()["measured_bits_per_step"] == 0
    assert not _same(start, ends[0])  # the world model learnt
    assert _same(ends[0], ends[1]) != reaches
