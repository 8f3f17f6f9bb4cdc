"""The parent as teacher: its distribution over one step's actions (distillation targets).

Scripted parent (templates, labelled as such): its scorer favours words the context names, so the
wanted toy / the right word should carry the most teacher mass.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import babyworld
from babyworld import Task, env_id, make_parent


def _make(level, **kwargs):
    return gym.make(env_id(level), parent="scripted", **kwargs).unwrapped


@pytest.mark.parametrize(
    ("level", "kwargs"), [("Point", {}), ("Name", {"restrict_to_asked": True}), ("Name", {})]
)
def test_teacher_is_a_distribution_peaked_on_the_right_act(level, kwargs):
    env = _make(level, **kwargs)
    for seed in range(20):
        env.reset(seed=seed)
        lp = env.teacher_logprobs()
        assert lp.shape == (env.action_space.n,)
        assert np.exp(lp).sum() == pytest.approx(1.0)
        right = env.right_action()
        if level == "Point":
            assert env._scene.objects[right] == env._task.wanted
        else:
            assert env.words[right] == env._task.answer
        if kwargs or level == "Point":
            assert int(np.argmax(lp)) == right
        else:
            # The calibrated frame names the toy but both frames hold the question, so the
            # scripted judge ties the shape and the colour word: the right one is among the best.
            assert lp[right] == pytest.approx(lp.max())


def test_teacher_logprobs_formula_by_hand():
    env = _make("Point")
    env.reset(seed=3)
    ctx, cont = env.teacher_requests()
    assert len(ctx) == len(cont) == 2 * env.n_objects  # (context, neutral) per slot
    scores = [np.array([-1.0, -2.0]), np.array([-2.0, -2.0])]  # slot 0: PMI mean 0.5
    scores += [np.array([-3.0]), np.array([-1.0])]  # slot 1: PMI -2
    scores += [np.array([-1.0]), np.array([-1.0])]  # slot 2: PMI 0
    lp = env.teacher_logprobs(scores)
    pmi = np.array([0.5, -2.0, 0.0])
    np.testing.assert_allclose(lp, pmi - np.log(np.exp(pmi).sum()))
    with pytest.raises(ValueError, match="got 2 scores for 6 teacher requests"):
        env.teacher_logprobs(scores[:2])


def test_teacher_respects_the_action_mask():
    env = _make("Name", restrict_to_asked=True)
    env.reset(seed=0)
    lp = env.teacher_logprobs()
    mask = env.action_masks()
    assert np.isneginf(lp[~mask]).all() and np.isfinite(lp[mask]).all()
    assert np.exp(lp[mask]).sum() == pytest.approx(1.0)


def test_vector_env_batches_the_teacher_and_matches_single_envs():
    parent = make_parent("scripted", shared=False)
    from babyworld.vector.local import ParentBatchVectorEnv

    envs = ParentBatchVectorEnv(babyworld.NameEnv, 3, parent)
    envs.reset(seed=5)
    calls = parent.stats.calls
    batched = envs.teacher_logprobs()
    assert parent.stats.calls == calls + 1 and batched.shape == (3, 12)
    for i, e in enumerate(envs.envs):
        np.testing.assert_allclose(batched[i], e.teacher_logprobs())


def test_utterance_levels_and_finished_episodes_have_no_teacher():
    env = _make("Request")
    with pytest.raises(RuntimeError, match="call reset"):
        env.teacher_logprobs()
    env.reset(seed=0)
    with pytest.raises(NotImplementedError, match="one-act levels"):
        env.teacher_logprobs()
    with pytest.raises(NotImplementedError, match="one-act levels"):
        env.right_action()


def test_ladder_places_the_teacher_in_the_union_vocabulary():
    env = _make("Ladder")
    env.reset(seed=0, options={"task": Task.make("Name")})
    lp = env.teacher_logprobs()
    assert lp.shape == (len(env.words),)
    assert (np.isfinite(lp) == env.action_masks()).all()
    np.testing.assert_allclose(lp[np.isfinite(lp)], env.cur.teacher_logprobs())
    assert env.words[env.right_action()] == env.cur._task.answer
