"""Pure loss and advantage functions of the student's trainer (the divergences: ``divergences.py``).

Every function is a tensor-in, tensor-out map with shapes in its docstring, tested against a
hand-computed case or a naive reference (``tests/test_losses.py``). Nothing here touches an env.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: What a GRPO group compares: the G answers to one exchange, or G whole episodes.
GROUP_UNITS = ("exchange", "episode")


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
    per = F.binary_cross_entropy_with_logits(percept_logits, next_percept, reduction="none")
    return heard_cross_entropy(token_logits, next_tokens, next_len) + per.mean(-1)


def heard_cross_entropy(
    token_logits: torch.Tensor, next_tokens: torch.Tensor, next_len: torch.Tensor
) -> torch.Tensor:
    """``[B]`` mean cross-entropy (nats per word) of the words heard next; 0 where none is heard.

    ``mean_{l < len} CE(token_logits_l, next_tokens_l)``, the words term of
    :func:`world_model_error` (same shapes).
    """
    b, length, v = token_logits.shape
    ce = F.cross_entropy(token_logits.reshape(-1, v), next_tokens.reshape(-1), reduction="none")
    real = (torch.arange(length, device=ce.device)[None, :] < next_len[:, None]).to(ce.dtype)
    return (ce.reshape(b, length) * real).sum(-1) / real.sum(-1).clamp(min=1.0)


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


def group_relative_advantages(
    returns: torch.Tensor, group_ids: torch.Tensor, eps: float = 1e-6, scale: bool = True
) -> torch.Tensor:
    """GRPO's group-relative advantages: ``A_i = (R_i - mean_g) / (std_g + eps)``.

    ``g`` is the group of sample ``i`` (e.g. the G rollouts of one task seed); groups may be of
    any sizes and in any order. ``std_g`` is the *sample* standard deviation (Bessel-corrected,
    divisor ``n_g - 1``), as TRL's ``GRPOTrainer`` (``torch.std``), which adds ``1e-4`` where the
    default ``eps`` here is ``1e-6``. A group of identical returns gets 0, and so does every group
    of size 1 (nothing to compare with; TRL's eval path does the same). ``scale=False`` only
    centres (Dr. GRPO, TRL's ``scale_rewards="none"``).

    Args:
        returns: ``[B]`` one return per sample.
        group_ids: ``[B]`` integer group labels.
        eps: added to the standard deviation, ``>= 0``.
        scale: divide by the group's standard deviation.

    Returns:
        ``[B]`` advantages, in the dtype of ``returns``.

    Raises:
        ValueError: shapes differ or are not 1-D, ``returns`` not floating point, ``group_ids``
            not integer, ``eps < 0``.
    """
    if returns.dim() != 1 or group_ids.shape != returns.shape:
        raise ValueError(
            "returns and group_ids must both have shape [B], got "
            f"{tuple(returns.shape)} and {tuple(group_ids.shape)}"
        )
    if not returns.dtype.is_floating_point:
        raise ValueError(f"returns must be a floating-point tensor, got {returns.dtype}")
    if group_ids.dtype.is_floating_point or group_ids.dtype.is_complex:
        raise ValueError(f"group_ids must be an integer tensor, got {group_ids.dtype}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    n = counts.to(returns.dtype)
    sums = torch.zeros_like(n).index_add_(0, inverse, returns)
    centred = returns - (sums / n)[inverse]
    if scale:
        squares = torch.zeros_like(n).index_add_(0, inverse, centred.pow(2))
        std = (squares / (n - 1).clamp(min=1)).sqrt()
        centred = centred / (std[inverse] + eps)
    return torch.where(counts[inverse] > 1, centred, 0.0)


def sparse_episode_returns(
    task_rewards: torch.Tensor, episode_end: torch.Tensor, carry: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``sparse`` mode's reward: each episode's summed task reward, paid at its last step.

    ``out[t, i] = carry_i + sum of task_rewards[s, i]`` over the steps ``s <= t`` of the episode
    that ends at ``t`` (``episode_end[t, i]`` true; terminated or truncated), and 0 at every other
    step. An episode still running at the rollout's last step is paid nothing here: its partial
    sum is returned as the new ``carry`` and paid at its last step in a later rollout (pass it
    back in; ``None`` = zeros, for the first rollout). So ``out.sum() + new_carry.sum() ==
    task_rewards.sum() + carry.sum()``.

    Args:
        task_rewards: ``[T, N]`` the ``task`` reward component per step.
        episode_end: ``[T, N]`` bool/float, true at an episode's last step.
        carry: ``[N]`` partial sums of the episodes running when the last rollout ended, or None.

    Returns:
        ``(out [T, N], carry [N])``.

    Raises:
        ValueError: shapes do not match.
    """
    if task_rewards.dim() != 2 or episode_end.shape != task_rewards.shape:
        raise ValueError(
            "task_rewards and episode_end must both have shape [T, N], got "
            f"{tuple(task_rewards.shape)} and {tuple(episode_end.shape)}"
        )
    if carry is None:
        running = torch.zeros_like(task_rewards[0])
    elif carry.shape != task_rewards.shape[1:]:
        raise ValueError(
            f"carry must have shape {tuple(task_rewards.shape[1:])} (one per env), got "
            f"{tuple(carry.shape)}"
        )
    else:
        running = carry.to(task_rewards.dtype).clone()
    end = episode_end.to(torch.bool)
    out = torch.zeros_like(task_rewards)
    for t in range(task_rewards.shape[0]):
        running = running + task_rewards[t]
        out[t] = torch.where(end[t], running, 0.0)
        running = torch.where(end[t], 0.0, running)
    return out, running


SUPERVISION_KINDS = ("none", "scalar", "vector", "distribution")


def supervision_bits(
    kind: str,
    n_actions: int,
    n_components: int = 5,
    levels: int = 2,
    steps_per_signal: int = 1,
) -> float:
    """Bits of feedback about its behaviour the baby receives per step (a reporting helper).

    Defined as a capacity at equal precision: (how many numbers the signal carries) x
    ``log2(levels)`` bits per number (each number takes one of ``levels`` distinguishable values)
    / ``steps_per_signal`` (a signal given once per episode is spread over the episode's steps).
    The numbers per signal are 0 for ``"none"`` (no feedback, e.g. world-model pre-training), 1
    for ``"scalar"`` (one reward), ``n_components`` for ``"vector"`` (the reward vector) and
    ``n_actions - 1`` for ``"distribution"`` (a distribution over ``n_actions`` actions has that
    many free probabilities). E.g. a binary task reward at the end of a 4-step episode,
    ``supervision_bits("scalar", n, steps_per_signal=4)``, is 0.25 bit per step; with
    ``levels=256`` (8-bit numbers) the 5-component reward vector is 40 bits and a distribution
    over 3 actions is 16 bits per step. It is an upper bound on the information, not its
    entropy: a signal that is usually the same carries less.

    Args:
        kind: ``"none"``, ``"scalar"``, ``"vector"`` or ``"distribution"``.
        n_actions: size of the action vocabulary, ``>= 1``.
        n_components: reward-vector components, ``>= 1``.
        levels: distinguishable values per number, ``>= 2`` (2 = binary).
        steps_per_signal: steps per feedback signal, ``>= 1``.

    Returns:
        Bits per step.

    Raises:
        ValueError: unknown ``kind`` or an argument out of range.
    """
    if kind not in SUPERVISION_KINDS:
        raise ValueError(f"unknown supervision kind {kind!r}; expected one of {SUPERVISION_KINDS}")
    for name, value, low in (
        ("n_actions", n_actions, 1),
        ("n_components", n_components, 1),
        ("levels", levels, 2),
        ("steps_per_signal", steps_per_signal, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    numbers = {"none": 0, "scalar": 1, "vector": n_components, "distribution": n_actions - 1}
    return numbers[kind] * math.log2(levels) / steps_per_signal


def lockstep_group_advantages(
    rewards: torch.Tensor,
    episode_end: torch.Tensor,
    episode_len: int,
    group_size: int,
    per: str = "exchange",
) -> torch.Tensor:
    """GRPO advantages for fixed-length episodes run in lockstep by groups of envs.

    Env ``i`` belongs to group ``i // group_size``; the envs of a group start every episode
    together from the same task seed, so on a one-act level (one act per exchange) their acts at
    step ``t`` are the group's answers to one exchange (the same scene and request).

    - ``per="exchange"``: each act's ``rewards`` (its own exchange's task reward) is turned into
      :func:`group_relative_advantages` within its (step, group): G answers to one exchange, as
      LLM GRPO compares G completions of one prompt.
    - ``per="episode"``: ``rewards`` holds each episode's return at its last step (as
      :func:`sparse_episode_returns` pays it); it is made group-relative within its (episode
      index, group), and every step of the episode gets that advantage.

    Args:
        rewards: ``[T, N]`` per-act rewards, or episode returns at their last step.
        episode_end: ``[T, N]`` true at every ``episode_len``-th step (all envs aligned).
        episode_len: steps per episode ``L``; ``T`` must be a multiple of it.
        group_size: ``G``; ``N`` must be a multiple of it.
        per: ``"exchange"`` or ``"episode"``, the unit a group compares.

    Returns:
        ``[T, N]`` advantages.

    Raises:
        ValueError: sizes that do not divide, episodes that are not aligned, an unknown ``per``.
    """
    if per not in GROUP_UNITS:
        raise ValueError(f"per must be one of {GROUP_UNITS}, got {per!r}")
    t, n = rewards.shape
    if episode_len < 1 or t % episode_len:
        raise ValueError(f"the rollout length {t} must be a multiple of episode_len {episode_len}")
    if group_size < 1 or n % group_size:
        raise ValueError(f"num_envs {n} must be a multiple of group_size {group_size}")
    want = torch.zeros(t, n, dtype=torch.bool)
    want[episode_len - 1 :: episode_len] = True
    if not torch.equal(episode_end.bool(), want):
        raise ValueError(
            "group-relative advantages need episodes of exactly episode_len steps that start "
            "together in every env (one-act levels, rollouts a multiple of the episode length)"
        )
    member = torch.arange(n)[None, :] // group_size
    if per == "exchange":
        groups = torch.arange(t)[:, None] * (n // group_size) + member
        return group_relative_advantages(rewards.reshape(-1), groups.reshape(-1)).reshape(t, n)
    k = t // episode_len
    returns = rewards.reshape(k, episode_len, n)[:, -1, :]  # [K, N]
    groups = torch.arange(k)[:, None] * (n // group_size) + member
    adv = group_relative_advantages(returns.reshape(-1), groups.reshape(-1)).reshape(k, 1, n)
    return adv.expand(k, episode_len, n).reshape(t, n)
