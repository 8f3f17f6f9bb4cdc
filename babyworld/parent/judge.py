"""Judging and interpreting, built on :meth:`Parent.score` (one batched call each).

Recipes that work with a small parent (DESIGN.md §3): compare a continuation's log-likelihood in
context against a neutral context (PMI, removes the bias toward frequent words), average per token
where length must not matter, and interpret an utterance by the *noisy channel* — which intent makes
the utterance most likely — rather than by asking the parent which intent it thinks was meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from babyworld.parent.base import Parent

#: Default noisy-channel template: how likely is the utterance if the child wanted ``{intent}``?
INTENT_TEMPLATE = "The child wants the {intent}, so the child says:"


def calibrated_scores(
    parent: Parent,
    contexts: Sequence[str],
    neutral_contexts: Sequence[str],
    continuations: Sequence[str],
) -> np.ndarray:
    """Per-token pointwise mutual information of continuations with their contexts.

    ``pmi_i = mean_t [log p(x_t | context_i, x_<t) - log p(x_t | neutral_i, x_<t)]``, computed in
    one batched :meth:`Parent.score` call for all 2N pairs.

    Returns:
        ``float64`` array of shape ``[N]``.
    """
    n = len(contexts)
    if not (len(neutral_contexts) == n == len(continuations)):
        raise ValueError("contexts, neutral_contexts and continuations must have the same length")
    lps = parent.score([*contexts, *neutral_contexts], [*continuations, *continuations])
    return np.array([(lps[i] - lps[n + i]).mean() for i in range(n)], dtype=np.float64)


@dataclass(frozen=True)
class Interpretation:
    """Result of noisy-channel interpretation of N utterances over K candidate intents.

    Attributes:
        best: index of the most likely intent per utterance, shape ``[N]``.
        log_posterior: normalised log-posterior over intents (uniform prior), shape ``[N, K]``.
    """

    best: np.ndarray
    log_posterior: np.ndarray


def interpret(
    parent: Parent,
    utterances: Sequence[str],
    intents: Sequence[str],
    template: str = INTENT_TEMPLATE,
) -> Interpretation:
    """Which intent did each utterance express? Noisy channel, one batched score call.

    ``log p(intent | u) = log p(u | template(intent)) - logsumexp_k log p(u | template(k))``, with
    ``log p(u | .)`` summed over the utterance's tokens (all candidates score the same tokens, so
    the sum is comparable) and a uniform prior over intents.
    """
    if not intents:
        raise ValueError("interpret() needs at least one candidate intent")
    if "{intent}" not in template:
        raise ValueError("the template must contain '{intent}'")
    ctx, cont = [], []
    for u in utterances:
        for k in intents:
            ctx.append(template.format(intent=k))
            cont.append(" " + u.strip())
    lps = parent.score(ctx, cont)
    ll = np.array([lp.sum() for lp in lps], dtype=np.float64).reshape(len(utterances), len(intents))
    log_post = ll - np.logaddexp.reduce(ll, axis=1, keepdims=True)
    return Interpretation(best=ll.argmax(axis=1), log_posterior=log_post)


def choose(
    parent: Parent, context: str, neutral_context: str, options: Sequence[str]
) -> tuple[int, np.ndarray]:
    """Pick the option the parent finds most fitting in context (calibrated), and all scores."""
    scores = calibrated_scores(
        parent, [context] * len(options), [neutral_context] * len(options), list(options)
    )
    return int(scores.argmax()), scores
