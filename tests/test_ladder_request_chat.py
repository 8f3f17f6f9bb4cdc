"""Request, Chat and Ladder: utterance mechanics, parent judgements, tasks, masks, determinism.

Scripted parent (templates, labelled as such): its scorer puts mass on words that the context
names, so "the child wants the red ball, so the child says: red ball" is the likeliest reading.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import babyworld
from babyworld import InvalidActionError, Task, env_id, make_parent
from babyworld.envs import STOP
from babyworld.envs.chat import CHAT_WORDS, TOPICS
from babyworld.world import COLORS, SHAPES

PARENT = "scripted"


def make(level: str, **kwargs):
    return gym.make(env_id(level), parent=PARENT, **kwargs)


def say(env, words: list[str]):
    """Say the words then stop; returns the last step's results."""
    u = env.unwrapped
    out = None
    for w in [*words, STOP]:
        out = env.step(u.words.index(w))
        if out[4]["exchange_end"]:
            return out
    return out


# --------------------------------------------------------------------------- Request


def test_request_spaces_and_vocabulary():
    env = make("Request")
    u = env.unwrapped
    assert u.words == (*SHAPES, *COLORS, "want", "please", STOP)
    assert env.action_space == gym.spaces.Discrete(15)
    assert u.stop_action == 14
    _, info = env.reset(seed=0)
    assert info["action_mask"].all()


def test_request_words_accumulate_until_stop_and_only_the_end_is_judged():
    env = make("Request", max_words=3)
    u = env.unwrapped
    env.reset(seed=0)
    calls = u.parent.stats.requests
    _, r, term, _, info = env.step(u.words.index("red"))
    assert not info["exchange_end"] and not term
    assert info["baby_utterance"] == "red"
    vec = info["reward_vector"]
    assert vec[0] == 0 and vec[1] == 0 and vec[4] == 0  # task, consistency, progress
    assert vec[3] < 0  # each word costs code length
    assert u.parent.stats.requests == calls  # the parent only listened
    heard_before = info["parent_utterance"]
    _, _, _, _, info = env.step(u.words.index("ball"))
    assert info["baby_utterance"] == "red ball" and not info["exchange_end"]
    assert info["parent_utterance"] == heard_before
    _, _, _, _, info = env.step(u.stop_action)
    assert info["exchange_end"] and info["exchange"] == 1
    assert info["baby_utterance"] == "red ball"
    assert u.parent.stats.requests > calls


def test_request_max_words_ends_the_utterance_by_itself():
    env = make("Request", max_words=2)
    u = env.unwrapped
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)
    assert not info["exchange_end"]
    _, _, _, _, info = env.step(1)
    assert info["exchange_end"] and info["baby_utterance"] == f"{u.words[0]} {u.words[1]}"


def test_request_naming_the_needed_toy_gets_it():
    env = make("Request")
    u = env.unwrapped
    wins = 0
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        needed = u._task.wanted
        # the needed toy is the attended one in the percept
        slots = obs["percept"].reshape(u.n_objects, -1)
        assert slots[:, -1].tolist() == [float(i == u._task.target) for i in range(u.n_objects)]
        _, r, _, _, info = say(env, [needed.color, needed.shape])
        assert info["target"] == needed.name
        assert info["baby_meaning"] == f"asks for the {needed.name}"
        assert info["success"] and info["reward_vector"][0] == 1.0
        assert info["reward_vector"][1] > 0  # the words fit the need (PMI > 0)
        assert info["parent_feedback"] == f"Here is the {needed.name}."
        wins += 1
    assert wins == 20


def test_request_empty_utterance_gets_nothing():
    env = make("Request")
    u = env.unwrapped
    env.reset(seed=0)
    _, _, _, _, info = env.step(u.stop_action)
    assert info["exchange_end"] and not info["success"]
    assert info["baby_utterance"] == "" and info["baby_meaning"] == "says nothing"
    assert info["reward_vector"][1] == 0.0
    assert "don't understand" in info["parent_feedback"]


def test_request_task_lowers_max_words_and_bad_tasks_are_rejected():
    env = make("Request", max_words=3)
    u = env.unwrapped
    env.reset(seed=0, options={"task": Task.make("Request", max_words=1)})
    _, _, _, _, info = env.step(0)
    assert info["exchange_end"]
    env.reset(seed=0)  # no task: the env's own setting again
    _, _, _, _, info = env.step(0)
    assert not info["exchange_end"]
    with pytest.raises(ValueError, match=r"max_words must be an integer in \[1, 3\], got 4"):
        env.reset(options={"task": Task.make("Request", max_words=4)})
    with pytest.raises(ValueError, match=r"is for level 'Point' but this env is 'Request'"):
        env.reset(options={"task": Task.make("Point")})
    with pytest.raises(ValueError, match=r"sets \['attributes'\], which level 'Request'"):
        env.reset(options={"task": Task.make("Request", attributes=("shape",))})
    with pytest.raises(ValueError, match=r"unknown reset options \['level'\]"):
        env.reset(options={"level": "Request"})
    with pytest.raises(TypeError, match=r"options\['task'\] must be a babyworld.Task"):
        env.reset(options={"task": "Request"})
    # a rejected reset leaves the running episode alone
    assert not u._done


