"""Pure loss, advantage and divergence functions of the student's trainer.

Every function is a tensor-in, tensor-out map with shapes in its docstring, tested against a
hand-computed case or a naive reference (``tests/test_losses.py``). Nothing here touches an env.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    episode_end: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation with termination and truncation kept apart.

    ``delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)`` and
    ``A_t = delta_t + gamma * lam * (1 - end_t) * A_{t+1}``, ``A_T = delta_T`` (last row).

    ``next_values[t]`` is the value of the state actually reached after step ``t``: for a
    truncated episode the value of its final observation (so time limits *bootstrap*), for a
    terminated one anything (it is multiplied by 0). ``episode_end = terminated | truncated``
    stops the recursion at episode boundaries.

    Args:
        rewards: ``[T, N, ...]`` (a trailing reward-component axis is allowed).
        values: ``[T, N, ...]`` value estimates ``V(s_t)``.
        next_values: ``[T, N, ...]`` value estimates of the next states.
        terminated: ``[T, N]`` bool/float.
        episode_end: ``[T, N]`` bool/float (terminated or truncated).
        gamma: discount.
        lam: GAE lambda.

    Returns:
        ``(advantages, returns)``, both shaped like ``rewards``; ``returns = advantages + values``.
    """
    extra = rewards.dim() - terminated.dim()
    shape = terminated.shape + (1,) * extra
    not_term = 1.0 - terminated.to(rewards.dtype).reshape(shape)
    not_end = 1.0 - episode_end.to(rewards.dtype).reshape(shape)
    deltas = rewards + gamma * not_term * next_values - values
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * not_end[t] * running
        adv[t] = running
    return adv, adv + values


def combine_components(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum over the last (reward-component) axis: ``[..., K] x [K] -> [...]``."""
    return (x * weights).sum(-1)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Set the logits of disallowed actions to the dtype's minimum (probability 0).

    Args:
        logits: ``[B, A]``.
        mask: ``[B, A]`` bool, True where allowed; every row needs one True.
    """
    if not bool(mask.any(-1).all()):
        raise ValueError("every action mask must allow at least one action")
    return logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


def ppo_policy_loss(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate.

    ``L = mean(max(-A * rho, -A * clip(rho, 1 - eps, 1 + eps)))`` with ``rho = exp(logp_new -
    logp_old)``.

    Args:
        logp_new: ``[B]`` log-probs of the taken actions under the current policy.
        logp_old: ``[B]`` log-probs under the policy that collected them.
        advantages: ``[B]``.
        clip: ``eps``.

    Returns:
        ``(loss, clip fraction, approx KL)``; approx KL is ``mean((rho - 1) - log rho)``.
    """
    log_ratio = logp_new - logp_old
    ratio = log_ratio.exp()
    loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
    with torch.no_grad():
        clipfrac = ((ratio - 1).abs() > clip).float().mean()
        approx_kl = ((ratio - 1) - log_ratio).mean()
    return loss, clipfrac, approx_kl


def value_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """``0.5 * mean((V - R)^2)`` over the batch and every reward component: ``[B, K]`` -> scalar."""
    return 0.5 * (values - returns).pow(2).mean()


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` in nats per sample: ``[B, D]`` -> ``[B]``.

    ``KL = 0.5 * sum_d (mu_d^2 + exp(logvar_d) - 1 - logvar_d)``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def world_model_error(
    token_logits: torch.Tensor,
    next_tokens: torch.Tensor,
    next_len: torch.Tensor,
    percept_logits: torch.Tensor,
    next_percept: torch.Tensor,
) -> torch.Tensor:
    """Per-sample prediction error of the next observation, in nats.

    ``e = mean_{l < len} CE(token_logits_l, next_tokens_l) + mean_p BCE(percept_logits_p,
    next_percept_p)``; a next observation with no words contributes only its percept term.

    Args:
        token_logits: ``[B, L, V]`` predicted logits of the next heard ids.
        next_tokens: ``[B, L]`` the ids heard next (padding past ``next_len``).
        next_len: ``[B]`` number of real ids.
        percept_logits: ``[B, P]`` predicted logits of the next percept (entries in {0, 1}).
        next_percept: ``[B, P]``.

    Returns:
        ``[B]`` errors.
    """
    b, length, v = token_logits.shape
    ce = F.cross_entropy(token_logits.reshape(-1, v), next_tokens.reshape(-1), reduction="none")
    real = (torch.arange(length, device=ce.device)[None, :] < next_len[:, None]).to(ce.dtype)
    tok = (ce.reshape(b, length) * real).sum(-1) / real.sum(-1).clamp(min=1.0)
    per = F.binary_cross_entropy_with_logits(percept_logits, next_percept, reduction="none")
    return tok + per.mean(-1)


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    """``1 - Var(target - pred) / Var(target)`` (NaN when the target is constant)."""
    var = target.var()
    if float(var) == 0.0:
        return math.nan
    return float(1.0 - (target - pred).var() / var)


def student_predictability(error_nats: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Student-side ``predictability`` reward from its world-model error.

    ``r = -tanh(e / ln V)``: 0 for a perfect prediction, about -0.81 for a uniform guess (ln V
    for the words plus ln 2 for the percept); in (-1, 0]. Shape-preserving.
    """
    return -torch.tanh(error_nats / math.log(vocab_size))


def student_mdl(kl_nats: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """Student-side ``mdl`` reward from its latent's KL to the prior (description length).

    ``r = -tanh(KL / D)`` with ``D`` the latent size: 0 for a latent that carries no information;
    in (-1, 0]. Shape-preserving.
    """
    return -torch.tanh(kl_nats / latent_dim)
