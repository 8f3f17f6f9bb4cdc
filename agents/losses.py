"""Pure loss, advantage and divergence functions of the student's trainer.

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


# ------------------------------------------------------------------------------------------------
# Divergences, distillation and sparse / group-relative RL signals (the learning modes of issue 5).
#
# Conventions shared by the divergences: the student gives logits and the teacher log-probabilities
# over the same action vocabulary ``A`` (last axis). Disallowed actions are those where ``mask`` is
# False, or where the student's logit is ``-inf`` or the dtype's minimum (what ``mask_logits``
# writes). Both distributions are renormalised over the allowed actions (log-softmax), so the
# teacher may also be given as unnormalised logits, and a teacher that puts mass on a disallowed
# action is conditioned on the allowed ones. The teacher is always detached. Values are in nats.


def _check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float, or raise if it is outside [0, 1] (NaN included)."""
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(
            "alpha must be in [0, 1] (0 = forward KL(teacher || student), 1 = reverse "
            f"KL(student || teacher)), got {alpha!r}"
        )
    return a


def _masked_log_probs(
    student_logits: torch.Tensor, teacher_logprobs: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both sides' log-probabilities renormalised over the allowed actions.

    Args:
        student_logits: ``[..., A]``.
        teacher_logprobs: ``[..., A]`` log-probabilities or logits; ``-inf`` = probability 0.
        mask: ``[..., A]`` bool, True where allowed, or None.

    Returns:
        ``(allowed, log_s, log_t)``, all ``[..., A]``: ``log_s`` carries the student's gradient,
        ``log_t`` is detached; both are ``-inf`` on disallowed actions.
    """
    if student_logits.dim() < 1 or student_logits.shape != teacher_logprobs.shape:
        raise ValueError(
            "student_logits and teacher_logprobs must have the same shape [..., A], got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logprobs.shape)}"
        )
    lowest = torch.finfo(student_logits.dtype).min
    allowed = (student_logits != float("-inf")) & (student_logits != lowest)
    if mask is not None:
        if mask.shape != student_logits.shape:
            raise ValueError(
                f"mask must have the logits' shape {tuple(student_logits.shape)}, got "
                f"{tuple(mask.shape)}"
            )
        allowed = allowed & mask.to(torch.bool)
    if not bool(allowed.any(-1).all()):
        raise ValueError(
            "every row needs at least one allowed action (mask True and a student logit above "
            "the dtype's minimum)"
        )
    log_s = F.log_softmax(student_logits.masked_fill(~allowed, float("-inf")), dim=-1)
    teacher = teacher_logprobs.detach().to(log_s.dtype).masked_fill(~allowed, float("-inf"))
    if not bool((teacher > float("-inf")).any(-1).all()):
        raise ValueError("the teacher gives probability 0 to every allowed action of some row")
    log_t = F.log_softmax(teacher, dim=-1)
    return allowed, log_s, log_t


def _kl_terms(
    allowed: torch.Tensor, log_s: torch.Tensor, log_t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Probabilities and NaN-safe log-probabilities (0 where the probability is 0).

    Returns ``(p_s, ls0, p_t, lt0)``; every product ``p * (log p - log q)`` built from them is 0,
    not NaN, where ``p = 0``, and carries no NaN gradient.
    """
    p_s = log_s.exp()
    ls0 = log_s.masked_fill(~allowed, 0.0)
    p_t = log_t.exp()
    lt0 = log_t.masked_fill(p_t == 0, 0.0)
    return p_s, ls0, p_t, lt0


def forward_kl(
    student_logits: torch.Tensor, teacher_logprobs: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Forward KL per row, ``KL(teacher || student) = sum_a p_t(a) (log p_t(a) - log p_s(a))``.

    Mode-covering (GKD's ``beta = 0``, the usual distillation / cross-entropy direction). Actions
    where the teacher has probability 0 contribute 0, so the value is finite whenever the student
    is (the student is never 0 on an allowed action).

    Args:
        student_logits: ``[..., A]``; gradient flows into them.
        teacher_logprobs: ``[..., A]`` teacher log-probabilities (renormalised over the allowed
            actions; ``-inf`` = probability 0); detached.
        mask: ``[..., A]`` bool, True where allowed; None = every action whose student logit is
            above the dtype's minimum.

    Returns:
        ``[...]`` divergences in nats.
    """
    allowed, log_s, log_t = _masked_log_probs(student_logits, teacher_logprobs, mask)
    _, ls0, p_t, lt0 = _kl_terms(allowed, log_s, log_t)
    return (p_t * (lt0 - ls0)).sum(-1)


def reverse_kl(
    student_logits: torch.Tensor, teacher_logprobs: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Reverse KL per row, ``KL(student || teacher) = sum_a p_s(a) (log p_s(a) - log p_t(a))``.

    Mode-seeking (GKD's ``beta = 1``; what on-policy distillation and SDPO minimise). A row in
    which the student puts mass on an allowed action that the teacher gives probability exactly 0
    (in the working dtype) is ``+inf``, its true value, with zero gradient (never NaN); pass such
    actions as masked, or use ``forward_kl`` / ``generalized_jsd``, which stay finite.

    Args:
        student_logits: ``[..., A]``; gradient flows into them.
        teacher_logprobs: ``[..., A]`` teacher log-probabilities (detached).
        mask: ``[..., A]`` bool, True where allowed, or None (see ``forward_kl``).

    Returns:
        ``[...]`` divergences in nats.
    """
    allowed, log_s, log_t = _masked_log_probs(student_logits, teacher_logprobs, mask)
    p_s, ls0, p_t, lt0 = _kl_terms(allowed, log_s, log_t)
    teacher_zero = allowed & (p_t == 0)
    terms = torch.where(teacher_zero, 0.0, p_s * (ls0 - lt0))
    infinite = (teacher_zero & (p_s.detach() > 0)).any(-1)
    return terms.sum(-1).masked_fill(infinite, float("inf"))


def generalized_jsd(
    student_logits: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    alpha: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generalised Jensen-Shannon divergence per row, TRL ``GKDTrainer`` convention (alpha = beta).

    For ``0 < alpha < 1``, with the mixture ``M = alpha * p_t + (1 - alpha) * p_s``:
    ``JSD_alpha = alpha * KL(p_t || M) + (1 - alpha) * KL(p_s || M)`` (GKD, Agarwal et al. 2024,
    Eq. 1; symmetric in student and teacher at ``alpha = 0.5``, always finite). The endpoints are
    defined as TRL defines them: ``alpha = 0`` is ``forward_kl`` = KL(teacher || student) and
    ``alpha = 1`` is ``reverse_kl`` = KL(student || teacher). These are the *scaled* limits: the
    formula itself tends to 0 at both ends, with ``JSD_alpha / alpha -> KL(teacher || student)``
    as ``alpha -> 0`` and ``JSD_alpha / (1 - alpha) -> KL(student || teacher)`` as ``alpha -> 1``,
    so the loss (and its gradient) jumps at the endpoints and is small near them.

    Args:
        student_logits: ``[..., A]``; gradient flows into them.
        teacher_logprobs: ``[..., A]`` teacher log-probabilities (detached).
        alpha: the teacher's weight in the mixture, in [0, 1].
        mask: ``[..., A]`` bool, True where allowed, or None (see ``forward_kl``).

    Returns:
        ``[...]`` divergences in nats.

    Raises:
        ValueError: ``alpha`` outside [0, 1].
    """
    a = _check_alpha(alpha)
    if a == 0.0:
        return forward_kl(student_logits, teacher_logprobs, mask)
    if a == 1.0:
        return reverse_kl(student_logits, teacher_logprobs, mask)
    allowed, log_s, log_t = _masked_log_probs(student_logits, teacher_logprobs, mask)
    p_s, ls0, p_t, lt0 = _kl_terms(allowed, log_s, log_t)
    # log M by logsumexp; the student branch uses ls0 (0 on disallowed actions) so that log M is
    # finite everywhere and its gradient never sees -inf - -inf.
    log_m = torch.logsumexp(torch.stack([log_t + math.log(a), ls0 + math.log(1.0 - a)]), dim=0)
    kl_teacher = (p_t * (lt0 - log_m)).sum(-1)
    kl_student = (p_s * (ls0 - log_m)).sum(-1)
    return a * kl_teacher + (1.0 - a) * kl_student


def _divergence(
    kind: str,
    alpha: float,
    student_logits: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Per-row divergence of one kind (already validated)."""
    if kind == "forward_kl":
        return forward_kl(student_logits, teacher_logprobs, mask)
    if kind == "reverse_kl":
        return reverse_kl(student_logits, teacher_logprobs, mask)
    return generalized_jsd(student_logits, teacher_logprobs, alpha, mask)


DIVERGENCE_KINDS = ("forward_kl", "reverse_kl", "jsd")
TOKEN_SUPPORTS = ("full", "topk", "sampled")


def distill_loss(
    student_logits: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    kind: str = "forward_kl",
    alpha: float = 0.5,
    mask: torch.Tensor | None = None,
    support: str = "full",
    k: int | None = None,
    actions: torch.Tensor | None = None,
) -> torch.Tensor:
    """Distillation loss of the student towards a (detached) teacher, mean over rows.

    ``support`` chooses the actions the divergence is taken over (the token-support options of
    SDPO / TRL's self-distillation trainers):

    - ``"full"``: the whole allowed action vocabulary; ``kind`` is ``"forward_kl"``
      (KL(teacher || student)), ``"reverse_kl"`` (KL(student || teacher)) or ``"jsd"``
      (``generalized_jsd`` with ``alpha``).
    - ``"topk"``: the teacher's ``k`` most likely allowed actions; both distributions are
      renormalised on them (no tail bucket) and the divergence is taken there. ``k`` equal to the
      vocabulary size is ``"full"``; rows with fewer than ``k`` allowed actions use all of them.
      (TRL's SDPO takes the *student's* top-k by default and offers the teacher's as an option.)
    - ``"sampled"``: only the action the student sampled, ``actions[i]``, which must be drawn
      from the current student (on-policy). With ``r = log p_s(a) - log p_t(a)`` the per-row
      term has value ``r``, an unbiased estimate of KL(student || teacher)
      (``E_{a ~ p_s}[r] = KL``), and gradient ``r * grad log p_s(a)`` (``r`` detached), the
      score-function estimator of that KL's gradient (``E[grad r] = E[grad log p_s] = 0``, so
      the term is dropped) -- the gradient of TRL's SDPO ``sampled_token`` loss
      ``r.detach() * log p_s(a)``, whose value is not a KL estimate. Only the reverse KL has
      this estimator: ``kind`` must be ``"reverse_kl"`` (or ``"jsd"`` with ``alpha = 1``). An
      action the teacher gives probability 0 makes the row ``+inf`` with zero gradient.
      Off-policy correction (importance weights) is left to the caller.

    Args:
        student_logits: ``[B, A]`` (any leading shape ``[..., A]`` works); gradient flows.
        teacher_logprobs: ``[B, A]`` teacher log-probabilities; detached.
        kind: ``"forward_kl"``, ``"reverse_kl"`` or ``"jsd"``.
        alpha: the JSD's teacher weight in [0, 1] (validated for every kind, used by ``"jsd"``).
        mask: ``[B, A]`` bool, True where allowed, or None (see ``forward_kl``).
        support: ``"full"``, ``"topk"`` or ``"sampled"``.
        k: number of teacher top actions for ``"topk"``, in [1, A] (ignored otherwise).
        actions: ``[B]`` integer sampled actions for ``"sampled"`` (ignored otherwise).

    Returns:
        Scalar: the mean over rows of the per-row loss.

    Raises:
        ValueError: unknown ``kind`` or ``support``, ``alpha`` outside [0, 1], a missing or
            out-of-range ``k``, missing, ill-shaped or disallowed ``actions``, or a ``kind``
            without a sampled-action estimator.
    """
    if kind not in DIVERGENCE_KINDS:
        raise ValueError(f"unknown divergence kind {kind!r}; expected one of {DIVERGENCE_KINDS}")
    if support not in TOKEN_SUPPORTS:
        raise ValueError(f"unknown token support {support!r}; expected one of {TOKEN_SUPPORTS}")
    a = _check_alpha(alpha)
    if support == "full":
        return _divergence(kind, a, student_logits, teacher_logprobs, mask).mean()
    if support == "topk":
        n = student_logits.shape[-1]
        if k is None or isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
            raise ValueError(
                f"support='topk' needs an integer k in [1, {n}] (the action vocabulary), got {k!r}"
            )
        allowed, _, log_t = _masked_log_probs(student_logits, teacher_logprobs, mask)
        idx = log_t.topk(k, dim=-1).indices
        return _divergence(
            kind,
            a,
            student_logits.gather(-1, idx),
            log_t.gather(-1, idx),
            allowed.gather(-1, idx),
        ).mean()
    if kind == "forward_kl" or (kind == "jsd" and a != 1.0):
        raise ValueError(
            "support='sampled' estimates only the reverse KL(student || teacher): use "
            f"kind='reverse_kl' (or kind='jsd' with alpha=1), got kind={kind!r}, alpha={alpha!r}"
        )
    if actions is None:
        raise ValueError("support='sampled' needs the sampled actions (actions=[B] integers)")
    if actions.shape != student_logits.shape[:-1]:
        raise ValueError(
            f"actions must have shape {tuple(student_logits.shape[:-1])} (one per row), got "
            f"{tuple(actions.shape)}"
        )
    if actions.dtype.is_floating_point or actions.dtype.is_complex or actions.dtype == torch.bool:
        raise ValueError(f"actions must be an integer tensor, got {actions.dtype}")
    n = student_logits.shape[-1]
    if bool(((actions < 0) | (actions >= n)).any()):
        raise ValueError(f"actions must be in [0, {n}), got values outside")
    allowed, log_s, log_t = _masked_log_probs(student_logits, teacher_logprobs, mask)
    idx = actions.long().unsqueeze(-1)
    if not bool(allowed.gather(-1, idx).all()):
        raise ValueError("a sampled action is disallowed (masked out) in its row")
    ls_a = log_s.gather(-1, idx).squeeze(-1)
    r = (ls_a - log_t.gather(-1, idx).squeeze(-1)).detach()
    weight = torch.where(torch.isfinite(r), r, 0.0)
    return (r + weight * (ls_a - ls_a.detach())).mean()


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
