"""Tests of the PPO trainer's pure loss, advantage and divergence functions.

Every function is checked against values computed by hand (written out in comments) or a naive
loop reference, in the style of SB3's ``test_gae.py``, CleanRL's GAE equivalence test and TRL's
loss tests.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from babyworld.agents.losses import (
    combine_components,
    explained_variance,
    gae,
    heard_cross_entropy,
    kl_standard_normal,
    mask_logits,
    ppo_policy_loss,
    value_loss,
    world_model_error,
)

D = torch.float64


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=D)


# --------------------------------------------------------------------------- gae

# A 3-step, single-env rollout shared by the hand-computed cases, gamma = 0.9, lam = 0.8
# (gamma * lam = 0.72).
#   rewards     = [1.0, 0.0, 2.0]
#   values      = [0.5, 1.0, 1.5]
#   next_values = [1.0, 1.5, 2.0]
GAMMA, LAM = 0.9, 0.8
R3 = [[1.0], [0.0], [2.0]]
V3 = [[0.5], [1.0], [1.5]]
NV3 = [[1.0], [1.5], [2.0]]


def test_gae_hand_computed_no_episode_end():
    # deltas:
    #   d0 = 1.0 + 0.9 * 1.0 - 0.5 = 1.4
    #   d1 = 0.0 + 0.9 * 1.5 - 1.0 = 0.35
    #   d2 = 2.0 + 0.9 * 2.0 - 1.5 = 2.3
    # advantages (backwards):
    #   A2 = d2 = 2.3
    #   A1 = 0.35 + 0.72 * 2.3   = 0.35 + 1.656   = 2.006
    #   A0 = 1.4  + 0.72 * 2.006 = 1.4  + 1.44432 = 2.84432
    # returns = A + V = [3.34432, 3.006, 3.8]
    zeros = t([[0.0], [0.0], [0.0]])
    adv, ret = gae(t(R3), t(V3), t(NV3), zeros, zeros, GAMMA, LAM)
    torch.testing.assert_close(adv, t([[2.84432], [2.006], [2.3]]))
    torch.testing.assert_close(ret, t([[3.34432], [3.006], [3.8]]))


def test_gae_hand_computed_termination_at_step_1():
    # terminated[1] = end[1] = 1:
    #   d1 = 0.0 + 0.9 * 0 * 1.5 - 1.0 = -1.0   (no bootstrap)
    #   A2 = 2.3
    #   A1 = d1 = -1.0                          (recursion stopped)
    #   A0 = 1.4 + 0.72 * (-1.0) = 0.68
    term = t([[0.0], [1.0], [0.0]])
    adv, ret = gae(t(R3), t(V3), t(NV3), term, term, GAMMA, LAM)
    torch.testing.assert_close(adv, t([[0.68], [-1.0], [2.3]]))
    torch.testing.assert_close(ret, t([[1.18], [0.0], [3.8]]))


def test_gae_hand_computed_truncation_at_step_1():
    # truncated at step 1 (terminated = 0, end = 1):
    #   d1 = 0.0 + 0.9 * 1.5 - 1.0 = 0.35       (bootstraps from next_values[1])
    #   A2 = 2.3
    #   A1 = d1 = 0.35                          (recursion stopped)
    #   A0 = 1.4 + 0.72 * 0.35 = 1.652
    term = t([[0.0], [0.0], [0.0]])
    end = t([[0.0], [1.0], [0.0]])
    adv, ret = gae(t(R3), t(V3), t(NV3), term, end, GAMMA, LAM)
    torch.testing.assert_close(adv, t([[1.652], [0.35], [2.3]]))
    torch.testing.assert_close(ret, t([[2.152], [1.35], [3.8]]))


def test_gae_truncation_bootstraps_from_next_values():
    # Same truncation, but next_values[1] = 2.5 instead of 1.5:
    #   d1 = 0.9 * 2.5 - 1.0 = 1.25; A1 = 1.25; A0 = 1.4 + 0.72 * 1.25 = 2.3
    term = t([[0.0], [0.0], [0.0]])
    end = t([[0.0], [1.0], [0.0]])
    adv, _ = gae(t(R3), t(V3), t([[1.0], [2.5], [2.0]]), term, end, GAMMA, LAM)
    torch.testing.assert_close(adv, t([[2.3], [1.25], [2.3]]))


def test_gae_termination_ignores_next_values():
    term = t([[0.0], [1.0], [0.0]])
    adv_a, ret_a = gae(t(R3), t(V3), t(NV3), term, term, GAMMA, LAM)
    adv_b, ret_b = gae(t(R3), t(V3), t([[1.0], [123.0], [2.0]]), term, term, GAMMA, LAM)
    adv_c, _ = gae(t(R3), t(V3), t([[1.0], [float("-7e3")], [2.0]]), term, term, GAMMA, LAM)
    torch.testing.assert_close(adv_a, adv_b)
    torch.testing.assert_close(adv_a, adv_c)
    torch.testing.assert_close(ret_a, ret_b)


def test_gae_accepts_bool_flags():
    term = torch.tensor([[False], [True], [False]])
    adv, _ = gae(t(R3), t(V3), t(NV3), term, term, GAMMA, LAM)
    torch.testing.assert_close(adv, t([[0.68], [-1.0], [2.3]]))


def naive_gae(rewards, values, next_values, terminated, episode_end, gamma, lam):
    """A_t = sum_l (gamma*lam)^l delta_{t+l}, summed until (and including) an episode end."""
    steps, envs = rewards.shape[:2]
    adv = torch.zeros_like(rewards)
    for n in range(envs):
        deltas = [
            rewards[s, n]
            + gamma * (1.0 - float(terminated[s, n])) * next_values[s, n]
            - values[s, n]
            for s in range(steps)
        ]
        for s in range(steps):
            total = torch.zeros_like(rewards[s, n])
            for k in range(steps - s):
                total = total + (gamma * lam) ** k * deltas[s + k]
                if float(episode_end[s + k, n]) != 0.0:
                    break
            adv[s, n] = total
    return adv


def random_rollout(seed: int, steps: int = 7, envs: int = 3, comps: int | None = None):
    g = torch.Generator().manual_seed(seed)
    shape = (steps, envs) if comps is None else (steps, envs, comps)
    rewards = torch.randn(shape, generator=g, dtype=D)
    values = torch.randn(shape, generator=g, dtype=D)
    next_values = torch.randn(shape, generator=g, dtype=D)
    terminated = torch.rand((steps, envs), generator=g) < 0.2
    truncated = torch.rand((steps, envs), generator=g) < 0.2
    return rewards, values, next_values, terminated, terminated | truncated


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_gae_matches_naive_reference(seed):
    rewards, values, next_values, terminated, end = random_rollout(seed)
    # Make sure the random case contains both kinds of episode end.
    terminated[2, 0] = True
    end[2, 0] = True
    terminated[4, 1] = False
    end[4, 1] = True
    adv, ret = gae(rewards, values, next_values, terminated, end, 0.97, 0.9)
    expected = naive_gae(rewards, values, next_values, terminated, end, 0.97, 0.9)
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_gae_component_axis_equals_per_component():
    rewards, values, next_values, terminated, end = random_rollout(10, comps=4)
    adv, ret = gae(rewards, values, next_values, terminated, end, 0.95, 0.7)
    assert adv.shape == (7, 3, 4)
    assert ret.shape == (7, 3, 4)
    for k in range(4):
        adv_k, ret_k = gae(
            rewards[..., k], values[..., k], next_values[..., k], terminated, end, 0.95, 0.7
        )
        torch.testing.assert_close(adv[..., k], adv_k)
        torch.testing.assert_close(ret[..., k], ret_k)
    torch.testing.assert_close(
        adv, naive_gae(rewards, values, next_values, terminated, end, 0.95, 0.7)
    )


def test_gae_returns_are_advantages_plus_values():
    rewards, values, next_values, terminated, end = random_rollout(20)
    adv, ret = gae(rewards, values, next_values, terminated, end, 0.99, 0.95)
    torch.testing.assert_close(ret, adv + values)


# --------------------------------------------------------------------------- combine_components


def test_combine_components_hand_dot_product():
    x = t([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    w = t([0.5, -1.0, 2.0])
    # row 0: 0.5 - 2.0 + 6.0 = 4.5 ; row 1: -0.5 - 0.5 + 8.0 = 7.0
    torch.testing.assert_close(combine_components(x, w), t([4.5, 7.0]))


def test_gae_is_linear_in_the_components():
    rewards, values, next_values, terminated, end = random_rollout(30, comps=3)
    w = t([1.0, -0.25, 2.5])
    adv_k, ret_k = gae(rewards, values, next_values, terminated, end, 0.9, 0.8)
    adv_c, ret_c = gae(
        combine_components(rewards, w),
        combine_components(values, w),
        combine_components(next_values, w),
        terminated,
        end,
        0.9,
        0.8,
    )
    torch.testing.assert_close(adv_c, combine_components(adv_k, w))
    torch.testing.assert_close(ret_c, combine_components(ret_k, w))


# --------------------------------------------------------------------------- mask_logits


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mask_logits_zero_probability_and_renormalisation(dtype):
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, -1.0, 5.0, 2.0]], dtype=dtype)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    probs = torch.softmax(mask_logits(logits, mask), -1)
    assert probs[0, 1].item() == 0.0
    assert probs[0, 3].item() == 0.0
    assert probs[1, 0].item() == 0.0
    assert probs[1, 1].item() == 0.0
    assert probs[1, 2].item() == 0.0
    # row 0: softmax over {1, 3} -> [1, e^2] / (1 + e^2)
    e2 = math.exp(2.0)
    torch.testing.assert_close(
        probs[0, [0, 2]], torch.tensor([1.0 / (1.0 + e2), e2 / (1.0 + e2)], dtype=dtype)
    )
    # row 1: only action 3 allowed -> probability exactly 1
    assert probs[1, 3].item() == 1.0
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mask_logits_uses_dtype_minimum_even_for_very_negative_logits(dtype):
    # Allowed logits far below -1e4 must still dominate the masked ones.
    logits = torch.tensor([[-3.0e4, -3.0e4 - 1.0, 0.0]], dtype=dtype)
    mask = torch.tensor([[True, True, False]])
    out = mask_logits(logits, mask)
    assert out[0, 2].item() == torch.finfo(dtype).min
    assert torch.equal(out[0, :2], logits[0, :2])
    probs = torch.softmax(out, -1)
    assert probs[0, 2].item() == 0.0
    # allowed: [1, e^-1] / (1 + e^-1) = [0.7310586, 0.2689414]
    torch.testing.assert_close(
        probs[0, :2], torch.tensor([0.7310586, 0.2689414], dtype=dtype), atol=1e-6, rtol=0.0
    )


def test_mask_logits_all_allowed_is_identity():
    logits = torch.tensor([[1.0, -2.0, 0.5]])
    out = mask_logits(logits, torch.ones(1, 3, dtype=torch.bool))
    assert torch.equal(out, logits)


def test_mask_logits_all_false_row_raises():
    logits = torch.zeros(2, 3)
    mask = torch.tensor([[True, False, False], [False, False, False]])
    with pytest.raises(ValueError):
        mask_logits(logits, mask)


# --------------------------------------------------------------------------- ppo_policy_loss

# clip = 0.2, logp_old = 0, logp_new = log(ratio):
#   i  ratio  A    -A*rho  -A*clip(rho)  max    clipped?  grad wrt logp_new = -A*rho/6 if unclipped
#   0  1.5   +1    -1.5    -1.2          -1.2   yes (profitable side)  0
#   1  0.5   +1    -0.5    -0.8          -0.5   no                     -0.5/6
#   2  1.5   -1    +1.5    +1.2          +1.5   no                     +1.5/6
#   3  0.5   -1    +0.5    +0.8          +0.8   yes (profitable side)  0
#   4  1.1   +2    -2.2    -2.2          -2.2   no                     -2.2/6
#   5  0.9   -2    +1.8    +1.8          +1.8   no                     +1.8/6
# loss = (-1.2 - 0.5 + 1.5 + 0.8 - 2.2 + 1.8) / 6 = 0.2 / 6 = 0.0333333...
# clipfrac = #{|rho - 1| > 0.2} / 6 = 4 / 6
# approx_kl = mean((rho - 1) - log rho):
#   1.5: 0.5 - 0.4054651 = 0.0945349      0.5: -0.5 + 0.6931472 = 0.1931472
#   1.1: 0.1 - 0.0953102 = 0.0046898      0.9: -0.1 + 0.1053605 = 0.0053605
#   (2 * 0.0945349 + 2 * 0.1931472 + 0.0046898 + 0.0053605) / 6 = 0.5854145 / 6 = 0.0975691
RATIOS = [1.5, 0.5, 1.5, 0.5, 1.1, 0.9]
ADVS = [1.0, 1.0, -1.0, -1.0, 2.0, -2.0]


def ppo_batch():
    logp_old = torch.zeros(6, dtype=D)
    logp_new = t([math.log(r) for r in RATIOS]).requires_grad_(True)
    return logp_new, logp_old, t(ADVS)


def test_ppo_policy_loss_hand_computed():
    logp_new, logp_old, adv = ppo_batch()
    loss, clipfrac, approx_kl = ppo_policy_loss(logp_new, logp_old, adv, 0.2)
    assert loss.item() == pytest.approx(0.2 / 6, abs=1e-9)
    assert clipfrac.item() == pytest.approx(4 / 6, abs=1e-7)  # clipfrac is float32
    assert approx_kl.item() == pytest.approx(0.0975691, abs=1e-6)


def test_ppo_policy_loss_approx_kl_asymmetric_ratios():
    # ratios 2 and 1 (the (rho - 1) terms do not cancel here):
    #   rho = 2: (2 - 1) - ln 2 = 1 - 0.6931472 = 0.3068528 ; rho = 1: 0
    #   approx_kl = 0.3068528 / 2 = 0.1534264 ; clipfrac = 1 / 2
    #   loss with A = [1, 1], eps = 0.2: max(-2, -1.2) = -1.2 and max(-1, -1) = -1 -> -1.1
    logp_new = t([math.log(2.0), -0.7])
    logp_old = t([0.0, -0.7])
    loss, clipfrac, approx_kl = ppo_policy_loss(logp_new, logp_old, t([1.0, 1.0]), 0.2)
    assert approx_kl.item() == pytest.approx(0.1534264, abs=1e-7)
    assert clipfrac.item() == 0.5
    assert loss.item() == pytest.approx(-1.1, abs=1e-12)


def test_ppo_policy_loss_gradient_is_zero_on_profitable_clipped_side():
    logp_new, logp_old, adv = ppo_batch()
    loss, _, _ = ppo_policy_loss(logp_new, logp_old, adv, 0.2)
    loss.backward()
    grad = logp_new.grad
    assert grad[0].item() == 0.0
    assert grad[3].item() == 0.0
    torch.testing.assert_close(grad, t([0.0, -0.5 / 6, 1.5 / 6, 0.0, -2.2 / 6, 1.8 / 6]))


def test_ppo_policy_loss_diagnostics_carry_no_gradient():
    logp_new, logp_old, adv = ppo_batch()
    _, clipfrac, approx_kl = ppo_policy_loss(logp_new, logp_old, adv, 0.2)
    assert not clipfrac.requires_grad
    assert not approx_kl.requires_grad


def test_ppo_policy_loss_identical_logp():
    logp = t([-0.3, -1.2, -2.0, -0.05])
    adv = t([1.0, -3.0, 0.5, 2.5])
    loss, clipfrac, approx_kl = ppo_policy_loss(logp, logp.clone(), adv, 0.2)
    assert approx_kl.item() == 0.0
    assert clipfrac.item() == 0.0
    # -mean(adv) = -(1 - 3 + 0.5 + 2.5) / 4 = -0.25
    assert loss.item() == pytest.approx(-0.25, abs=1e-12)


# --------------------------------------------------------------------------- value_loss


def test_value_loss_hand_computed():
    values = t([[1.0, 2.0], [3.0, 4.0]])
    returns = t([[0.0, 2.0], [5.0, 1.0]])
    # diffs 1, 0, -2, 3 -> squares 1, 0, 4, 9 -> mean 3.5 -> 0.5 * 3.5 = 1.75
    assert value_loss(values, returns).item() == pytest.approx(1.75, abs=1e-12)
    assert value_loss(returns, returns).item() == 0.0


# --------------------------------------------------------------------------- kl_standard_normal


def test_kl_standard_normal_is_zero_at_the_prior():
    kl = kl_standard_normal(torch.zeros(3, 5, dtype=D), torch.zeros(3, 5, dtype=D))
    assert kl.shape == (3,)
    assert torch.equal(kl, torch.zeros(3, dtype=D))


def test_kl_standard_normal_hand_2d():
    # mu = [1, -2], logvar = [0, ln 2]:
    #   d0: 1 + 1 - 1 - 0       = 1
    #   d1: 4 + 2 - 1 - ln 2    = 5 - 0.6931472 = 4.3068528
    #   KL = 0.5 * 5.3068528 = 2.6534264
    kl = kl_standard_normal(t([[1.0, -2.0]]), t([[0.0, math.log(2.0)]]))
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(2.6534264, abs=1e-7)


def test_kl_standard_normal_matches_torch_distributions():
    g = torch.Generator().manual_seed(5)
    mu = torch.randn(6, 4, generator=g, dtype=D)
    logvar = torch.randn(6, 4, generator=g, dtype=D)
    std = (0.5 * logvar).exp()
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, std),
        torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu)),
    ).sum(-1)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), ref)


# --------------------------------------------------------------------------- world_model_error


def naive_world_model_error(token_logits, next_tokens, next_len, percept_logits, next_percept):
    out = []
    for b in range(token_logits.shape[0]):
        n = int(next_len[b])
        ce_terms = []
        for pos in range(n):
            logp = token_logits[b, pos] - torch.logsumexp(token_logits[b, pos], -1)
            ce_terms.append(-logp[int(next_tokens[b, pos])])
        tok = sum(ce_terms) / n if n > 0 else 0.0
        bce_terms = []
        for p in range(percept_logits.shape[1]):
            x = percept_logits[b, p]
            y = next_percept[b, p]
            prob = 1.0 / (1.0 + torch.exp(-x))
            bce_terms.append(-(y * torch.log(prob) + (1.0 - y) * torch.log(1.0 - prob)))
        out.append(tok + sum(bce_terms) / len(bce_terms))
    return torch.stack([torch.as_tensor(o, dtype=D) for o in out])


def world_model_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b, length, v, p = 4, 5, 7, 3
    token_logits = torch.randn(b, length, v, generator=g, dtype=D)
    next_tokens = torch.randint(0, v, (b, length), generator=g)
    next_len = torch.tensor([5, 3, 1, 0])
    percept_logits = torch.randn(b, p, generator=g, dtype=D)
    next_percept = (torch.rand(b, p, generator=g) < 0.5).to(D)
    return token_logits, next_tokens, next_len, percept_logits, next_percept


def test_world_model_error_matches_naive_loop():
    batch = world_model_batch()
    err = world_model_error(*batch)
    assert err.shape == (4,)
    torch.testing.assert_close(err, naive_world_model_error(*batch))


def test_world_model_error_hand_computed_uniform_logits():
    # V = 4 uniform logits -> CE = ln 4 per token; percept logit 0 -> BCE = ln 2 per entry.
    # e = ln 4 + ln 2 = ln 8 = 2.0794415 for the sample with words, ln 2 = 0.6931472 without.
    token_logits = torch.zeros(2, 3, 4, dtype=D)
    next_tokens = torch.tensor([[1, 3, 0], [2, 2, 2]])
    next_len = torch.tensor([2, 0])
    percept_logits = torch.zeros(2, 2, dtype=D)
    next_percept = t([[1.0, 0.0], [0.0, 0.0]])
    err = world_model_error(token_logits, next_tokens, next_len, percept_logits, next_percept)
    torch.testing.assert_close(err, t([2.0794415, 0.6931472]), atol=1e-7, rtol=0.0)


def test_heard_cross_entropy_by_hand():
    # the words term alone: ln 4 for uniform logits; a confident right guess ~0; no words 0
    logits = torch.zeros(3, 2, 4, dtype=D)
    logits[1, :, 2] = 50.0
    tokens = torch.tensor([[1, 3], [2, 2], [0, 0]])
    ce = heard_cross_entropy(logits, tokens, torch.tensor([2, 2, 0]))
    torch.testing.assert_close(ce, t([1.3862944, 0.0, 0.0]), atol=1e-7, rtol=0.0)


def test_world_model_error_ignores_padding():
    token_logits, next_tokens, next_len, percept_logits, next_percept = world_model_batch(1)
    err = world_model_error(token_logits, next_tokens, next_len, percept_logits, next_percept)
    pad = torch.arange(token_logits.shape[1])[None, :] >= next_len[:, None]
    tokens2 = next_tokens.clone()
    tokens2[pad] = (tokens2[pad] + 3) % token_logits.shape[2]
    logits2 = token_logits.clone()
    logits2[pad] = logits2[pad] * 5.0 + 2.0
    err2 = world_model_error(logits2, tokens2, next_len, percept_logits, next_percept)
    torch.testing.assert_close(err2, err)
    # ...while changing a real token does change it.
    tokens3 = next_tokens.clone()
    tokens3[0, 0] = (tokens3[0, 0] + 1) % token_logits.shape[2]
    err3 = world_model_error(token_logits, tokens3, next_len, percept_logits, next_percept)
    assert err3[0].item() != pytest.approx(err[0].item(), abs=1e-9)


def test_world_model_error_len_zero_is_percept_term_only():
    token_logits, next_tokens, _, percept_logits, next_percept = world_model_batch(2)
    next_len = torch.zeros(4, dtype=torch.long)
    err = world_model_error(token_logits, next_tokens, next_len, percept_logits, next_percept)
    percept_only = F.binary_cross_entropy_with_logits(
        percept_logits, next_percept, reduction="none"
    ).mean(-1)
    torch.testing.assert_close(err, percept_only)
    assert torch.isfinite(err).all()


# --------------------------------------------------------------------------- explained_variance


def test_explained_variance_perfect_prediction():
    target = t([1.0, 3.0, -2.0, 0.5])
    assert explained_variance(target.clone(), target) == 1.0


def test_explained_variance_mean_prediction_is_zero():
    target = t([1.0, 3.0, -2.0, 0.5])
    pred = torch.full_like(target, target.mean().item())
    assert explained_variance(pred, target) == pytest.approx(0.0, abs=1e-12)


def test_explained_variance_hand_computed():
    # target = [0, 2, 4, 6] (var 20/3), pred = [1, 2, 3, 6] -> residual [-1, 0, 1, 0]
    # var(residual) = (1 + 0 + 1 + 0) / 3 = 2/3 (mean 0) -> 1 - (2/3) / (20/3) = 0.9
    assert explained_variance(t([1.0, 2.0, 3.0, 6.0]), t([0.0, 2.0, 4.0, 6.0])) == pytest.approx(
        0.9, abs=1e-12
    )


def test_explained_variance_constant_target_is_nan():
    assert math.isnan(explained_variance(t([1.0, 2.0, 3.0]), t([4.0, 4.0, 4.0])))


def test_weight_anchor_is_the_squared_distance_to_the_weights_at_the_last_promotion():
    from babyworld.agents.retention import WeightAnchor

    model = torch.nn.Linear(2, 1, bias=True)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
        model.bias.fill_(0.5)
    anchor = WeightAnchor()
    assert float(anchor.penalty(model).detach()) == 0.0  # no promotion yet: no anchor
    anchor.observe(model, promotions=0)
    assert anchor.theta is None
    anchor.observe(model, promotions=1)  # the first stage passed: anchor here
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[2.0, 0.0]]))
        model.bias.fill_(-0.5)
    # (2-1)^2 + (0-2)^2 + (-0.5-0.5)^2 = 1 + 4 + 1
    assert float(anchor.penalty(model).detach()) == pytest.approx(6.0)
    anchor.observe(model, promotions=1)  # no new promotion: the anchor stays
    assert float(anchor.penalty(model).detach()) == pytest.approx(6.0)
    anchor.observe(model, promotions=2)
    assert float(anchor.penalty(model).detach()) == 0.0
    again = WeightAnchor()
    again.load_state_dict(anchor.state_dict())
    assert again.promotions == 2 and float(again.penalty(model).detach()) == 0.0
    grad = torch.autograd.grad(anchor.penalty(model) + (model.bias**2).sum(), model.bias)[0]
    assert float(grad) == pytest.approx(-1.0)  # d/db [(b - b*)^2 + b^2] at b = b* = -0.5


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_anchor_coef_must_be_a_weight(bad):
    from babyworld.agents.ppo import PPOConfig

    with pytest.raises(ValueError, match="anchor_coef"):
        PPOConfig(anchor_coef=bad)


def test_stage_recall_is_the_kl_from_the_frozen_student_on_passed_stages_only():
    from types import SimpleNamespace

    from babyworld.agents.divergences import forward_kl
    from babyworld.agents.retention import StageRecall

    class Logits(torch.nn.Module):  # logits = x @ W: a student whose output is easy to hand-check
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]))

        def forward(self, x, mask):
            return SimpleNamespace(logits=x @ self.w)

    model, recall = Logits(), StageRecall()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    mask = torch.tensor([[True, True, True], [True, True, False], [True, True, True]])
    task = torch.tensor([0, 0, 2])  # rows 0 and 1 play stage 0, row 2 the current stage 2
    assert (
        float(recall.loss(model(x, mask).logits, (x,), mask, task).detach()) == 0.0
    )  # none frozen yet
    recall.observe(model, promotions=2, stage=2)  # stages 0 and 1 passed
    assert (
        float(recall.loss(model(x, mask).logits, (x,), mask, task).detach()) == 0.0
    )  # itself: KL 0
    with torch.no_grad():
        model.w.add_(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    new = model(x, mask).logits
    old = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]])  # the frozen rows' logits by hand
    old_lp = torch.log_softmax(old.masked_fill(~mask[:2], -torch.inf), -1)
    want = forward_kl(new[:2], old_lp, mask[:2]).mean().detach()
    assert float(recall.loss(new, (x,), mask, task).detach()) == pytest.approx(float(want))
    assert float(want) > 0
    assert (
        float(recall.loss(new, (x,), mask, torch.tensor([2, 2, 2])).detach()) == 0.0
    )  # no old stage
    again = StageRecall()
    again.load_state_dict(recall.state_dict(), model)
    assert float(again.loss(new, (x,), mask, task).detach()) == pytest.approx(float(want))


def test_recall_coef_must_be_a_weight():
    from babyworld.agents.ppo import PPOConfig

    with pytest.raises(ValueError, match="recall_coef"):
        PPOConfig(recall_coef=-1.0)


def test_keeping_the_last_promotion_needs_the_ladder():
    from babyworld.agents.ppo import PPOConfig
    from babyworld.experiments.config import TrainConfig

    for ppo in (PPOConfig(anchor_coef=1.0), PPOConfig(recall_coef=1.0), PPOConfig(replay_coef=1.0)):
        with pytest.raises(ValueError, match="use them with --curriculum ladder"):
            TrainConfig(parent="scripted", ppo=ppo)
        TrainConfig(parent="scripted", ppo=ppo, curriculum="ladder")


def test_stage_replay_keeps_each_stages_last_steps_and_clones_their_policy_once_passed():
    from types import SimpleNamespace

    import numpy as np

    from babyworld.agents.divergences import forward_kl
    from babyworld.agents.retention import StageReplay

    class Logits(torch.nn.Module):  # logits = percept @ W; the other inputs are ignored
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]))

        def forward(self, heard, heard_len, percept, prev_action, valid, mask):
            return SimpleNamespace(logits=percept @ self.w)

    def steps(percept, mask, model):
        n = len(percept)
        logits = model(None, None, percept, None, None, mask).logits
        policy = torch.log_softmax(logits.masked_fill(~mask, -torch.inf), -1).detach()
        return dict(
            heard=torch.zeros(n, 2, dtype=torch.long), heard_len=torch.ones(n, dtype=torch.long),
            percept=percept, prev_action=torch.zeros(n, dtype=torch.long),
            valid=torch.ones(n, dtype=torch.bool), mask=mask, policy=policy,
        )  # fmt: skip

    model, replay = Logits(), StageReplay(size=2)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    mask = torch.tensor([[True, True, True], [True, True, False], [True, True, True]])
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    replay.add(steps(x, mask, model), torch.tensor([0, 0, 0]))  # three steps of stage 0
    assert len(replay.rings[0]["mask"]) == 2  # its last two: rows 1 and 2
    assert torch.equal(replay.rings[0]["percept"], x[1:])
    assert float(replay.loss(model, 4, rng())) == 0.0  # stage 0 is not passed yet
    replay.observe(1)  # promoted: stage 0's steps are frozen
    replay.add(steps(x, mask, model), torch.tensor([0, 1, 1]))  # a re-test of 0 is not kept
    assert torch.equal(replay.rings[0]["percept"], x[1:]) and len(replay.rings[1]["mask"]) == 2
    assert float(replay.loss(model, 4, rng()).detach()) == 0.0  # the same policy: KL 0
    with torch.no_grad():
        model.w.add_(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    idx = torch.as_tensor(np.random.default_rng(0).integers(0, 2, 4))  # rows of stage 0 only
    old = torch.tensor([[0.5, 0.5, 0.0], [1.5, 0.5, -1.0]])  # x[1:] @ W before, by hand
    old_lp = torch.log_softmax(old.masked_fill(~mask[1:], -torch.inf), -1)[idx]
    new = x[1:][idx] @ model.w
    want = forward_kl(new, old_lp, mask[1:][idx]).mean().detach()
    got = replay.loss(model, 4, rng())
    assert got.requires_grad and float(got.detach()) == pytest.approx(float(want))
    assert float(want) > 0
    again = StageReplay(size=2)
    again.load_state_dict(replay.state_dict())
    assert float(again.loss(model, 4, rng()).detach()) == pytest.approx(float(want))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("replay_coef", -1.0, "replay_coef"),
        ("replay_fraction", 0.0, r"ppo.replay_fraction must be in \(0, 1\]"),
        ("replay_fraction", 1.5, r"ppo.replay_fraction must be in \(0, 1\]"),
        ("replay_fraction", float("nan"), "replay_fraction"),
        ("replay_size", 0, "ppo.replay_size must be >= 1 step, got 0"),
    ],
)
def test_replay_settings_are_checked(field, value, message):
    from babyworld.agents.ppo import PPOConfig

    with pytest.raises(ValueError, match=message):
        PPOConfig(**{field: value})