def test_utterance_levels_reject_bad_max_words():
    with pytest.raises(ValueError, match=r"max_words must be an integer in \[1, 1024\]"):
        make("Request", max_words=0)


def test_request_episode_terminates_after_exchanges_utterances():
    env = make("Request", exchanges=2, max_words=2)
    env.reset(seed=0)
    ends = []
    for _ in range(4):
        _, _, term, trunc, info = env.step(0)
        ends.append((info["exchange_end"], term))
        assert trunc is False
    assert ends == [(False, False), (True, False), (False, False), (True, True)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


# --------------------------------------------------------------------------- Chat


def test_chat_answer_with_the_topic_word_fits_and_a_foreign_one_does_not():
    env = make("Chat")
    u = env.unwrapped
    assert u.words == (*CHAT_WORDS, STOP)
    right = wrong = 0
    for seed in range(30):
        _, info = env.reset(seed=seed)
        line = info["parent_request"]
        situation, example = TOPICS[u._topics[0]]
        assert line == example  # the scripted parent says the topic's canonical line
        fitting = [w for w in CHAT_WORDS if w in babyworld.text.WordTokenizer.words(line)]
        foreign = [
            w
            for w in CHAT_WORDS
            if all(w not in babyworld.text.WordTokenizer.words(x) for x in u._lines)
        ]
        _, _, _, _, info = say(env, fitting[:1])
        assert info["target"] == situation
        assert info["success"], (line, fitting)
        assert info["parent_feedback"].startswith("Yes")
        right += 1
        env.reset(seed=seed)
        _, _, _, _, info = say(env, foreign[:1])
        assert not info["success"]
        assert info["reward_vector"][1] == pytest.approx(0.0)  # no evidence either way
        wrong += 1
    assert right == wrong == 30


def test_chat_rejects_bad_distractors():
    with pytest.raises(ValueError, match=r"distractors must be an integer in \[1, 7\]"):
        make("Chat", distractors=8)


# --------------------------------------------------------------------------- Ladder


def test_ladder_unlocks_each_levels_vocabulary():
    env = make("Ladder")
    u = env.unwrapped
    assert u.words[:3] == ("sym0", "sym1", "sym2")
    expected = {
        Task.make("Point"): {"sym0", "sym1", "sym2"},
        Task.make("Name", attributes=("shape",)): set(SHAPES + COLORS),
        Task.make("Request", max_words=2): set(SHAPES + COLORS) | {"want", "please", STOP},
        Task.make("Chat"): set(CHAT_WORDS) | {STOP},
    }
    for task, words in expected.items():
        _, info = env.reset(seed=0, options={"task": task})
        assert info["level"] == task.level and info["task"] == task.name
        allowed = {u.words[i] for i in np.flatnonzero(info["action_mask"])}
        assert allowed == words
    strict = make("Ladder", invalid_action="raise")
    strict.reset(seed=0, options={"task": Task.make("Point")})
    with pytest.raises(InvalidActionError, match=r"\('red'\) is not a word of level 'Point'"):
        strict.step(u.words.index("red"))
    env.reset(seed=0, options={"task": Task.make("Point")})
    with pytest.raises(InvalidActionError, match="outside the action space"):
        env.step(len(u.words))


def test_ladder_rejects_unknown_levels_and_tasks():
    with pytest.raises(ValueError, match="levels must be distinct names of"):
        make("Ladder", levels=("Point", "Dance"))
    env = make("Ladder", levels=("Point", "Name"))
    with pytest.raises(ValueError, match=r"names level 'Chat'; this ladder has levels"):
        env.reset(options={"task": Task.make("Chat")})


def _masked_rollout(env, seed: int, n: int, tasks: list[Task]):
    rng = np.random.default_rng(seed)
    k = 0
    obs, info = env.reset(seed=seed, options={"task": tasks[0]})
    out = [(obs, info["task"])]
    for _ in range(n):
        a = rng.choice(np.flatnonzero(info["action_mask"]))
        obs, r, term, _, info = env.step(a)
        out.append((obs, float(r), info["reward_vector"].copy(), info["parent_utterance"]))
        if term:
            k += 1
            obs, info = env.reset(options={"task": tasks[k % len(tasks)]})
            out.append((obs, info["task"]))
    return out


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for p, q in zip(x, y, strict=True):
            if isinstance(p, dict):
                for key in p:
                    assert np.array_equal(p[key], q[key])
            else:
                assert np.array_equal(p, q)


@pytest.mark.parametrize("level", ["Request", "Chat", "Ladder"])
def test_same_seed_same_rollout(level):
    tasks = (
        [Task.make(level)]
        if level != "Ladder"
        else [Task.make("Point"), Task.make("Name"), Task.make("Request"), Task.make("Chat")]
    )
    run_a = _masked_rollout(make(level), 5, 400, tasks)
    make_parent(PARENT).clear_cache()
    run_b = _masked_rollout(make(level), 5, 400, tasks)
    _same(run_a, run_b)
    rewards = {x[1] for x in run_a if len(x) == 4}
    assert len(rewards) > 10


def test_ladder_state_dict_round_trip_continues_identically():
    tasks = [Task.make("Request"), Task.make("Chat"), Task.make("Point")]
    env_a = make("Ladder").unwrapped
    _masked_rollout(env_a, 3, 50, tasks)
    state = env_a.state_dict()
    env_b = make("Ladder").unwrapped
    env_b.load_state_dict(state)
    assert env_b.cur.level == env_a.cur.level
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(60):
        if env_a._done:
            oa, _ = env_a.reset(options={"task": tasks[0]})
            ob, _ = env_b.reset(options={"task": tasks[0]})
            assert np.array_equal(oa["heard"], ob["heard"])
        ma, mb = env_a.action_masks(), env_b.action_masks()
        assert np.array_equal(ma, mb)
        ra = env_a.step(rng_a.choice(np.flatnonzero(ma)))
        rb = env_b.step(rng_b.choice(np.flatnonzero(mb)))
        assert np.array_equal(ra[4]["reward_vector"], rb[4]["reward_vector"])
        assert np.array_equal(ra[0]["heard"], rb[0]["heard"])
    with pytest.raises(ValueError, match="env state is from"):
        make("Ladder", levels=("Point",)).unwrapped.load_state_dict(state)


@pytest.mark.parametrize("level", ["Request", "Chat"])
def test_request_and_chat_pass_both_checkers_without_warnings(level):
    env = make(level)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in records] == []


