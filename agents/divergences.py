"""Divergences between the student's and a teacher's action distributions, and distillation.

Conventions shared by the divergences: the student gives logits and the teacher log-probabilities
over the same action vocabulary ``A`` (last axis). Disallowed actions are those where ``mask`` is
False, or where the student's logit is ``-inf`` or the dtype's minimum (what
:func:`~babyworld.agents.losses.mask_logits` writes). Both distributions are renormalised over the
allowed actions (log-softmax), so the teacher may also be given as unnormalised logits, and a
teacher that puts mass on a disallowed action is conditioned on the allowed ones. The teacher is
always detached. Values are in nats. Tested against hand-computed cases
(``tests/test_divergences.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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
    return _sampled_reverse_kl(student_logits, teacher_logprobs, mask, actions)


def _sampled_reverse_kl(
    student_logits: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    mask: torch.Tensor | None,
    actions: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`distill_loss`'s ``support="sampled"`` term, mean over rows (its docstring says why).

    Raises:
        ValueError: missing, ill-shaped, out-of-range or disallowed ``actions``.
    """
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
