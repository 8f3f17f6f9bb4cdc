"""Reward components: small pure functions, each with its formula and range.

The env (world + verifier + parent) produces the inputs; these functions only turn them into
numbers. All return Python floats inside the declared bounds of :mod:`babyworld.rewards.vector`.
"""

from __future__ import annotations

import math

import numpy as np


def task(success: bool) -> float:
    """Task success from the world's verifier.

    ``r_task = 1 if the verifier accepts the baby's act else 0``; range [0, 1].
    """
    return 1.0 if success else 0.0


def consistency(
    logp_context: np.ndarray, logp_neutral: np.ndarray, temperature: float = 1.0
) -> float:
    """The parent's calibrated judgement of the baby's act in context.

    ``r_cons = tanh( mean_t [log p(x_t | context) - log p(x_t | neutral)] / temperature )``

    where ``x`` is the parent-side description of the baby's act (the object handed over, the
    word said), ``context`` holds what the parent asked and ``neutral`` the same frame without it.
    Positive when the request made the act more likely (per-token PMI); range [-1, 1].

    Args:
        logp_context: per-token log-probs of ``x`` given the context, shape ``[T]``.
        logp_neutral: per-token log-probs of ``x`` given the neutral context, shape ``[T]``.
        temperature: PMI (nats per token) that maps to tanh(1) ≈ 0.76.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    lc, ln = np.asarray(logp_context, np.float64), np.asarray(logp_neutral, np.float64)
    if lc.shape != ln.shape or lc.ndim != 1 or lc.size == 0:
        raise ValueError(f"need two equal non-empty 1-D arrays, got {lc.shape} and {ln.shape}")
    return float(math.tanh(float((lc - ln).mean()) / temperature))


def predictability(surprisal_bits: np.ndarray, max_bits: float) -> float:
    """Minus the normalised error of a prediction of the next observation.

    ``r_pred = - mean_t surprisal_t / max_bits`` where ``surprisal_t = -log2 q(o_t)`` is the
    predictor's code length for each token of the next heard utterance and ``max_bits`` bounds it.
    An empty observation is perfectly predicted (0). Range [-1, 0].
    """
    s = np.asarray(surprisal_bits, np.float64)
    if max_bits <= 0:
        raise ValueError(f"max_bits must be > 0, got {max_bits}")
    if s.size == 0:
        return 0.0
    if (s < 0).any() or (s > max_bits + 1e-9).any():
        raise ValueError(f"surprisal must lie in [0, {max_bits}] bits, got {s.min()}..{s.max()}")
    return -float(s.mean()) / max_bits


def mdl(code_length_bits: float, max_bits: float) -> float:
    """Minus the normalised description length of the baby's utterance.

    ``r_mdl = - L(u) / L_max`` where ``L(u)`` is the utterance's code length in bits under an
    adaptive code of the baby's own past utterances (or the student's latent KL, in bits, when a
    student supplies it) and ``L_max`` its upper bound. Range [-1, 0].
    """
    if max_bits <= 0:
        raise ValueError(f"max_bits must be > 0, got {max_bits}")
    if not 0 <= code_length_bits <= max_bits + 1e-9:
        raise ValueError(f"code length must lie in [0, {max_bits}] bits, got {code_length_bits}")
    return -float(code_length_bits) / max_bits


def progress(estimate_before: float, estimate_after: float) -> float:
    """Change in the running success estimate of the current task.

    ``r_prog = p_after - p_before`` with ``p`` an exponential moving average of the task's success
    (``p_after = p_before + beta * (success - p_before)``); range [-beta, beta].
    """
    return float(estimate_after) - float(estimate_before)
