"""Evaluation of a student on held-out episodes: greedy and sampled, success by the verifier.

The evaluation envs are a vector env of their own, reset with seeds that no training env ever
gets (:func:`eval_seeds`): a training run seeds env ``i`` with ``seed + i`` (``< 2**32``, the
config's seed limit) and GRPO groups draw their replay seeds below ``2**31``, while evaluation
episode ``j`` is reset with seed ``2**32 + j``. Every evaluation of every run plays the same
held-out episodes (episode ``j`` gets task ``tasks[j % len(tasks)]`` and seed ``2**32 + j``), so
evaluations are comparable across updates, modes and seeds. These are held-out *seeds*: on a
small level the same scene may also occur in training (Point has few distinct scenes).

Success of an episode is the fraction of its exchanges that the world's verifier judged right
(``info["true_success"]``), never the verdict the rewards read. Nothing here touches the
trainer's random streams: sampled acts come from a ``torch.Generator`` the caller seeds, the
envs draw from their own ``np_random``, and the curriculum is never told of these episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from babyworld.agents.history import HistoryBuffer
from babyworld.agents.losses import heard_cross_entropy
from babyworld.agents.student import Student
from babyworld.curricula.runner import reset_with_tasks
from babyworld.task import Task

#: Evaluation episode ``j`` is reset with seed ``EVAL_SEED_BASE + j`` (training seeds are below).
EVAL_SEED_BASE = 2**32


def eval_seeds(episodes: int) -> list[int]:
    """The reset seeds of the held-out episodes ``0 .. episodes - 1``."""
    return [EVAL_SEED_BASE + j for j in range(episodes)]


@torch.no_grad()
def play_episodes(
    model: Student,
    envs: gym.vector.VectorEnv,
    tasks: Sequence[Task],
    episodes: int,
    greedy: bool,
    generator: torch.Generator | None = None,
    heard: list[tuple[float, bool]] | None = None,
) -> np.ndarray:
    """Play ``episodes`` held-out episodes with the student; their true success rates.

    The vector env (autoreset disabled) runs ``min(episodes, num_envs)`` episodes at a time;
    an env whose episode ends starts the next unplayed one. When none is left it plays a spare
    episode (seeds after the held-out ones) whose outcome is ignored, so that variable-length
    episodes can be stepped together.

    Args:
        model: the student (left in the train/eval state it had).
        envs: a vector env of the level, built with ``autoreset_mode=DISABLED``.
        tasks: the tasks the episodes cycle through (episode ``j``: ``tasks[j % len(tasks)]``).
        episodes: number of held-out episodes, ``>= 1``.
        greedy: act by the most probable allowed act; else sample with ``generator``.
        generator: the sampling generator (needed unless ``greedy``).
        heard: a list to append each reaction's ``(nats per word, right)`` to (:func:`_record_heard`).

    Returns:
        ``[episodes]`` per-episode fraction of exchanges the verifier judged right.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not greedy and generator is None:
        raise ValueError("sampled evaluation needs a torch.Generator (generator=...)")
    n = envs.num_envs
    hist = HistoryBuffer(
        n, model.cfg.history, model.heard_length, model.percept_dim, model.n_actions
    )
    was_training = model.training
    model.eval()
    slot = list(range(n))  # the episode each env plays (>= episodes: a spare one)
    next_episode = n
    task_of = lambda j: tasks[j % len(tasks)]  # noqa: E731
    obs, _ = reset_with_tasks(
        envs, [task_of(j) for j in slot], seed=[EVAL_SEED_BASE + j for j in slot]
    )
    hist.start_rows(np.ones(n, dtype=bool), obs)
    right = np.zeros(n)
    exchanges = np.zeros(n, dtype=np.int64)
    result = np.full(episodes, np.nan)
    while np.isnan(result).any():
        masks = envs.action_masks() if hasattr(envs, "action_masks") else envs.call("action_masks")
        mask = torch.as_tensor(np.stack(masks), dtype=torch.bool)
        logits = (out := model(*hist.w.as_tuple(), mask)).logits
        if greedy:
            action = logits.argmax(-1)
        else:
            probs = torch.softmax(logits, -1)
            action = torch.multinomial(probs, 1, generator=generator)[:, 0]
        obs, _, term, trunc, infos = envs.step(action.numpy())
        ends = np.asarray(infos["exchange_end"], dtype=bool)
        if heard is not None:
            _record_heard(heard, model, out, action, obs, infos, ends & (np.array(slot) < episodes))
        exchanges += ends
        right += ends & np.asarray(infos["true_success"], dtype=bool)
        ended = np.logical_or(term, trunc)
        hist.push_rows(~ended, obs, action)
        for i in np.flatnonzero(ended):
            if slot[i] < episodes:
                result[slot[i]] = right[i] / exchanges[i] if exchanges[i] else 0.0
            slot[i], next_episode = next_episode, next_episode + 1
            right[i], exchanges[i] = 0.0, 0
        if ended.any():
            obs, _ = reset_with_tasks(
                envs,
                [task_of(j) for j in slot],
                mask=ended,
                seed=[EVAL_SEED_BASE + j if ended[i] else None for i, j in enumerate(slot)],
            )
            hist.start_rows(ended, obs)
    model.train(was_training)
    return result


@torch.no_grad()
def _record_heard(
    heard: list, model: Student, out: Any, action: torch.Tensor, obs: dict, infos: dict, rows: Any
) -> None:
    """Per row of ``rows`` that heard words: their world-model cross-entropy and the act's truth.

    The words are the parent's reaction at an exchange's end; the cross-entropy is in nats per
    word, predicted before the act; the truth is the verifier's. How well the student predicts
    what the parent says after right and after wrong acts.
    """
    tokens, _ = model.predict_next(out.mu, out.logvar, action, sample=False)
    words = torch.as_tensor(np.asarray(obs["heard"]), dtype=torch.long)
    length = torch.as_tensor(np.asarray(obs["heard_len"]), dtype=torch.long)
    nats = heard_cross_entropy(tokens, words, length).numpy()
    for i in np.flatnonzero(rows & (length.numpy() > 0)):
        heard.append((float(nats[i]), bool(infos["true_success"][i])))
