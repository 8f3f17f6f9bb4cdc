"""Supervision accounting in bits: the external, action-dependent information that drives a policy.

Only information from outside the student that depends on what it did counts; the student's own
predictability and MDL rewards count zero. Definitions (all in bits; ``p`` a probability):

- **a binary verdict** (right / wrong) on an act the policy sampled: its entropy under the
  policy's success probability ``p``, ``H_b(p) = -p log2 p - (1 - p) log2 (1 - p)`` — at most 1
  bit, 0 when the outcome was certain (a policy that is always right learns nothing from hearing
  so). :func:`verdict_bits`.
- **one number per episode** summing ``E`` verdicts (``sparse_ppo``, ``grpo``) or the
  curriculum's ``progress`` (a function of the episode's verdicts): the entropy of a
  ``Binomial(E, p)`` count, paid once per episode. :func:`episode_count_bits`.
- **a graded response to the act** (the parent's consistency score, the parent's worded reaction
  read by a self-distillation teacher): a function of the act in a known state, so it carries at
  most the entropy of the act, ``H(pi)``. :func:`act_response_bits`.
- **a teacher distribution** over the ``A`` allowed acts (``distill``): what it says beyond
  knowing nothing, ``KL(teacher || uniform) = log2 A - H(teacher)`` (0 for a uniform teacher,
  ``log2 A`` for a one-hot one). :func:`distribution_bits`.
- **a demonstrated act** (the right act shown): ``log2 A`` (which of the ``A`` allowed acts).
  :func:`demonstration_bits`.

Every kind but one is measured from what the rollout held (verdicts, counts, the teacher's
distribution as it was, the demonstrated act). A graded response is counted by its bound ``H(pi)``:
:data:`BOUND_KINDS` names it, and the summary keeps it apart (``bound_bits_per_step``) from the
measured bits (``measured_bits_per_step``), so a near-random policy's large ``H(pi)`` is never read
as supervision received.

The words the parent says are heard in every mode and feed the world model, not the policy; they
are a separate column, ``words_heard`` (tokens heard per step), not bits.

Worked example (Point, 3 acts, 4 one-act exchanges per episode, a policy right with p = 0.5):
a verdict per step is ``H_b(0.5) = 1`` bit; ``sparse_ppo`` hears one count per episode,
``H(Binomial(4, 0.5)) = 2.03`` bits per 4 steps = 0.51 bit per step; a teacher giving
(0.8, 0.1, 0.1) is ``log2 3 - H = 1.585 - 0.922 = 0.663`` bit per step; a demonstration is
``log2 3 = 1.585`` bits per step.
"""

from __future__ import annotations

import math

import torch

#: the kinds counted by an upper bound, not measured: a graded response to the act (``H(pi)``)
BOUND_KINDS = frozenset({"response"})


def binary_entropy(p: float) -> float:
    """``H_b(p)`` in bits, for ``p`` in [0, 1] (0 at both ends)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    if p in (0.0, 1.0):
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def verdict_bits(p: float) -> float:
    """Bits of one binary verdict on a sampled act that is right with probability ``p``."""
    return binary_entropy(p)


def episode_count_bits(p: float, exchanges: int) -> float:
    """Bits of one count of right exchanges out of ``exchanges``: ``H(Binomial(E, p))``."""
    if exchanges < 1:
        raise ValueError(f"exchanges must be >= 1, got {exchanges}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    h = 0.0
    for k in range(exchanges + 1):
        q = math.comb(exchanges, k) * p**k * (1 - p) ** (exchanges - k)
        if q > 0:
            h -= q * math.log2(q)
    return h


def act_response_bits(policy_logits: torch.Tensor) -> torch.Tensor:
    """Upper bound on the bits of any response that is a function of the act: ``H(pi)``.

    Args:
        policy_logits: ``[B, A]`` masked logits (disallowed acts at the dtype's minimum or -inf).

    Returns:
        ``[B]`` entropies of the policy in bits.
    """
    logp = torch.log_softmax(policy_logits, -1)
    p = logp.exp()
    return -(p * logp.masked_fill(p == 0, 0.0)).sum(-1) / math.log(2)


def distribution_bits(teacher_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``KL(teacher || uniform over the allowed acts)`` in bits, per row.

    Args:
        teacher_logprobs: ``[B, A]`` log-probabilities (``-inf`` = 0), renormalised over ``mask``.
        mask: ``[B, A]`` bool, True where allowed.

    Returns:
        ``[B]`` bits, in ``[0, log2 A_allowed]``.
    """
    lp = torch.log_softmax(teacher_logprobs.masked_fill(~mask, float("-inf")), -1)
    p = lp.exp()
    h = -(p * lp.masked_fill(p == 0, 0.0)).sum(-1)
    return (mask.sum(-1).double().log() - h.double()).float() / math.log(2)


def demonstration_bits(mask: torch.Tensor) -> torch.Tensor:
    """``log2`` of the number of allowed acts per row (``[B, A]`` bool -> ``[B]``)."""
    return mask.sum(-1).float().log2()
