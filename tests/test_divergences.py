"""Tests of the learning modes' pure functions: divergences, distillation supports, GRPO, sparse.

Hand-computed cases are written out in comments; the rest compare against a naive reference
(a sub-vocabulary computed by hand, an exact enumeration over actions, a loop).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from babyworld.agents.divergences import distill_loss, forward_kl, generalized_jsd, reverse_kl
from babyworld.agents.losses import (
    group_relative_advantages,
    mask_logits,
    sparse_episode_returns,
    supervision_bits,
)

D = torch.float64


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=D)


def logs(p) -> torch.Tensor:
    """Log of a probability list (log 0 = -inf)."""
    return t(p).log()


# The 2-action case shared by the hand-computed tests:
#   teacher T = [1/2, 1/2]
#   student S = softmax([ln 3, 0]) = [3/4, 1/4]
S2 = [[math.log(3.0), 0.0]]
T2 = [[math.log(0.5), math.log(0.5)]]

# A 3-action case in which the teacher gives an action probability exactly 0:
#   teacher T = [1/2, 1/2, 0]
#   student S = [1/2, 1/4, 1/4]
S3 = [[math.log(0.5), math.log(0.25), math.log(0.25)]]
T3 = [0.5, 0.5, 0.0]


def random_pair(b=4, a=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(b, a, generator=g, dtype=D)
    teacher = F.log_softmax(2.0 * torch.randn(b, a, generator=g, dtype=D), -1)
    return student, teacher


# --------------------------------------------------------------------------- hand-computed values


def test_forward_kl_hand_computed():
    # KL(T || S) = 1/2 ln((1/2)/(3/4)) + 1/2 ln((1/2)/(1/4))
    #            = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3) = 0.14384103622589042
    torch.testing.assert_close(forward_kl(t(S2), t(T2)), t([0.14384103622589042]))


def test_reverse_kl_hand_computed():
    # KL(S || T) = 3/4 ln((3/4)/(1/2)) + 1/4 ln((1/4)/(1/2))
    #            = 3/4 ln 1.5 - 1/4 ln 2 = 0.30409883108 - 0.17328679514 = 0.13081203594113697
    torch.testing.assert_close(reverse_kl(t(S2), t(T2)), t([0.13081203594113697]))


def test_jsd_hand_computed_alpha_half():
    # M = 1/2 T + 1/2 S = [5/8, 3/8]
    # KL(T || M) = 1/2 ln((1/2)/(5/8)) + 1/2 ln((1/2)/(3/8)) = 1/2 (ln 0.8 + ln 4/3)
    #            = 0.03226926056878557
    # KL(S || M) = 3/4 ln((3/4)/(5/8)) + 1/4 ln((1/4)/(3/8)) = 3/4 ln 1.2 + 1/4 ln(2/3)
    #            = 0.03537489056842484
    # JSD = 1/2 * 0.03226926056878557 + 1/2 * 0.03537489056842484 = 0.033822075568605205
    torch.testing.assert_close(generalized_jsd(t(S2), t(T2), 0.5), t([0.033822075568605205]))


def test_jsd_hand_computed_alpha_quarter():
    # alpha = 1/4 weighs the teacher: M = 1/4 T + 3/4 S = [1/8 + 9/16, 1/8 + 3/16] = [11/16, 5/16]
    # KL(T || M) = 1/2 ln((1/2)/(11/16)) + 1/2 ln((1/2)/(5/16)) = 1/2 ln(8/11) + 1/2 ln 1.6
    #            = 0.07577494906360052
    # KL(S || M) = 3/4 ln((3/4)/(11/16)) + 1/4 ln((1/4)/(5/16)) = 3/4 ln(12/11) + 1/4 ln 0.8
    #            = 0.00947264491366985
    # JSD = 1/4 * 0.07577494906360052 + 3/4 * 0.00947264491366985 = 0.026048220951152518
    torch.testing.assert_close(generalized_jsd(t(S2), t(T2), 0.25), t([0.026048220951152518]))


def test_teacher_zero_probability_hand_computed_no_nan():
    # T = [1/2, 1/2, 0], S = [1/2, 1/4, 1/4]
    # forward: 1/2 ln 1 + 1/2 ln((1/2)/(1/4)) + 0 = 1/2 ln 2 = 0.34657359027997264
    # reverse: S puts 1/4 on an action T gives 0 -> +inf
    # JSD(1/2): M = [1/2, 3/8, 1/8]
    #   KL(T || M) = 1/2 ln 1 + 1/2 ln((1/2)/(3/8)) = 1/2 ln(4/3) = 0.14384103622589042
    #   KL(S || M) = 0 + 1/4 ln((1/4)/(3/8)) + 1/4 ln((1/4)/(1/8)) = 1/4 ln(4/3) = 0.0719205181129452
    #   JSD = 1/2 (0.14384103622589042 + 0.0719205181129452) = 0.10788077716941782
    teacher = logs([T3])
    for fn, expected in (
        (forward_kl, 0.34657359027997264),
        (lambda s, q: generalized_jsd(s, q, 0.5), 0.10788077716941782),
    ):
        student = t(S3).requires_grad_()
        value = fn(student, teacher)
        torch.testing.assert_close(value, t([expected]))
        value.sum().backward()
        assert torch.isfinite(student.grad).all()
    student = t(S3).requires_grad_()
    value = reverse_kl(student, teacher)
    assert value.item() == math.inf
    value.sum().backward()
    assert not torch.isnan(student.grad).any()


# --------------------------------------------------------------------------- structural properties


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_zero_for_identical_inputs(alpha):
    student, _ = random_pair()
    same = F.log_softmax(student, -1)
    for value in (
        forward_kl(student, same),
        reverse_kl(student, same),
        generalized_jsd(student, same, alpha),
    ):
        torch.testing.assert_close(value, torch.zeros(4, dtype=D), atol=1e-12, rtol=0)
    # and strictly positive for different ones
    _, teacher = random_pair()
    assert (generalized_jsd(student, teacher, alpha) > 1e-6).all()


def test_teacher_given_as_logits_is_renormalised():
    student, teacher = random_pair()
    shifted = teacher + t([[3.0], [-1.0], [0.5], [7.0]])  # unnormalised: row-wise offsets
    torch.testing.assert_close(forward_kl(student, shifted), forward_kl(student, teacher))
    torch.testing.assert_close(reverse_kl(student, shifted), reverse_kl(student, teacher))


def test_jsd_symmetric_at_half():
    student, teacher = random_pair()
    swapped = generalized_jsd(teacher, F.log_softmax(student, -1), 0.5)
    torch.testing.assert_close(generalized_jsd(student, teacher, 0.5), swapped)
    # not symmetric away from 1/2
    other = generalized_jsd(teacher, F.log_softmax(student, -1), 0.2)
    assert not torch.allclose(generalized_jsd(student, teacher, 0.2), other)


def test_jsd_endpoints_are_the_kls_as_in_trl():
    student, teacher = random_pair()
    torch.testing.assert_close(generalized_jsd(student, teacher, 0.0), forward_kl(student, teacher))
    torch.testing.assert_close(generalized_jsd(student, teacher, 1.0), reverse_kl(student, teacher))
    assert not torch.allclose(forward_kl(student, teacher), reverse_kl(student, teacher))


def test_jsd_endpoints_are_the_scaled_limits():
    # JSD_a / a -> KL(teacher || student) as a -> 0; JSD_a / (1 - a) -> KL(student || teacher)
    student, teacher = random_pair()
    h = 1e-5
    torch.testing.assert_close(
        generalized_jsd(student, teacher, h) / h, forward_kl(student, teacher), rtol=1e-3, atol=0
    )
    torch.testing.assert_close(
        generalized_jsd(student, teacher, 1 - h) / h,
        reverse_kl(student, teacher),
        rtol=1e-3,
        atol=0,
    )


def test_batched_leading_dims():
    student, teacher = random_pair(b=6)
    flat = forward_kl(student, teacher)
    torch.testing.assert_close(
        forward_kl(student.view(2, 3, 5), teacher.view(2, 3, 5)), flat.view(2, 3)
    )


# --------------------------------------------------------------------------- masking


def _sub_vocab_reference(fn, student, teacher, mask):
    """The same divergence computed row by row on the allowed sub-vocabulary only."""
    rows = []
    for i in range(student.shape[0]):
        keep = mask[i]
        rows.append(fn(student[i, keep][None], teacher[i, keep][None])[0])
    return torch.stack(rows)


@pytest.mark.parametrize(
    "fn",
    [forward_kl, reverse_kl, lambda s, q, m=None: generalized_jsd(s, q, 0.3, m)],
    ids=["forward", "reverse", "jsd0.3"],
)
def test_masked_actions_are_ignored(fn):
    student, teacher = random_pair(b=3, a=5, seed=1)
    mask = torch.tensor(
        [
            [True, False, True, True, False],
            [True, True, True, True, True],
            [False, True, False, False, True],
        ]
    )
    expected = _sub_vocab_reference(fn, student, teacher, mask)
    # 1) a bool mask (teacher still has mass on the masked actions: it is conditioned on the rest)
    torch.testing.assert_close(fn(student, teacher, mask), expected)
    # 2) -inf logits on both sides, no mask
    s_inf = student.masked_fill(~mask, -math.inf)
    t_inf = teacher.masked_fill(~mask, -math.inf)
    torch.testing.assert_close(fn(s_inf, t_inf), expected)
    # 3) the student's own mask_logits (dtype minimum) and a -inf teacher
    torch.testing.assert_close(fn(mask_logits(student, mask), t_inf), expected)
    # and the masked actions matter when not masked
    assert not torch.allclose(fn(student, teacher), expected)


@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl", "jsd"])
def test_masked_gradients_finite_and_zero_on_masked(kind):
    student, teacher = random_pair(b=3, a=5, seed=2)
    mask = torch.tensor([[True, False, True, True, False]] * 3)
    s_inf = student.masked_fill(~mask, -math.inf).requires_grad_()
    t_inf = teacher.masked_fill(~mask, -math.inf)
    distill_loss(s_inf, t_inf, kind=kind, alpha=0.4).backward()
    assert torch.isfinite(s_inf.grad).all()
    assert (s_inf.grad[~mask] == 0).all()
    assert (s_inf.grad[mask] != 0).any()


def test_row_without_allowed_action_raises():
    student, teacher = random_pair(b=2, a=3)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    with pytest.raises(ValueError, match="at least one allowed action"):
        forward_kl(student, teacher, mask)
    with pytest.raises(ValueError, match="at least one allowed action"):
        reverse_kl(torch.full((1, 3), -math.inf, dtype=D), teacher[:1])


def test_teacher_zero_on_all_allowed_raises():
    student, _ = random_pair(b=1, a=3)
    teacher = logs([[0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="teacher gives probability 0 to every allowed action"):
        forward_kl(student, teacher, torch.tensor([[True, True, False]]))


def test_shape_errors():
    student, teacher = random_pair(b=2, a=3)
    with pytest.raises(ValueError, match="same shape"):
        forward_kl(student, teacher[:, :2])
    with pytest.raises(ValueError, match="mask must have the logits' shape"):
        reverse_kl(student, teacher, torch.ones(2, 2, dtype=torch.bool))


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "kind,alpha,support",
    [
        ("forward_kl", 0.5, "full"),
        ("reverse_kl", 0.5, "full"),
        ("jsd", 0.5, "full"),
        ("jsd", 0.0, "full"),
        ("jsd", 1.0, "full"),
        ("forward_kl", 0.5, "topk"),
        ("jsd", 0.7, "topk"),
        ("reverse_kl", 0.5, "sampled"),
    ],
)
def test_gradient_only_into_the_student(kind, alpha, support):
    student, teacher = random_pair()
    student.requires_grad_()
    teacher.requires_grad_()
    loss = distill_loss(
        student,
        teacher,
        kind=kind,
        alpha=alpha,
        support=support,
        k=3,
        actions=torch.tensor([0, 1, 2, 3]),
    )
    loss.backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_forward_kl_gradient_is_student_minus_teacher():
    # d KL(T || softmax(z)) / dz = softmax(z) - T (per row; the loss is the row mean)
    student, teacher = random_pair()
    student.requires_grad_()
    distill_loss(student, teacher, kind="forward_kl").backward()
    expected = (F.softmax(student.detach(), -1) - teacher.exp()) / student.shape[0]
    torch.testing.assert_close(student.grad, expected)


# --------------------------------------------------------------------------- distill_loss supports


@pytest.mark.parametrize("kind,alpha", [("forward_kl", 0.5), ("reverse_kl", 0.5), ("jsd", 0.3)])
def test_full_support_is_row_mean(kind, alpha):
    student, teacher = random_pair()
    fn = {"forward_kl": forward_kl, "reverse_kl": reverse_kl}.get(kind)
    per_row = fn(student, teacher) if fn else generalized_jsd(student, teacher, alpha)
    torch.testing.assert_close(
        distill_loss(student, teacher, kind=kind, alpha=alpha), per_row.mean()
    )


@pytest.mark.parametrize("kind,alpha", [("forward_kl", 0.5), ("reverse_kl", 0.5), ("jsd", 0.3)])
def test_topk_with_k_vocab_equals_full(kind, alpha):
    student, teacher = random_pair()
    full = distill_loss(student, teacher, kind=kind, alpha=alpha)
    torch.testing.assert_close(
        distill_loss(student, teacher, kind, alpha, support="topk", k=5), full
    )
    assert not torch.allclose(
        distill_loss(student, teacher, kind, alpha, support="topk", k=2), full
    )


def test_topk_hand_computed():
    # teacher [0.5, 0.3, 0.2], student [0.2, 0.2, 0.6]; teacher's top 2 = actions {0, 1}
    # renormalised: teacher [5/8, 3/8], student [1/2, 1/2]
    # KL(T' || S') = 5/8 ln((5/8)/(1/2)) + 3/8 ln((3/8)/(1/2)) = 5/8 ln(5/4) + 3/8 ln(3/4)
    #              = 0.13946472 - 0.10788078 = 0.03158394240196326
    # (over the full vocabulary it would be 0.5 ln 2.5 + 0.3 ln 1.5 + 0.2 ln(1/3) = 0.36006)
    student = logs([[0.2, 0.2, 0.6]])
    teacher = logs([[0.5, 0.3, 0.2]])
    value = distill_loss(student, teacher, "forward_kl", support="topk", k=2)
    torch.testing.assert_close(value, t(0.03158394240196326))


def test_topk_respects_mask_and_short_rows():
    student, teacher = random_pair(b=2, a=5, seed=3)
    mask = torch.tensor([[True, True, True, True, True], [True, False, True, False, False]])
    # row 1 has 2 allowed actions < k = 3: it uses both of them, i.e. its full masked divergence
    value = distill_loss(student, teacher, "forward_kl", mask=mask, support="topk", k=3)
    top = F.log_softmax(teacher[0], -1).topk(3).indices
    row0 = forward_kl(student[:1, top], teacher[:1, top])[0]
    row1 = forward_kl(student[1:], teacher[1:], mask[1:])[0]
    torch.testing.assert_close(value, (row0 + row1) / 2)


def test_sampled_value_and_gradient_match_reverse_kl_in_expectation():
    # exact enumeration over the actions, weighted by the student's probabilities:
    #   E_{a ~ p_s}[value(a)] = KL(S || T)  and  E_{a ~ p_s}[grad value(a)] = grad KL(S || T)
    student, teacher = random_pair(b=1, a=4, seed=4)
    mask = torch.tensor([[True, True, False, True]])
    p_s = F.softmax(student.masked_fill(~mask, -math.inf), -1)[0]

    z = student.clone().requires_grad_()
    expected = reverse_kl(z, teacher, mask)[0]
    expected.backward()
    expected_grad = z.grad.clone()

    z = student.clone().requires_grad_()
    total = 0.0
    for a in (0, 1, 3):
        term = distill_loss(
            z, teacher, "reverse_kl", mask=mask, support="sampled", actions=torch.tensor([a])
        )
        # the value is the sampled log-ratio itself
        log_ratio = (
            F.log_softmax(z.detach().masked_fill(~mask, -math.inf), -1)[0, a]
            - F.log_softmax(teacher.masked_fill(~mask, -math.inf), -1)[0, a]
        )
        torch.testing.assert_close(term.detach(), log_ratio)
        total = total + p_s[a] * term
    torch.testing.assert_close(total.detach(), expected.detach())
    total.backward()
    torch.testing.assert_close(z.grad, expected_grad)


def test_sampled_batch_is_row_mean_and_jsd_alpha_one_allowed():
    student, teacher = random_pair()
    actions = torch.tensor([4, 0, 2, 2])
    value = distill_loss(student, teacher, "reverse_kl", support="sampled", actions=actions)
    ls = F.log_softmax(student, -1).gather(-1, actions[:, None])[:, 0]
    lt = teacher.gather(-1, actions[:, None])[:, 0]
    torch.testing.assert_close(value, (ls - lt).mean())
    jsd1 = distill_loss(student, teacher, "jsd", alpha=1.0, support="sampled", actions=actions)
    torch.testing.assert_close(jsd1, value)


def test_sampled_teacher_zero_is_inf_not_nan():
    student = t(S3).requires_grad_()
    value = distill_loss(
        student, logs([T3]), "reverse_kl", support="sampled", actions=torch.tensor([2])
    )
    assert value.item() == math.inf
    value.backward()
    assert not torch.isnan(student.grad).any()


# --------------------------------------------------------------------------- distill_loss errors


def test_distill_loss_errors():
    student, teacher = random_pair(b=2, a=3)
    acts = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="unknown divergence kind 'kl'"):
        distill_loss(student, teacher, kind="kl")
    with pytest.raises(ValueError, match="unknown token support 'some'"):
        distill_loss(student, teacher, support="some")
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            distill_loss(student, teacher, kind="jsd", alpha=bad)
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            generalized_jsd(student, teacher, bad)
    for bad_k in (None, 0, 4, 2.0):
        with pytest.raises(ValueError, match=r"support='topk' needs an integer k in \[1, 3\]"):
            distill_loss(student, teacher, support="topk", k=bad_k)
    for kind, alpha in (("forward_kl", 0.5), ("jsd", 0.5)):
        with pytest.raises(ValueError, match="estimates only the reverse KL"):
            distill_loss(student, teacher, kind, alpha, support="sampled", actions=acts)
    with pytest.raises(ValueError, match="needs the sampled actions"):
        distill_loss(student, teacher, "reverse_kl", support="sampled")
    with pytest.raises(ValueError, match=r"actions must have shape \(2,\)"):
        distill_loss(student, teacher, "reverse_kl", support="sampled", actions=torch.tensor([0]))
    with pytest.raises(ValueError, match="actions must be an integer tensor"):
        distill_loss(student, teacher, "reverse_kl", support="sampled", actions=t([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"actions must be in \[0, 3\)"):
        distill_loss(
            student, teacher, "reverse_kl", support="sampled", actions=torch.tensor([0, 3])
        )
    mask = torch.tensor([[True, True, True], [True, False, True]])
    with pytest.raises(ValueError, match="a sampled action is disallowed"):
        distill_loss(student, teacher, "reverse_kl", mask=mask, support="sampled", actions=acts)


# --------------------------------------------------------------------------- GRPO


def test_group_relative_advantages_hand_computed():
    # ids      [7, 3, 7, 3, 7, 5]
    # returns  [1, 0, 2, 4, 3, 9]
    # group 7: [1, 2, 3], mean 2, sample std sqrt((1 + 0 + 1) / 2) = 1 -> [-1, 0, 1]
    #          (population std sqrt(2/3) would give [-1.2247, 0, 1.2247])
    # group 3: [0, 4], mean 2, sample std sqrt((4 + 4) / 1) = 2 sqrt 2 -> [-1/sqrt 2, 1/sqrt 2]
    # group 5: size 1 -> 0
    returns = t([1.0, 0.0, 2.0, 4.0, 3.0, 9.0])
    ids = torch.tensor([7, 3, 7, 3, 7, 5])
    r2 = 1 / math.sqrt(2)
    adv = group_relative_advantages(returns, ids, eps=0.0)
    torch.testing.assert_close(adv, t([-1.0, -r2, 0.0, r2, 1.0, 0.0]))
    # default eps = 1e-6 in the denominator: group 7 -> [-1, 0, 1] / (1 + 1e-6)
    adv = group_relative_advantages(returns, ids)
    torch.testing.assert_close(adv[[0, 2, 4]], t([-1.0, 0.0, 1.0]) / (1 + 1e-6))
    # scale=False only centres: group 7 -> [-1, 0, 1], group 3 -> [-2, 2], group 5 -> 0
    adv = group_relative_advantages(returns, ids, scale=False)
    torch.testing.assert_close(adv, t([-1.0, -2.0, 0.0, 2.0, 1.0, 0.0]))


def test_group_relative_advantages_size_one_and_constant_groups():
    returns = t([5.0, -3.0, 2.0, 2.0, 2.0])
    ids = torch.tensor([0, 1, 2, 2, 2])
    for scale in (True, False):
        adv = group_relative_advantages(returns, ids, scale=scale)
        torch.testing.assert_close(adv, torch.zeros(5, dtype=D))


def test_group_relative_advantages_matches_trl_contiguous_groups():
    # TRL: rewards.view(-1, G); (r - mean) / (std + eps), torch.std (sample) per group
    g = torch.Generator().manual_seed(5)
    returns = torch.randn(12, generator=g, dtype=D)
    grouped = returns.view(-1, 4)
    ref = ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)).view(
        -1
    )
    adv = group_relative_advantages(returns, torch.arange(3).repeat_interleave(4), eps=1e-4)
    torch.testing.assert_close(adv, ref)


def test_group_relative_advantages_errors():
    with pytest.raises(ValueError, match=r"must both have shape \[B\]"):
        group_relative_advantages(t([1.0, 2.0]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"must both have shape \[B\]"):
        group_relative_advantages(t([[1.0, 2.0]]), torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="returns must be a floating-point tensor"):
        group_relative_advantages(torch.tensor([1, 2]), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="group_ids must be an integer tensor"):
        group_relative_advantages(t([1.0, 2.0]), t([0.0, 0.0]))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        group_relative_advantages(t([1.0, 2.0]), torch.tensor([0, 0]), eps=-1.0)


# --------------------------------------------------------------------------- sparse returns


def test_sparse_episode_returns_with_carry_across_two_rollouts():
    # rollout 1, T = 4, N = 3 (rewards / ends per step, envs as columns)
    #   t0: r [1, 0, 2]  end [0, 1, 0]
    #   t1: r [0, 1, 0]  end [1, 0, 0]
    #   t2: r [3, 0, 0]  end [0, 0, 1]
    #   t3: r [0, 2, 1]  end [1, 0, 0]
    # env 0: episode t0-t1 sums 1 -> paid at t1; episode t2-t3 sums 3 -> paid at t3; carry 0
    # env 1: episode ends at t0 with 0; the next one runs t1-t3 (1 + 0 + 2 = 3) -> carry 3
    # env 2: episode t0-t2 sums 2 -> paid at t2; t3 starts one with 1 -> carry 1
    r1 = t([[1, 0, 2], [0, 1, 0], [3, 0, 0], [0, 2, 1]])
    e1 = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.bool)
    out1, carry1 = sparse_episode_returns(r1, e1)
    torch.testing.assert_close(out1, t([[0, 0, 0], [1, 0, 0], [0, 0, 2], [3, 0, 0]]))
    torch.testing.assert_close(carry1, t([0, 3, 1]))
    # rollout 2, T = 2, carry [0, 3, 1], float episode_end
    #   t0: r [1, 0, 0]  end [1, 1, 0]
    #   t1: r [0, 1, 5]  end [0, 0, 1]
    # env 0: 0 + 1 = 1 at t0; env 1: 3 + 0 = 3 at t0, then 1 -> carry 1; env 2: 1 + 0 + 5 = 6 at t1
    r2 = t([[1, 0, 0], [0, 1, 5]])
    e2 = t([[1, 1, 0], [0, 0, 1]])
    out2, carry2 = sparse_episode_returns(r2, e2, carry1)
    torch.testing.assert_close(out2, t([[1, 3, 0], [0, 0, 6]]))
    torch.testing.assert_close(carry2, t([0, 1, 0]))
    # conservation, and the caller's carry is not modified in place
    total = out1.sum() + out2.sum() + carry2.sum()
    torch.testing.assert_close(total, r1.sum() + r2.sum())
    torch.testing.assert_close(carry1, t([0, 3, 1]))


def test_sparse_episode_returns_matches_loop_reference():
    g = torch.Generator().manual_seed(6)
    rewards = torch.randn(9, 4, generator=g, dtype=D)
    ends = torch.rand(9, 4, generator=g) < 0.3
    carry = torch.randn(4, generator=g, dtype=D)
    out, new_carry = sparse_episode_returns(rewards, ends, carry)
    ref = torch.zeros_like(rewards)
    for i in range(4):
        acc = float(carry[i])
        for s in range(9):
            acc += float(rewards[s, i])
            if ends[s, i]:
                ref[s, i] = acc
                acc = 0.0
        assert abs(float(new_carry[i]) - acc) < 1e-12
    torch.testing.assert_close(out, ref)


def test_sparse_episode_returns_errors():
    with pytest.raises(ValueError, match=r"must both have shape \[T, N\]"):
        sparse_episode_returns(t([[1.0, 2.0]]), torch.tensor([[True]]))
    with pytest.raises(ValueError, match=r"must both have shape \[T, N\]"):
        sparse_episode_returns(t([1.0, 2.0]), torch.tensor([True, False]))
    with pytest.raises(ValueError, match=r"carry must have shape \(2,\)"):
        sparse_episode_returns(t([[1.0, 2.0]]), torch.tensor([[True, False]]), t([0.0]))


# --------------------------------------------------------------------------- supervision bits


def test_supervision_bits_values():
    # binary reward (1 bit) at the end of a 4-step episode: 1/4 bit per step
    assert supervision_bits("scalar", 3, steps_per_signal=4) == 0.25
    # 8-bit numbers: reward vector 5 x 8 = 40, distribution over 3 actions (3 - 1) x 8 = 16
    assert supervision_bits("vector", 3, levels=256) == 40.0
    assert supervision_bits("distribution", 3, levels=256) == 16.0
    assert supervision_bits("vector", 12, n_components=3) == 3.0
    assert supervision_bits("distribution", 37) == 36.0
    assert supervision_bits("none", 37, levels=256) == 0.0
    assert supervision_bits("distribution", 1) == 0.0
    assert supervision_bits("scalar", 3, levels=3) == pytest.approx(math.log2(3))


def test_supervision_bits_errors():
    with pytest.raises(ValueError, match="unknown supervision kind 'dense'"):
        supervision_bits("dense", 3)
    for kwargs, name in (
        ({"n_actions": 0}, "n_actions must be an integer >= 1"),
        ({"n_components": 0}, "n_components must be an integer >= 1"),
        ({"levels": 1}, "levels must be an integer >= 2"),
        ({"steps_per_signal": 0}, "steps_per_signal must be an integer >= 1"),
        ({"levels": 2.5}, "levels must be an integer >= 2"),
    ):
        args = {"kind": "vector", "n_actions": 3, **kwargs}
        with pytest.raises(ValueError, match=name):
            supervision_bits(**args)


def test_episode_group_advantages_by_hand():
    from babyworld.agents.losses import lockstep_group_advantages

    # T = 4 steps, episodes of L = 2, N = 4 envs in groups of G = 2.
    paid = torch.tensor(
        [
            [0.0, 0.0, 0.0, 0.0],
            [2.0, 0.0, 1.0, 1.0],  # episode 0: group 0 returns (2, 0), group 1 (1, 1)
            [0.0, 0.0, 0.0, 0.0],
            [1.0, 3.0, 0.0, 2.0],  # episode 1: group 0 (1, 3), group 1 (0, 2)
        ]
    )
    end = torch.tensor([[0] * 4, [1] * 4, [0] * 4, [1] * 4])
    adv = lockstep_group_advantages(paid, end, episode_len=2, group_size=2, per="episode")
    # (2, 0): mean 1, sample std sqrt(2) -> +-1/sqrt(2); (1, 1): std 0 -> 0; (1, 3), (0, 2) alike
    s = 1 / 2**0.5
    first = torch.tensor([s, -s, 0.0, 0.0])
    second = torch.tensor([-s, s, -s, s])
    expected = torch.stack([first, first, second, second])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)


def test_episode_group_advantages_refuse_misaligned_input():
    from babyworld.agents.losses import lockstep_group_advantages

    paid = torch.zeros(4, 4)
    end = torch.tensor([[0] * 4, [1] * 4, [0] * 4, [1] * 4])
    with pytest.raises(ValueError, match="multiple of episode_len 3"):
        lockstep_group_advantages(paid, end, 3, 2)
    with pytest.raises(ValueError, match="num_envs 4 must be a multiple of group_size 3"):
        lockstep_group_advantages(paid, end, 2, 3)
    with pytest.raises(
        ValueError, match=r"per must be one of \('exchange', 'episode'\), got 'act'"
    ):
        lockstep_group_advantages(paid, end, 2, 2, per="act")
    end[1, 0] = 0
    with pytest.raises(ValueError, match="start together"):
        lockstep_group_advantages(paid, end, 2, 2)


def test_exchange_group_advantages_by_hand():
    from babyworld.agents.losses import lockstep_group_advantages

    # T = 2 steps (one-act episodes of L = 2), N = 4 envs in groups of G = 2: each act's own
    # reward is compared with its group's other answer to the same exchange (the same step).
    reward = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    end = torch.tensor([[0] * 4, [1] * 4])
    adv = lockstep_group_advantages(reward, end, episode_len=2, group_size=2, per="exchange")
    # (1, 0): mean 0.5, sample std sqrt(0.5) -> +-0.5/sqrt(0.5) = +-1/sqrt(2); (1, 1), (0, 0): 0
    s = 1 / 2**0.5
    expected = torch.tensor([[s, -s, 0.0, 0.0], [0.0, 0.0, -s, s]])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)
    # the episode unit gives every step of an episode the return's advantage instead: here the
    # episodes return (1, 0 | 1, 2) at their last step, so group 0 gets +-s at both steps
    by_episode = lockstep_group_advantages(reward.cumsum(0), end, 2, 2, per="episode")
    torch.testing.assert_close(by_episode, torch.tensor([[s, -s, -s, s]] * 2), atol=1e-5, rtol=0)
