"""An act outside the mask: not understood by default (the episode goes on), or raised on request.

Scripted parent (templates, labelled as such).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from babyworld import InvalidActionError, Task, env_id
from babyworld.envs import STOP
from babyworld.envs.ladder import LadderEnv
from babyworld.vector.local import ParentBatchVectorEnv
from babyworld.world import COLORS, SHAPES

PARENT = "scripted"
FLOOR = np.array([0.0, -1.0, -1.0, -1.0], np.float32)  # task, consistency, predictability, mdl


def make(level: str, **kwargs):
    return gym.make(env_id(level), parent=PARENT, **kwargs)


def masked_word(env) -> int:
    return int(np.flatnonzero(~env.unwrapped.action_masks())[0])


def test_masked_name_word_is_not_understood_and_the_episode_goes_on():
    env = make("Name", restrict_to_asked=True, exchanges=3)
    u = env.unwrapped
    _, info = env.reset(seed=0)
    answer = u._task.answer
    predictor, code = u.predictor.state_dict(), u.code.state_dict()
    word = u.words[masked_word(env)]
    asked = SHAPES if u._task.attribute == "shape" else COLORS
    assert word not in asked

    _, reward, terminated, truncated, info = env.step(masked_word(env))
    assert info["invalid_action"] is True
    assert info["success"] is False and info["exchange_end"] is True
    assert info["exchange"] == 1 and not terminated and not truncated
    assert info["baby_utterance"] == word and info["baby_meaning"] == "is not understood"
    assert info["target"] == answer
    np.testing.assert_array_equal(info["reward_vector"][:4], FLOOR)
    assert reward == pytest.approx(float(np.dot(info["reward_vector"], u.reward_weights)))
    assert reward < 0
    # the parent says it did not understand, then asks the next question
    assert "understand" in info["parent_feedback"] or "mean" in info["parent_feedback"]
    assert info["parent_utterance"].startswith(info["parent_feedback"])
    assert info["parent_request"]
    # the online estimators learn nothing from the act
    assert u.predictor.state_dict().keys() == predictor.keys()
    for k in predictor:
        np.testing.assert_array_equal(u.predictor.state_dict()[k], predictor[k])
    for k in code:
        np.testing.assert_array_equal(u.code.state_dict()[k], code[k])

    # an allowed act afterwards is judged as usual, and the episode ends on time
    _, _, terminated, _, info = env.step(u.right_action())
    assert info["invalid_action"] is False and info["success"] is True
    _, _, terminated, _, info = env.step(u.right_action())
    assert terminated and info["exchange"] == 3


def test_invalid_action_raise_keeps_the_strict_error_and_changes_nothing():
    env = make("Name", restrict_to_asked=True, invalid_action="raise")
    u = env.unwrapped
    env.reset(seed=0)
    before = u.state_dict()
    with pytest.raises(InvalidActionError, match="is masked at this step"):
        env.step(masked_word(env))
    assert u._exchange == 0
    assert u.state_dict()["np_random"] == before["np_random"]
    _, _, _, _, info = env.step(u.right_action())
    assert info["exchange"] == 1 and info["invalid_action"] is False


@pytest.mark.parametrize("invalid_action", ["not_understood", "raise"])
@pytest.mark.parametrize("action", [99, -1, 1.0, "0", np.array([0, 1])])
def test_out_of_range_and_non_integer_actions_always_raise(invalid_action, action):
    env = make("Ladder", invalid_action=invalid_action)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="outside the action space|single integer"):
        env.step(action)
    assert env.unwrapped.cur._exchange == 0


@pytest.mark.parametrize("level", ["Point", "Name", "Ladder"])
def test_unknown_invalid_action_mode_is_rejected(level):
    with pytest.raises(
        ValueError, match=r"invalid_action must be one of \('not_understood', 'raise'\)"
    ):
        make(level, invalid_action="ignore")


def test_ladder_word_of_another_level_is_not_understood():
    env = make("Ladder")
    u = env.unwrapped
    _, info = env.reset(seed=0, options={"task": Task.make("Point")})
    target = u.cur._task.wanted.name
    _, _, terminated, _, info = env.step(u.words.index("red"))
    assert info["invalid_action"] is True and info["level"] == "Point"
    assert info["baby_utterance"] == "red" and info["target"] == target
    assert info["exchange"] == 1 and not terminated
    np.testing.assert_array_equal(info["reward_vector"][:4], FLOOR)


def test_ladder_foreign_word_inside_an_utterance_ends_it_unjudged():
    env = make("Ladder")
    u = env.unwrapped
    env.reset(seed=0, options={"task": Task.make("Request", max_words=3)})
    calls = u.parent.stats.requests
    _, _, _, _, info = env.step(u.words.index("red"))
    assert info["exchange_end"] is False and info["invalid_action"] is False
    _, _, _, _, info = env.step(u.words.index("sym0"))  # a Point symbol: not a Request word
    assert info["invalid_action"] is True and info["exchange_end"] is True
    assert info["baby_utterance"] == "red sym0" and info["success"] is False
    assert info["exchange"] == 1
    # nothing was scored: the parent only reacted and asked again (two generated lines)
    assert u.parent.stats.requests == calls + 2
    # the next utterance starts afresh
    _, _, _, _, info = env.step(u.words.index("ball"))
    assert info["baby_utterance"] == "ball" and info["invalid_action"] is False
    _, _, _, _, info = env.step(u.words.index(STOP))
    assert info["exchange_end"] is True and info["baby_utterance"] == "ball"


def test_native_vector_env_marks_only_the_env_that_acted_outside_its_mask():
    env = ParentBatchVectorEnv(LadderEnv, 3, PARENT, exchanges=2)
    env.reset(seed=0)
    masks = env.action_masks()
    words = env.envs[0].words
    actions = np.array(
        [np.flatnonzero(masks[0])[0], words.index("red"), np.flatnonzero(masks[2])[0]]
    )
    _, rewards, terms, _, infos = env.step(actions)
    np.testing.assert_array_equal(infos["invalid_action"], [False, True, False])
    np.testing.assert_array_equal(infos["exchange"], [1, 1, 1])
    assert rewards[1] < min(rewards[0], rewards[2])
    assert not terms.any()


def test_same_seed_same_rollout_with_random_actions_of_the_whole_space():
    def run(seed: int) -> list:
        env = make("Ladder", levels=("Name", "Request"))
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out = [obs["heard"].copy()]
        for _ in range(120):
            obs, reward, term, _, info = env.step(env.action_space.sample())
            out.append(
                (obs["heard"].copy(), reward, info["invalid_action"], info["baby_utterance"])
            )
            if term:
                obs, _ = env.reset()
        return out

    a, b = run(3), run(3)
    assert any(x[2] for x in a[1:]) and not all(x[2] for x in a[1:])
    np.testing.assert_array_equal(a[0], b[0])
    for x, y in zip(a[1:], b[1:], strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
