"""Reward components: small pure functions, each with its formula and range.

The env (world + verifier + parent) produces the inputs; these functions only turn them into
numbers. All return Python floats inside the declared bounds of :mod:`babyworld.rewards.vector`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def task(success: bool) -> float:
    """Task success: the verdict on the baby's act.

    ``r_task = 1 if the act succeeded else 0``; range [0, 1]. The verdict is the world's verifier
    (``reward_source="verifier"``) or the parent's judgement (``reward_source="parent"``).
    """
    return 1.0 if success else 0.0


def pmi(logp_context: np.ndarray, logp_neutral: np.ndarray) -> float:
    """Per-token pointwise mutual information of a continuation with its context.

    ``pmi = mean_t [log p(x_t | context, x_<t) - log p(x_t | neutral, x_<t)]``: how much the
    context (what the parent asked, what it knows) made the continuation ``x`` (the act as the
    parent describes it) more likely than a neutral frame does. Subtracting the neutral frame
    removes the parent's prior for frequent words (content-free calibration).

    Args:
        logp_context: per-token log-probs of ``x`` given the context, shape ``[T]``.
        logp_neutral: per-token log-probs of ``x`` given the neutral context, shape ``[T]``.
    """
    lc, ln = np.asarray(logp_context, np.float64), np.asarray(logp_neutral, np.float64)
    if lc.shape != ln.shape or lc.ndim != 1 or lc.size == 0:
        raise ValueError(f"need two equal non-empty 1-D arrays, got {lc.shape} and {ln.shape}")
    return float((lc - ln).mean())


def pmi_pairs(scores: list[np.ndarray] | tuple[np.ndarray, ...]) -> np.ndarray:
    """:func:`pmi` of each ``(context, neutral)`` pair of ``scores`` (flattened pairs), ``[K]``.

    ``scores = [c_0, n_0, c_1, n_1, ...]``, the judge's per-token log-probs of each act in its
    context and in its neutral frame.
    """
    if len(scores) % 2:
        raise ValueError(f"need (context, neutral) pairs, got {len(scores)} score arrays")
    return np.array([pmi(c, n) for c, n in zip(scores[0::2], scores[1::2], strict=True)])


def question_contrast(
    logp_asked: np.ndarray, logp_calibration: Sequence[np.ndarray], weight: float
) -> float:
    """A word's judgement after the question asked, contrasted with a fixed set of questions.

    ``j = m_q + weight * (m_q - mean_r m_r)`` with ``m_q = mean_t log p(x_t | frame, question
    asked)`` and ``m_r`` the same after each calibration question ``r`` (one per kind of question
    the parent asks, the same set whatever the task). The first term says which words the frame
    makes likely at all (the shown toy's two words); the contrast says which of them the question
    asked raises above the others (content-free calibration over questions).

    Args:
        logp_asked: per-token log-probs of ``x`` after the question asked, shape ``[T]``.
        logp_calibration: per-token log-probs of ``x`` after each calibration question, each ``[T]``.
        weight: the contrast's weight (>= 0).
    """
    asked = float(np.mean(logp_asked))
    if not logp_calibration:
        raise ValueError("question_contrast needs at least one calibration question")
    mean_r = float(np.mean([np.mean(lp) for lp in logp_calibration]))
    return asked + weight * (asked - mean_r)


def question_contrasts(scores: Sequence[np.ndarray], group: int, weight: float) -> np.ndarray:
    """:func:`question_contrast` of each act's ``group`` score arrays (flattened), shape ``[K]``.

    ``scores = [asked_0, r_0_1, ..., r_0_{group-1}, asked_1, ...]``.
    """
    if group < 2 or len(scores) % group:
        raise ValueError(f"need groups of {group} >= 2 score arrays, got {len(scores)} arrays")
    return np.array(
        [
            question_contrast(scores[i], scores[i + 1 : i + group], weight)
            for i in range(0, len(scores), group)
        ]
    )


def channel_fits(per_line: np.ndarray, neutral: np.ndarray) -> bool:
    """Chat's verdict: every token is likelier after the parent's own line than after any other.

    ``fits = all_t [lp_0[t] > max_k>0 lp_k[t]] and all_t [lp_0[t] - neutral[t] > 0]``: each token of
    the reply is strictly likelier after line 0 (the parent's own) than after every other
    candidate line, and likelier than out of context, so one off-topic word sinks a reply.

    Args:
        per_line: per-token log-probs of the reply after each candidate line, shape ``[K, T]``,
            ``K >= 2``, the parent's own line first.
        neutral: per-token log-probs after the neutral frame, shape ``[T]``.
    """
    lp = np.asarray(per_line, np.float64)
    if lp.ndim != 2 or lp.shape[0] < 2 or lp.shape[1] != np.shape(neutral)[0] or lp.size == 0:
        raise ValueError(
            f"need [K>=2, T] and [T] log-probs, got {lp.shape} and {np.shape(neutral)}"
        )
    own_best = bool((lp[0] > lp[1:].max(axis=0)).all())
    return own_best and bool((lp[0] - np.asarray(neutral, np.float64) > 0).all())


def judge_distribution(judgements: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The parent's distribution over the K acts it judged: ``softmax(j / temperature)``.

    Args:
        judgements: one score per allowed act (e.g. :func:`pmi`), shape ``[K]``, ``K >= 1``.
        temperature: nats of judgement per unit of logit (> 0).

    Returns:
        ``float64`` probabilities, shape ``[K]``.
    """
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    j = np.asarray(judgements, np.float64)
    if j.ndim != 1 or j.size == 0 or not np.isfinite(j).all():
        raise ValueError(f"judgements must be a non-empty finite 1-D array, got {j!r}")
    z = (j - j.max()) / temperature
    e = np.exp(z)
    return e / e.sum()


def consistency(judgements: np.ndarray, act: int, temperature: float = 1.0) -> float:
    """The parent's judgement of the baby's act *relative to the other acts it could have taken*.

    ``pi = softmax(j / temperature)`` over the ``K`` allowed acts (``j``: the parent's score of
    each, e.g. its calibrated :func:`pmi`), and

    ``r_cons = (pi[act] - 1/K) / (1 - 1/K)``

    1 when the parent puts all its mass on the act, 0 when it cannot tell the acts apart (or
    ``K = 1``), down to ``-1/(K-1)`` when it puts none on the act; range within [-1, 1]. Unlike
    ``tanh`` of an absolute PMI, it does not saturate when every act looks plausible: only the
    act's standing among the alternatives counts.

    Args:
        judgements: the parent's score of every allowed act, shape ``[K]``.
        act: index of the baby's act among them.
        temperature: see :func:`judge_distribution`.
    """
    pi = judge_distribution(judgements, temperature)
    k = pi.size
    if not 0 <= act < k:
        raise ValueError(f"act must index one of the {k} judged acts, got {act}")
    if k == 1:
        return 0.0
    return float((pi[act] - 1.0 / k) / (1.0 - 1.0 / k))


def judged_right(judgements: np.ndarray, act: int) -> bool:
    """The parent's verdict: the act is (one of) the acts it judges best.

    ``verdict = j[act] >= max_k j[k]``; the success signal of ``reward_source="parent"``.
    """
    j = np.asarray(judgements, np.float64)
    if j.ndim != 1 or not 0 <= act < j.size:
        raise ValueError(f"act must index one of the {j.size} judged acts, got {act}")
    return bool(j[act] >= j.max())


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
