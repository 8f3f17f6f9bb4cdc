"""Gymnasium behaviour of every registered level, with the scripted (template, no LLM) parent."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import babyworld
from babyworld import InvalidActionError, NameEnv, PointEnv, env_id, make_parent
from babyworld.rewards import DEFAULT_WEIGHTS, REWARD_NAMES
from babyworld.world import COLORS, PERCEPT_FEATURES, SHAPES

PARENT = "scripted"
#: Every registered id: the checkers step random actions of the whole action space, and an act
#: outside the mask (Ladder-v0's words of other levels) is one the parent does not understand.
LEVEL_IDS = [env_id(level) for level in babyworld.LEVELS]
#: Levels whose every action is allowed by default (Ladder-v0 masks the levels not played).
UNMASKED_LEVELS = [level for level in babyworld.LEVELS if level != "Ladder"]
#: Levels where one act is one exchange (Request and Chat speak several words per exchange).
ONE_ACT_LEVELS = list(babyworld.envs.rungs("one_act"))

#: Substrings of checker warnings that are acceptable. Empty on purpose: every registered id must
#: pass Gymnasium's and SB3's ``check_env`` (and the passive checker of ``gym.make``) silently.
#: Add an entry only with a comment saying why that warning is harmless for babyworld.
ALLOWED_CHECKER_WARNINGS: tuple[str, ...] = ()

INFO_KEYS = {
    "parent_utterance",
    "parent_feedback",
    "parent_request",
    "baby_utterance",
    "baby_meaning",
    "target",
    "success",
    "true_success",
    "exchange",
    "heard_truncated",
    "reward_vector",
    "reward_components",
    "action_mask",
    "parent",
    "task",
    "exchange_end",
    "invalid_action",
}
RESET_INFO_KEYS = {
    "parent_utterance",
    "parent_request",
    "exchange",
    "heard_truncated",
    "action_mask",
    "parent",
    "task",
}
NAME_WORDS = tuple("ball box key cup bird car red green blue yellow purple white".split())


def make(level: str = "Point", **kwargs):
    return gym.make(env_id(level), parent=PARENT, **kwargs)


def make_vector_reward(level: str = "Point", **kwargs):
    # A vector reward is the documented opt-in (MO-Gymnasium's convention); Gymnasium's passive
    # checker would warn that the reward is not a scalar, which is the point of the option.
    return gym.make(
        env_id(level), parent=PARENT, vector_reward=True, disable_env_checker=True, **kwargs
    )


def masked_action(rng: np.random.Generator, mask: np.ndarray) -> np.int64:
    return np.int64(rng.choice(np.flatnonzero(mask)))


def unexpected(records: list[warnings.WarningMessage]) -> list[str]:
    msgs = [f"{w.category.__name__}: {w.message}" for w in records]
    return [m for m in msgs if not any(allowed in m for allowed in ALLOWED_CHECKER_WARNINGS)]


# --------------------------------------------------------------------------- checkers


def test_levels_table_lists_every_level():
    assert list(babyworld.LEVELS) == ["Point", "Name", "Request", "Chat", "Ladder"]
    for eid in map(env_id, babyworld.LEVELS):
        assert eid in gym.registry


@pytest.mark.parametrize("eid", LEVEL_IDS)
def test_gymnasium_and_sb3_check_env_pass_without_warnings(eid):
    env = gym.make(eid, parent=PARENT)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert unexpected(records) == []
    env.close()


@pytest.mark.parametrize("eid", LEVEL_IDS)
def test_made_env_with_passive_checker_emits_no_warning(eid):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        env = gym.make(eid, parent=PARENT)
        env.reset(seed=0)
        for _ in range(10):
            _, _, terminated, _, _ = env.step(env.action_space.sample())
            if terminated:
                env.reset()
        env.close()
    assert unexpected(records) == []


# --------------------------------------------------------------------------- determinism


def _rollout(level: str, seed: int, n_steps: int, **kwargs) -> tuple[gym.Env, list[tuple]]:
    env = make(level, **kwargs)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    records: list[tuple] = [("reset", obs, info)]
    for _ in range(n_steps):
        action = masked_action(rng, info["action_mask"])
        obs, reward, terminated, truncated, info = env.step(action)
        records.append(("step", obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            records.append(("reset", obs, info))
    return env, records


def _assert_same(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{k}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype, where
        assert np.array_equal(a, b), where
    else:
        assert type(a) is type(b), where
        assert a == b, where


@pytest.mark.parametrize(
    ("level", "kwargs"),
    [("Point", {}), ("Name", {}), ("Name", {"restrict_to_asked": True})],
)
def test_same_seed_same_rollout_over_1000_steps(level, kwargs):
    # Infos must not depend on what the shared parent's cache holds: the first run meets a cache
    # warmed by another seed (and, for Name, the other masking mode), the second an empty one.
    _rollout(level, 999, 300, **kwargs)
    if level == "Name":
        _rollout(level, 998, 300, restrict_to_asked=not kwargs.get("restrict_to_asked", False))
    env_a, run_a = _rollout(level, 123, 1000, **kwargs)
    parent = env_a.unwrapped.parent
    parent.clear_cache()
    calls_before = parent.stats.calls
    env_b, run_b = _rollout(level, 123, 1000, **kwargs)
    assert env_a.unwrapped is not env_b.unwrapped
    assert parent.stats.calls > calls_before  # the second run recomputed what the cache lost
    assert len(run_a) == len(run_b)
    # 1000 steps with 4 exchanges per episode: 250 episodes, so 251 resets
    assert sum(r[0] == "reset" for r in run_a) == 251
    for i, (ra, rb) in enumerate(zip(run_a, run_b, strict=True)):
        assert ra[0] == rb[0]
        for j, (xa, xb) in enumerate(zip(ra[1:], rb[1:], strict=True)):
            _assert_same(xa, xb, f"record {i} field {j}")
    rewards = [r[2] for r in run_a if r[0] == "step"]
    successes = [r[5]["success"] for r in run_a if r[0] == "step"]
    assert 0 < sum(successes) < len(successes)  # the rollout visits both outcomes
    assert len(set(rewards)) > 10
    env_a.close()
    env_b.close()


def test_different_seeds_give_different_rollouts():
    _, run_a = _rollout("Point", 1, 40)
    _, run_b = _rollout("Point", 2, 40)
    percepts_a = [r[1]["percept"] for r in run_a]
    percepts_b = [r[1]["percept"] for r in run_b]
    assert not all(np.array_equal(x, y) for x, y in zip(percepts_a, percepts_b, strict=True))


# --------------------------------------------------------------------------- reward vector


@pytest.mark.parametrize("level", list(babyworld.LEVELS))
def test_reward_vector_shape_bounds_and_scalar_combination(level):
    env = make(level)
    u = env.unwrapped
    assert u.reward_names == REWARD_NAMES
    default = np.array([DEFAULT_WEIGHTS[k] for k in REWARD_NAMES], np.float32)
    assert np.array_equal(u.reward_weights, default)
    rng = np.random.default_rng(0)
    _, info = env.reset(seed=0)
    for _ in range(200):
        _, reward, terminated, _, info = env.step(masked_action(rng, info["action_mask"]))
        vec = info["reward_vector"]
        assert isinstance(vec, np.ndarray)
        assert vec.shape == (5,)
        assert vec.dtype == np.float32
        assert np.isfinite(vec).all()
        assert u.reward_space.contains(vec)
        assert isinstance(reward, float)
        assert reward == pytest.approx(float(np.dot(vec, u.reward_weights)), abs=1e-6)
        expected = sum(float(w) * float(r) for w, r in zip(u.reward_weights, vec, strict=True))
        assert reward == pytest.approx(expected, abs=1e-6)
        assert info["reward_components"] == dict(zip(REWARD_NAMES, vec.tolist(), strict=True))
        assert vec[0] == (1.0 if info["success"] else 0.0)
        if terminated:
            _, info = env.reset()
    env.close()


def test_reward_space_bounds():
    u = make("Point").unwrapped
    assert u.reward_names == ("task", "consistency", "predictability", "mdl", "progress")
    assert u.reward_space.shape == (5,)
    assert u.reward_space.dtype == np.float32
    assert np.array_equal(u.reward_space.low, np.array([0.0, -1.0, -1.0, -1.0, -0.1], np.float32))
    assert np.array_equal(u.reward_space.high, np.array([1.0, 1.0, 0.0, 0.0, 0.1], np.float32))
    u2 = make("Name", progress_beta=0.25).unwrapped
    assert np.array_equal(u2.reward_space.low, np.array([0.0, -1.0, -1.0, -1.0, -0.25], np.float32))
    assert np.array_equal(u2.reward_space.high, np.array([1.0, 1.0, 0.0, 0.0, 0.25], np.float32))


@pytest.mark.parametrize("level", list(babyworld.LEVELS))
def test_vector_reward_returns_the_vector(level):
    env = make_vector_reward(level)
    rng = np.random.default_rng(1)
    _, info = env.reset(seed=1)
    for _ in range(12):
        _, reward, terminated, _, info = env.step(masked_action(rng, info["action_mask"]))
        assert isinstance(reward, np.ndarray)
        assert reward.shape == (5,)
        assert reward.dtype == np.float32
        assert np.array_equal(reward, info["reward_vector"])
        if terminated:
            _, info = env.reset()


def test_vector_reward_and_scalar_reward_agree():
    scalar_env, vector_env = make("Point"), make_vector_reward("Point")
    scalar_env.reset(seed=5)
    vector_env.reset(seed=5)
    weights = scalar_env.unwrapped.reward_weights
    for action in [0, 1, 2, 2, 1, 0, 0]:
        _, r, terminated, _, _ = scalar_env.step(action)
        _, v, _, _, _ = vector_env.step(action)
        assert r == pytest.approx(float(np.dot(v, weights)), abs=1e-6)
        if terminated:
            scalar_env.reset()
            vector_env.reset()


def test_custom_reward_weights_as_dict():
    env = make("Point", reward_weights={"task": 1.0, "mdl": 2.0})
    assert np.array_equal(env.unwrapped.reward_weights, np.array([1, 0, 0, 2, 0], np.float32))
    env.reset(seed=0)
    for action in [0, 1, 2, 0]:
        _, reward, _, _, info = env.step(action)
        vec = info["reward_vector"]
        assert reward == pytest.approx(float(vec[0]) + 2.0 * float(vec[3]), abs=1e-6)


@pytest.mark.parametrize("weights", [[0.0, 1.0, 0.0, 0.0, 0.0], np.array([0.0, 1.0, 0, 0, 0])])
def test_custom_reward_weights_as_sequence(weights):
    env = make("Name", reward_weights=weights)
    assert np.array_equal(env.unwrapped.reward_weights, np.array([0, 1, 0, 0, 0], np.float32))
    assert env.unwrapped.reward_weights.dtype == np.float32
    env.reset(seed=0)
    for action in [0, 6, 3, 9]:
        _, reward, _, _, info = env.step(action)
        assert reward == pytest.approx(float(info["reward_vector"][1]), abs=1e-6)


def test_task_only_weights_give_success_as_reward():
    env = make("Point", reward_weights={"task": 1.0})
    env.reset(seed=3)
    for _ in range(4):
        target = env.unwrapped._task.target
        _, reward, _, _, info = env.step(target)
        assert reward == 1.0
        assert info["success"] is True


def test_reward_weights_of_wrong_shape_raise():
    with pytest.raises(ValueError, match="shape"):
        make("Point", reward_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"\(3,\)"):
        PointEnv(PARENT, reward_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        PointEnv(PARENT, reward_weights=np.ones((5, 1)))


def test_reward_weights_unknown_name_or_not_finite_raise():
    with pytest.raises(ValueError, match="fun"):
        make("Point", reward_weights={"task": 1.0, "fun": 1.0})
    with pytest.raises(ValueError, match="finite"):
        make("Point", reward_weights=[1.0, math.nan, 0.0, 0.0, 0.0])


# --------------------------------------------------------------------------- actions and masks


def test_invalid_action_error_is_a_value_error():
    assert issubclass(InvalidActionError, ValueError)


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (3, "outside the action space"),
        (-1, "outside the action space"),
        (1.0, "single integer"),
        (np.array([0, 1]), "single integer"),
        ("0", "single integer"),
    ],
)
def test_bad_actions_raise_and_leave_state_unchanged(action, match):
    env = make("Point")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=match):
        env.step(action)
    assert env.unwrapped._exchange == 0
    _, _, _, _, info = env.step(1)
    assert info["exchange"] == 1


@pytest.mark.parametrize("action", [1, np.int64(1), np.int32(1), np.array(1)])
def test_integer_like_actions_are_accepted(action):
    env = make("Point")
    env.reset(seed=0)
    _, _, _, _, info = env.step(action)
    assert info["baby_utterance"] == "sym1"


def test_action_spaces():
    assert make("Point").action_space == gym.spaces.Discrete(3)
    assert make("Point", n_objects=5).action_space == gym.spaces.Discrete(5)
    assert make("Point", n_objects=5).unwrapped.words == ("sym0", "sym1", "sym2", "sym3", "sym4")
    name = make("Name")
    assert name.action_space == gym.spaces.Discrete(12)
    assert name.unwrapped.words == NAME_WORDS
    assert NAME_WORDS == SHAPES + COLORS


@pytest.mark.parametrize("level", UNMASKED_LEVELS)
def test_default_mask_allows_everything_and_matches_info(level):
    env = make(level)
    u = env.unwrapped
    _, info = env.reset(seed=0)
    for _ in range(10):
        mask = u.action_masks()
        assert mask.dtype == bool
        assert mask.shape == (u.action_space.n,)
        assert mask.all()
        assert np.array_equal(mask, info["action_mask"])
        _, _, terminated, _, info = env.step(0)
        if terminated:
            _, info = env.reset()


def test_name_restricted_mask_allows_exactly_the_asked_attribute():
    env = make("Name", restrict_to_asked=True, invalid_action="raise")
    u = env.unwrapped
    rng = np.random.default_rng(0)
    _, info = env.reset(seed=0)
    seen = set()
    for _ in range(60):
        attribute = u._task.attribute
        seen.add(attribute)
        asked = SHAPES if attribute == "shape" else COLORS
        expected = np.array([w in asked for w in NAME_WORDS])
        assert np.array_equal(info["action_mask"], expected)
        assert np.array_equal(u.action_masks(), expected)
        assert expected.sum() == 6
        answer = u._task.answer
        assert answer in asked
        masked = int(rng.choice(np.flatnonzero(~expected)))
        with pytest.raises(InvalidActionError, match="masked"):
            env.step(masked)
        # the error did not consume the exchange: the same question is still open
        assert u._task.attribute == attribute
        _, _, terminated, _, info = env.step(masked_action(rng, expected))
        if terminated:
            _, info = env.reset()
    assert seen == {"shape", "color"}


def test_name_mask_tracks_attribute_subset():
    env = make("Name", attributes=("color",), restrict_to_asked=True)
    _, info = env.reset(seed=4)
    for _ in range(8):
        assert np.array_equal(info["action_mask"], np.array([w in COLORS for w in NAME_WORDS]))
        _, _, terminated, _, info = env.step(NAME_WORDS.index("red"))
        assert info["target"] in COLORS
        if terminated:
            _, info = env.reset()


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        PointEnv(PARENT).step(0)
    with pytest.raises(RuntimeError, match="reset"):
        NameEnv(PARENT).step(0)
    with pytest.raises(RuntimeError, match="reset"):
        make("Point").unwrapped.step(0)
    # through gym.make, Gymnasium's OrderEnforcing wrapper says it first
    with pytest.raises(gym.error.ResetNeeded):
        make("Point").step(0)


@pytest.mark.parametrize("level", ONE_ACT_LEVELS)
def test_step_after_termination_raises(level):
    env = make(level, exchanges=2)
    env.reset(seed=0)
    env.step(0)
    _, _, terminated, _, _ = env.step(0)
    assert terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset()
    _, _, terminated, _, _ = env.step(0)
    assert not terminated


def test_unknown_reset_options_raise():
    env = make("Point")
    with pytest.raises(ValueError, match="level"):
        env.reset(seed=0, options={"level": 2})
    env.reset(seed=0, options={})
    env.reset(seed=0, options=None)


# gym.make itself warns about an undeclared render mode before the env raises; expected here.
RENDER_MODE_WARNING = pytest.mark.filterwarnings("ignore:.*not in the possible render_modes")


@pytest.mark.parametrize(
    ("level", "kwargs", "match"),
    [
        ("Point", {"n_objects": 0}, "n_objects"),
        ("Point", {"n_objects": 2.5}, "n_objects"),
        ("Name", {"n_objects": 0}, "n_objects"),
        ("Point", {"exchanges": 0}, "exchanges"),
        ("Name", {"exchanges": 0}, "exchanges"),
        ("Point", {"heard_length": 2}, "heard_length"),
        ("Point", {"max_new_tokens": 0}, "max_new_tokens"),
        ("Name", {"attributes": ("size",)}, "attributes"),
        ("Name", {"attributes": ()}, "attributes"),
        pytest.param("Point", {"render_mode": "human"}, "render_mode", marks=RENDER_MODE_WARNING),
        pytest.param(
            "Name", {"render_mode": "rgb_array"}, "render_mode", marks=RENDER_MODE_WARNING
        ),
        ("Point", {"vocab_size": 10}, "vocab_size"),
        ("Point", {"parent": "gpt-nope"}, "unknown parent"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(level, kwargs, match):
    kwargs = {"parent": PARENT, **kwargs}
    with pytest.raises(ValueError, match=match):
        gym.make(env_id(level), **kwargs)


def test_bad_constructor_arguments_raise_on_direct_construction_too():
    with pytest.raises(ValueError, match="n_objects"):
        PointEnv(PARENT, n_objects=0)
    with pytest.raises(ValueError, match="exchanges"):
        NameEnv(PARENT, exchanges=0)
    with pytest.raises(ValueError, match="attributes"):
        NameEnv(PARENT, attributes=("size",))
    with pytest.raises(ValueError, match="render_mode"):
        PointEnv(PARENT, render_mode="human")


def test_parent_of_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="parent"):
        gym.make(env_id("Point"), parent=42)
    with pytest.raises(TypeError, match="parent"):
        PointEnv(42)


def test_unknown_env_ids_raise_gymnasium_errors():
    with pytest.raises(gym.error.NameNotFound):
        gym.make("babyworld/Nope-v0", parent=PARENT)
    with pytest.raises(gym.error.VersionNotFound):
        gym.make("babyworld/Point-v9", parent=PARENT)


# --------------------------------------------------------------------------- structure


def _check_heard(obs: dict, heard_length: int) -> None:
    n = int(obs["heard_len"])
    assert 0 < n <= heard_length
    assert np.count_nonzero(obs["heard"]) == n
    assert (obs["heard"][:n] != 0).all()
    assert (obs["heard"][n:] == 0).all()


@pytest.mark.parametrize("level", list(babyworld.LEVELS))
def test_observations_are_in_the_observation_space(level):
    env = make(level)
    u = env.unwrapped
    space = env.observation_space
    assert set(space.spaces) == {"heard", "heard_len", "percept"}
    assert space["heard"] == gym.spaces.MultiDiscrete(np.full(32, 256))
    assert space["heard_len"] == gym.spaces.Discrete(33)
    assert space["percept"].shape == (3 * PERCEPT_FEATURES,)
    assert PERCEPT_FEATURES == 14
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    for _ in range(100):
        assert space.contains(obs)
        assert obs["heard"].dtype == np.int64
        assert obs["percept"].dtype == np.float32
        _check_heard(obs, 32)
        expected_ids = u.tokenizer.encode(info["parent_utterance"])
        assert obs["heard"][: int(obs["heard_len"])].tolist() == expected_ids
        obs, _, terminated, _, info = env.step(masked_action(rng, info["action_mask"]))
        if terminated:
            obs, info = env.reset()


def test_short_heard_length_keeps_the_last_words_and_flags_the_cut():
    env = make("Point", heard_length=4)
    u = env.unwrapped
    obs, info = env.reset(seed=0)
    assert env.observation_space["heard"].shape == (4,)
    for _ in range(6):
        ids = u.tokenizer.encode(info["parent_utterance"])
        assert len(ids) > 4
        assert info["heard_truncated"] is True
        assert int(obs["heard_len"]) == 4
        assert obs["heard"].tolist() == ids[-4:]
        assert env.observation_space.contains(obs)
        obs, _, terminated, _, info = env.step(0)
        if terminated:
            obs, info = env.reset()


def test_point_percept_shows_the_scene_and_never_attends():
    env = make("Point", n_objects=4)
    u = env.unwrapped
    obs, _ = env.reset(seed=2)
    for _ in range(8):
        rows = obs["percept"].reshape(4, PERCEPT_FEATURES)
        assert (rows[:, -1] == 0).all()
        assert (rows[:, -2] == 1).all()
        for row, obj in zip(rows, u._scene.objects, strict=True):
            assert row[:6].sum() == 1 and row[COLORS.index(obj.color)] == 1
            assert row[6:12].sum() == 1 and row[6 + SHAPES.index(obj.shape)] == 1
        obs, _, terminated, _, _ = env.step(0)
        if terminated:
            obs, _ = env.reset()


def test_name_percept_attends_exactly_the_shown_slot():
    env = make("Name")
    u = env.unwrapped
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    slots = set()
    for _ in range(40):
        rows = obs["percept"].reshape(3, PERCEPT_FEATURES)
        assert rows[:, -1].sum() == 1
        assert rows[u._task.slot, -1] == 1
        slots.add(u._task.slot)
        answer = u._task.answer
        action = masked_action(rng, info["action_mask"])
        obs, _, terminated, _, info = env.step(action)
        assert info["target"] == answer
        assert info["success"] == (NAME_WORDS[action] == answer)
        if terminated:
            obs, info = env.reset()
    assert slots == {0, 1, 2}


def test_point_success_means_pointing_at_the_target_slot():
    env = make("Point")
    u = env.unwrapped
    _, info = env.reset(seed=0)
    right = wrong = 0
    for i in range(40):
        target = u._task.target
        wanted = u._scene.objects[target].name
        assert wanted in info["parent_request"]
        action = target if i % 2 == 0 else (target + 1 + i % 4 // 2) % 3
        _, _, terminated, _, info = env.step(action)
        assert info["target"] == wanted
        assert info["baby_utterance"] == f"sym{action}"
        assert info["baby_meaning"] == f"points at the {u._scene.objects[action].name}"
        if action == target:
            assert info["success"] is True and info["reward_vector"][0] == 1.0
            right += 1
        else:
            assert info["success"] is False and info["reward_vector"][0] == 0.0
            wrong += 1
        if terminated:
            _, info = env.reset()
    assert right == 20 and wrong == 20


@pytest.mark.parametrize(("level", "exchanges"), [("Point", 4), ("Point", 1), ("Name", 3)])
def test_episode_terminates_after_exchanges_and_never_truncates(level, exchanges):
    env = make(level, exchanges=exchanges)
    assert make(level).unwrapped.exchanges == 4  # the default
    for episode in range(3):
        _, info = env.reset(seed=episode)
        assert info["exchange"] == 0
        for k in range(1, exchanges + 1):
            _, _, terminated, truncated, info = env.step(0)
            assert info["exchange"] == k
            assert truncated is False
            assert terminated is (k == exchanges)
        assert info["parent_request"] == ""  # no new question once the episode is over


@pytest.mark.parametrize("level", ONE_ACT_LEVELS)
def test_info_keys(level):
    env = make(level)
    _, info = env.reset(seed=0)
    assert set(info) == RESET_INFO_KEYS
    assert info["parent"] == "scripted"
    assert info["parent_utterance"] == info["parent_request"] != ""
    _, _, _, _, info = env.step(0)
    assert set(info) == INFO_KEYS
    assert info["parent"] == "scripted"
    assert isinstance(info["success"], bool)
    assert info["parent_utterance"] == f"{info['parent_feedback']} {info['parent_request']}"
    assert info["parent_feedback"].startswith("Yes" if info["success"] else "No")


def test_name_feedback_names_the_answer_of_the_asked_attribute():
    # The parent's reaction to a wrong word states the right one: "No. It is a bird." for a shape
    # question, "No. It is red." for a colour question, whatever the cache already holds.
    env = make("Name")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    wrong = 0
    for _ in range(400):
        _, _, terminated, _, info = env.step(int(rng.integers(12)))
        words = babyworld.text.WordTokenizer.words(info["parent_feedback"])
        assert words[0] == ("yes" if info["success"] else "no")
        if not info["success"]:
            wrong += 1
            assert info["target"] in words, (info["baby_meaning"], info["parent_feedback"])
        if terminated:
            env.reset()
    assert wrong > 200


def test_render_ansi_shows_the_exchange():
    env = make("Point", render_mode="ansi")
    _, info = env.reset(seed=0)
    assert env.render() == f"parent: {info['parent_utterance']}\n"
    _, _, _, _, info = env.step(1)
    text = env.render()
    assert "baby: sym1" in text
    assert f"parent: {info['parent_utterance']}" in text
    assert make("Point").unwrapped.render() is None  # no render_mode: nothing to show


# ----------------------------------------------------------------- shared parent, vector envs


def test_envs_share_one_parent_instance():
    a, b, c = make("Point"), make("Point"), make("Name")
    assert a.unwrapped.parent is b.unwrapped.parent
    assert a.unwrapped.parent is c.unwrapped.parent
    assert a.unwrapped.parent is make_parent("scripted")
    assert a.unwrapped.parent.label == "scripted"


def test_env_accepts_a_parent_instance():
    parent = make_parent("scripted", shared=False)
    env = gym.make(env_id("Point"), parent=parent)
    assert env.unwrapped.parent is parent
    env.reset(seed=0)
    env.step(0)
    assert parent.stats.calls > 0


def _vec_rollout(mode: str, eid: str, n_steps: int = 6):
    envs = gym.make_vec(eid, num_envs=3, vectorization_mode=mode, parent=PARENT)
    try:
        obs, _ = envs.reset(seed=0)
        out = [obs]
        rng = np.random.default_rng(0)
        for k in range(1, n_steps + 1):
            actions = rng.integers(0, 3, size=3)
            obs, rewards, terminated, truncated, infos = envs.step(actions)
            assert rewards.shape == (3,)
            assert np.isfinite(rewards).all()
            assert not truncated.any()
            # 4 exchanges: every sub-env ends at step 4; step 5 is Gymnasium's next-step autoreset
            assert terminated.tolist() == [k == 4] * 3
            if k == 5:
                assert "reward_vector" not in infos
                assert (rewards == 0).all()
            else:
                assert infos["reward_vector"].shape == (3, 5)
            out.append((obs, rewards, terminated))
        return envs, out
    finally:
        envs.close()


def test_sync_vector_env_works_and_shares_the_parent():
    envs = gym.make_vec("babyworld/Point-v0", num_envs=3, vectorization_mode="sync", parent=PARENT)
    parents = {id(e.unwrapped.parent) for e in envs.envs}
    assert parents == {id(make_parent("scripted"))}
    obs, _ = envs.reset(seed=0)
    assert obs["heard"].shape == (3, 32)
    assert obs["percept"].shape == (3, 3 * PERCEPT_FEATURES)
    # Gymnasium seeds sub-env i with seed + i
    for i in range(3):
        single_obs, _ = make("Point").reset(seed=i)
        for key in single_obs:
            assert np.array_equal(obs[key][i], single_obs[key])
    for _ in range(5):
        obs, rewards, terminated, truncated, _ = envs.step(np.array([0, 1, 2]))
        assert envs.observation_space.contains(obs)
    envs.close()


@pytest.mark.parametrize("eid", [env_id(level) for level in ONE_ACT_LEVELS])
def test_async_vector_env_matches_sync(eid):
    _, sync_out = _vec_rollout("sync", eid)
    _, async_out = _vec_rollout("async", eid)
    for key in sync_out[0]:
        assert np.array_equal(sync_out[0][key], async_out[0][key])
    for (obs_s, rew_s, term_s), (obs_a, rew_a, term_a) in zip(
        sync_out[1:], async_out[1:], strict=True
    ):
        for key in obs_s:
            assert np.array_equal(obs_s[key], obs_a[key])
        assert np.array_equal(rew_s, rew_a)
        assert np.array_equal(term_s, term_a)


# --------------------------------------------------------------------------- seeded resets


@pytest.mark.parametrize(("level", "n_words"), [("Point", 3), ("Name", 12)])
def test_seeded_reset_restarts_the_online_estimators(level, n_words):
    env = make(level)
    u = env.unwrapped
    obs1, _ = env.reset(seed=7)
    step1 = env.step(0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, _, terminated, _, _ = env.step(int(rng.integers(u.action_space.n)))
        if terminated:
            env.reset()
            assert u.code.counts.sum() > 0  # an unseeded reset keeps the baby's history
    assert u.predictor.counts.sum() > 0
    assert u.tracker.estimates != {}
    obs2, _ = env.reset(seed=7)
    assert u.code.counts.sum() == 0
    assert u.predictor.counts.sum() == 0
    assert u.tracker.estimates == {}
    step2 = env.step(0)
    for key in obs1:
        assert np.array_equal(obs1[key], obs2[key])
    _assert_same(step1, step2, "first step after reset(seed=7)")

    # a fresh env agrees, and the estimator components take their from-scratch values
    fresh = make(level)
    fresh.reset(seed=7)
    _assert_same(step1, fresh.step(0), "fresh env")
    vec = step1[4]["reward_vector"]
    assert vec[2] == pytest.approx(-8.0 / 9.0, abs=1e-6)  # uniform predictor: log2(256) / log2(512)
    assert vec[3] == pytest.approx(-math.log2(n_words) / math.log2(2 * n_words), abs=1e-6)
    assert vec[4] == pytest.approx(0.1 if step1[4]["success"] else 0.0, abs=1e-7)
