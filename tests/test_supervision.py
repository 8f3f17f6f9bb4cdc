"""Supervision accounting in bits: hand-computed values of the pure functions, and each mode's
accounting in a scripted run (scripted parent: templates, labelled as such)."""

from __future__ import annotations

import math

import pytest
import torch

from babyworld.agents import supervision as sv
from babyworld.agents.mode_base import RolloutFacts
from babyworld.agents.modes import ModeConfig
from babyworld.agents.ppo import PPOConfig, PPOTrainer
from babyworld.agents.student import StudentConfig
from babyworld.vector import make_envs

SMALL = StudentConfig(d_model=32, n_heads=2, history=4, latent_dim=8, word_dim=8, reader_hidden=32)


def test_binary_verdict_is_at_most_one_bit():
    assert sv.verdict_bits(0.5) == 1.0
    assert sv.verdict_bits(0.0) == sv.verdict_bits(1.0) == 0.0
    # H_b(0.25) = 0.25 log2 4 + 0.75 log2(4/3) = 0.5 + 0.311278 = 0.811278
    assert sv.verdict_bits(0.25) == pytest.approx(0.811278, abs=1e-6)
    with pytest.raises(ValueError, match="probability in"):
        sv.verdict_bits(1.5)


def test_one_count_per_episode_by_hand():
    # Binomial(4, 1/2): probabilities 1/16, 4/16, 6/16, 4/16, 1/16
    q = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]
    want = -sum(x * math.log2(x) for x in q)
    assert want == pytest.approx(2.030639, abs=1e-6)
    assert sv.episode_count_bits(0.5, 4) == pytest.approx(want)
    assert sv.episode_count_bits(0.3, 1) == pytest.approx(sv.verdict_bits(0.3))
    assert sv.episode_count_bits(1.0, 4) == 0.0
    # a count of 4 verdicts tells less than the 4 verdicts themselves
    assert sv.episode_count_bits(0.5, 4) < 4 * sv.verdict_bits(0.5)


def test_distribution_and_demonstration_by_hand():
    teacher = torch.tensor([[0.8, 0.1, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]).log()
    mask = torch.tensor([[True, True, True], [True, True, True], [True, True, False]])
    bits = sv.distribution_bits(teacher, mask)
    h = -(0.8 * math.log2(0.8) + 2 * 0.1 * math.log2(0.1))  # 0.921928
    torch.testing.assert_close(bits, torch.tensor([math.log2(3) - h, 0.0, 0.0]), atol=1e-5, rtol=0)
    assert float(bits[0]) == pytest.approx(0.663034, abs=1e-5)
    torch.testing.assert_close(
        sv.demonstration_bits(mask), torch.tensor([math.log2(3), math.log2(3), 1.0])
    )


def test_act_response_is_bounded_by_the_policys_entropy():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1e30, -1e30], [50.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(
        sv.act_response_bits(logits), torch.tensor([2.0, 1.0, 0.0]), atol=1e-6, rtol=0
    )


def _trainer(mode, weights=None, **modes):
    kw = {} if weights is None else {"reward_weights": weights}
    envs = make_envs("Point", 4, "scripted", **kw)
    return PPOTrainer(
        envs, SMALL, PPOConfig(rollout_steps=8, epochs=1), 0, 10_000, mode=mode,
        modes=ModeConfig(**modes),
    )  # fmt: skip


FACTS = RolloutFacts(
    p_right=0.5, exchanges_per_step=1.0, episodes_per_step=0.25, exchanges_per_episode=4,
    policy_bits=1.5,
)  # fmt: skip


def test_each_mode_reports_its_accounting():
    baby = _trainer("baby")
    got = baby.learning.supervision(baby, FACTS)
    # task verdict 1 bit/step; the consistency score adds at most H(pi) - 1 = 0.5; progress is a
    # function of the verdicts already heard: 0
    assert got == {"verdict": 1.0, "response": 0.5, "progress": 0.0}
    task_only = _trainer("baby", weights={"task": 1.0})
    assert task_only.learning.supervision(task_only, FACTS) == {
        "verdict": 1.0, "response": 0.0, "progress": 0.0,
    }  # fmt: skip
    progress_only = _trainer("baby", weights={"progress": 1.0})
    got = progress_only.learning.supervision(progress_only, FACTS)
    assert got["progress"] == pytest.approx(sv.episode_count_bits(0.5, 4) / 4)  # once/episode
    sparse = _trainer("sparse_ppo")
    got = sparse.learning.supervision(sparse, FACTS)
    assert got == {"episode_count": pytest.approx(2.030639 / 4, abs=1e-6)}
    sd = _trainer("self_distill")
    assert sd.learning.supervision(sd, FACTS) == {"response": 1.5}
    # grpo by exchange (the default): each exchange's verdict, H_b(0.5) = 1 bit per step; by
    # episode: the count (2.030639 / 4 bits per step)
    grpo = _trainer("grpo")
    assert grpo.learning.supervision(grpo, FACTS) == {"verdict": 1.0}
    # sdpo / sdft: GRPO's bits plus only what the reaction (at most H(pi) = 1.5) or the
    # demonstration (log2 3 on Point) may add to them
    for group_by, key, bits in (("exchange", "verdict", 1.0), ("episode", "episode_count", 2.030639 / 4)):  # fmt: skip
        sdpo = _trainer("sdpo", group_by=group_by)
        got = sdpo.learning.supervision(sdpo, FACTS)
        assert got[key] == pytest.approx(bits, abs=1e-6)
        assert got["response"] == pytest.approx(1.5 - bits, abs=1e-6)
        sdft = _trainer("sdft", group_by=group_by)
        sdft.collect()  # the masks of a rollout: 3 allowed acts on Point
        got = sdft.learning.supervision(sdft, FACTS)
        assert got["demonstration"] == pytest.approx(math.log2(3) - bits, abs=1e-6)
        assert sum(got.values()) == pytest.approx(math.log2(3), abs=1e-6)


def test_summary_block_counts_words_heard_apart():
    t = _trainer("distill")
    t.collect()
    s = t.supervision_summary()
    assert set(s["bits_by_kind"]) == {"distribution"}
    assert 0 < s["measured_bits_per_step"] <= math.log2(3) + 1e-6
    assert s["bound_bits_per_step"] == 0.0  # the teacher's distribution is measured
    assert s["words_heard_per_step"] == pytest.approx(float(t.buf["next_len"].float().mean()))
    assert s["steps"] == 32
    p = _trainer("predict_first", switch_steps=32)
    p.collect()
    assert p.supervision_summary()["measured_bits_per_step"] == 0.0  # nothing external


def test_a_bound_is_kept_apart_from_the_measured_bits():
    """``baby``'s consistency score is counted by its bound (H(pi) beyond the verdict): the
    summary sums it in its own column, never with the measured verdicts."""
    t = _trainer("baby")
    t.bits, t.accounted_steps = {"verdict": 30.0, "response": 10.0, "progress": 0.0}, 40
    s = t.supervision_summary()
    assert s["measured_bits_per_step"] == pytest.approx(0.75)
    assert s["bound_bits_per_step"] == pytest.approx(0.25)
    assert s["measured_bits_total"] == pytest.approx(30.0)
    assert s["bits_by_kind"] == {"progress": 0.0, "response": 0.25, "verdict": 0.75}
    assert sv.BOUND_KINDS == {"response"}