def test_native_vector_env_takes_one_task_per_env_and_partial_resets():
    from babyworld.vector.local import ParentBatchVectorEnv

    parent = make_parent("scripted", shared=False)
    envs = ParentBatchVectorEnv(
        babyworld.LadderEnv, 3, parent, autoreset_mode=gym.vector.AutoresetMode.DISABLED
    )
    tasks = [Task.make("Point"), Task.make("Request"), Task.make("Chat")]
    _, infos = envs.reset(seed=0, options={"task": tasks})
    assert list(infos["task"]) == ["Point", "Request", "Chat"]
    mask = np.array([False, True, False])
    _, infos = envs.reset(options={"reset_mask": mask, "task": [None, Task.make("Name"), None]})
    assert infos["_task"].tolist() == [False, True, False]
    assert envs.envs[1].cur.level == "Name" and envs.envs[0].cur.level == "Point"
    with pytest.raises(ValueError, match=r"names level 'Dance'"):
        envs.reset(options={"task": [None, Task.make("Dance"), None]})
    with pytest.raises(ValueError, match="must be a Task or a sequence of 3"):
        envs.reset(options={"task": [Task.make("Point")]})
    with pytest.raises(TypeError, match="numpy bool array"):
        envs.reset(options={"reset_mask": [True, False, True]})
    assert envs.envs[1].cur.level == "Name"  # nothing moved on bad input


# --------------------------------------------------------------------------- curriculum runner


def _run_curriculum(mode: str, steps: int = 160) -> tuple[list, list]:
    """Drive a 3-env Ladder with the progress curriculum; masked-uniform actions from a fixed rng."""
    from babyworld.curricula import CurriculumRunner, make_curriculum

    kwargs: dict = {"parent": PARENT}
    if mode == "native":
        kwargs["autoreset_mode"] = gym.vector.AutoresetMode.DISABLED
        vec = "vector_entry_point"
    else:
        kwargs["vector_kwargs"] = {"autoreset_mode": gym.vector.AutoresetMode.DISABLED}
        vec = mode
    envs = gym.make_vec(env_id("Ladder"), num_envs=3, vectorization_mode=vec, **kwargs)
    curriculum = make_curriculum("progress", epsilon=0.5)
    runner = CurriculumRunner(envs, curriculum, seed=7)
    rng = np.random.default_rng(0)
    _, infos = runner.reset(seed=11)
    masks = np.stack(infos["action_mask"])
    trace = []
    for _ in range(steps):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        out = runner.step(actions)
        trace.append((actions.tolist(), np.round(out.rewards, 9).tolist()))
        masks = np.stack(out.infos["action_mask"])
        for f in out.finished:
            masks[f.env] = out.reset_infos["action_mask"][f.env]
    envs.close()
    return runner.history, trace


def test_sync_async_and_native_vector_envs_give_the_same_task_sequence():
    native = _run_curriculum("native")
    assert len({name for _, name in native[0]}) > 2  # the test covers several tasks
    assert _run_curriculum("sync") == native
    assert _run_curriculum("async") == native
