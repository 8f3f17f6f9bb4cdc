"""Bad arguments, actions and reset options are refused up front, named, and move nothing."""

from __future__ import annotations

import io
import math
import pickle
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest

from babyworld import InvalidActionError, Task, ValidationError
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.envs.chat import ChatEnv
from babyworld.envs.ladder import LadderEnv
from babyworld.envs.name import NameEnv
from babyworld.envs.point import PointEnv
from babyworld.envs.request import RequestEnv
from babyworld.experiments.cli import main
from babyworld.experiments.config import TrainConfig
from babyworld.parent import make_parent
from babyworld.rewards import resolve_weights
from babyworld.validation import check_bool, check_float, check_int, check_seeds
from babyworld.vector.local import ParentBatchVectorEnv

PARENT = make_parent("scripted")


def test_check_functions_name_the_argument_and_the_accepted_values():
    assert check_int("n", np.int32(3), 1, 5) == 3 and type(check_int("n", np.int32(3))) is int
    with pytest.raises(ValidationError, match=r"^n must be an integer in \[1, 5\], got True$"):
        check_int("n", True, 1, 5)
    with pytest.raises(ValueError, match=r"heard_length must be an integer in \[4, 4096\] \(larg"):
        check_int("heard_length", 10**12, 4)
    with pytest.raises(TypeError, match=r"^flag must be True or False, got 'no'$"):
        check_bool("flag", "no")  # a ValidationError is a TypeError too
    with pytest.raises(ValidationError, match=r"^x must be a finite number in \(0, 1\], got nan$"):
        check_float("x", math.nan, 0, 1, low_open=True)
    with pytest.raises(ValidationError, match=r"got 1j"):
        check_float("x", 1j)
    assert check_seeds(5, 3) == [5, 6, 7] and check_seeds([None, 2], 2) == [None, 2]
    with pytest.raises(ValidationError, match=r"^seed\[1\] must be an integer in \[0, "):
        check_seeds([1, -2], 2)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (PointEnv, {"consistency_temperature": None}, "consistency_temperature must be a finite"),
        (PointEnv, {"vocab_size": "256"}, r"vocab_size must be an integer in \[2, 1048576\]"),
        (PointEnv, {"heard_length": 10**12}, "more memory or threads than a machine holds"),
        (PointEnv, {"render_mode": 0}, r"render_mode must be one of \[None, 'ansi'\], got 0"),
        (PointEnv, {"exchanges": True}, "exchanges must be an integer"),
        (PointEnv, {"vector_reward": 2}, "vector_reward must be True or False, got 2"),
        (PointEnv, {"progress_beta": math.inf}, r"progress_beta must be a finite number in \(0"),
        (RequestEnv, {"max_words": True}, "max_words must be an integer"),
        (ChatEnv, {"distractors": 1.0}, r"distractors must be an integer in \[1, 7\]"),
        (NameEnv, {"attributes": 5}, "attributes must be a non-empty sequence"),
        (NameEnv, {"restrict_to_asked": "yes"}, "restrict_to_asked must be True or False"),
        (LadderEnv, {"levels": 5}, "levels must be a sequence of"),
        (LadderEnv, {"levels": [["Point"]]}, "levels must be distinct names"),
    ],
)
def test_bad_constructor_arguments_are_refused_by_name(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(PARENT, **kwargs)


def test_good_values_of_other_integer_types_are_accepted():
    env = PointEnv(PARENT, vocab_size=np.int32(300), exchanges=np.int64(2))
    env.reset(seed=np.uint32(3))
    env.step(np.int16(0))
    assert type(env.tokenizer.vocab_size) is int
    ladder = LadderEnv(PARENT, restrict_to_asked=True)  # passed on to Name
    assert ladder.subs["Name"].restrict_to_asked


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"task": 3e38, "consistency": 3e38}, r"sum \|w\| <= 1\.7e\+38 so that w · r stays finite"),
        ([1, 0, 0, 0, 1j], "reward weight of 'progress' must be a real number, got 1j"),
        ({"task": True}, "reward weight of 'task' must be a real number, got True"),
        (["1", 0, 0, 0, 0], "reward weight of 'task' must be a real number, got '1'"),
        ("abcde", "must be a mapping from"),
    ],
)
def test_reward_weights_are_real_finite_and_cannot_overflow(weights, match):
    with pytest.raises(ValueError, match=match):
        resolve_weights(weights)


def test_largest_accepted_weights_keep_every_reward_finite():
    big = float(np.finfo(np.float32).max) / 2 / 5
    env = PointEnv(PARENT, reward_weights=[big, -big, big, -big, big], exchanges=64)
    env.reset(seed=0)
    for _ in range(64):
        _, r, *_ = env.step(0)
        assert math.isfinite(r)


@pytest.mark.parametrize(
    "action", [np.timedelta64(3), True, np.bool_(False), 1.0, np.float32(0), "0", None, [0]]
)
def test_actions_of_a_non_integer_dtype_are_refused(action):
    env = PointEnv(PARENT)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"action must be a single integer in \[0, 3\)"):
        env.step(action)


def _states(venv: ParentBatchVectorEnv) -> bytes:
    return pickle.dumps([(e.state_dict(), e.task) for e in venv.envs])


@pytest.mark.parametrize(
    ("seed", "options", "match"),
    [
        (None, {"task": [Task.make("Request", max_words=99), None, None]}, "max_words=99"),
        (None, {"task": [None, None, Task.make("Point")]}, "is for level 'Point'"),
        ([1, 2, -3], None, r"seed\[2\] must be an integer in \[0, "),
        (True, None, "seed must be an integer"),
        (1.5, None, "seed must be None, an integer or a sequence of 3 seeds"),
        (None, {"reset_mask": np.array([1, 0, 1])}, "must be a numpy bool array"),
        (None, {"task": [None, "Request", None]}, "entries must be Task or None"),
        (None, Task.make("Request"), "reset options must be a dict or None"),
    ],
)
def test_a_refused_vector_reset_moves_no_env(seed, options, match):
    venv = ParentBatchVectorEnv(RequestEnv, 3, PARENT)
    venv.reset(seed=0, options={"task": Task.make("Request", max_words=2)})
    venv.step(np.zeros(3, dtype=np.int64))
    before, rng = _states(venv), venv.np_random.bit_generator.state
    with pytest.raises(ValueError, match=match):
        venv.reset(seed=seed, options=options)
    assert _states(venv) == before and venv.np_random.bit_generator.state == rng


def test_a_refused_single_reset_moves_nothing():
    env = RequestEnv(PARENT)
    env.reset(seed=0, options={"task": Task.make("Request", max_words=2)})
    env.step(0)
    before = pickle.dumps(env.state_dict())
    for seed, options in [(-1, None), (0, {"task": Task.make("Request", max_words=7)})]:
        with pytest.raises(ValueError):
            env.reset(seed=seed, options=options)
        assert pickle.dumps(env.state_dict()) == before


def test_none_keeps_each_envs_current_task_and_so_does_autoreset():
    venv = ParentBatchVectorEnv(ChatEnv, 3, PARENT, exchanges=1)
    venv.reset(seed=0, options={"task": Task.make("Chat", max_words=1)})
    venv.reset(options={"task": [None, None, None]})
    assert [e.task.name for e in venv.envs] == ["Chat[max_words=1]"] * 3
    venv.reset(options={"task": [None, Task.make("Chat"), None]})
    assert [e.task.name for e in venv.envs] == ["Chat[max_words=1]", "Chat", "Chat[max_words=1]"]
    _, _, term, _, info = venv.step(np.zeros(3, dtype=np.int64))  # one word ends env 0's
    assert term.tolist() == [True, False, True]
    assert info["task"].tolist() == ["Chat[max_words=1]", "Chat", "Chat[max_words=1]"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PPOConfig(lr=math.nan), "ppo.lr must be a finite number, got nan"),
        (lambda: PPOConfig(max_grad_norm=math.inf), "ppo.max_grad_norm must be a finite"),
        (lambda: StudentConfig(history=10**6), r"student.history must be an integer <= 1024"),
        (lambda: TrainConfig(threads=10**6), r"threads must be an integer <= 256"),
        (lambda: TrainConfig(num_envs=True), "num_envs must be an integer"),
        (lambda: TrainConfig(seed=2**63 - 1), r"seed must be an integer <= 4294963199"),
        (lambda: TrainConfig(checkpoint_every=2.0), "checkpoint_every must be an integer"),
    ],
)
def test_configs_refuse_nan_wrong_types_and_oversized_values(make, match):
    with pytest.raises(ValidationError, match=match):
        make()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ppo.lr", "nan"], "babyworld: error: ppo.lr must be a finite number, got nan"),
        (["--student.history", "1000000"], "babyworld: error: student.history must be an integer"),
    ],
)
def test_a_config_check_failing_on_the_command_line_prints_one_line(tmp_path, argv, message):
    out = tmp_path / "run"
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(["train", "--parent", "scripted", "--out", str(out), *argv])
    assert exc.value.code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert not out.exists()


@pytest.mark.parametrize("params", [{"max_words": True}, {"attributes": ("shape", np.True_)}])
def test_a_boolean_task_setting_is_refused_rather_than_taken_as_one(params):
    with pytest.raises(ValidationError, match="is a boolean; no level takes a boolean"):
        Task.make("Request", **params)
    assert Task.make("Request", max_words=1).kwargs == {"max_words": 1}


def test_build_config_reads_tables_as_the_command_line_does():
    from babyworld.experiments.config import TrainConfig
    from babyworld.validation import build_config

    cfg = build_config(
        TrainConfig,
        {"parent": "scripted", "out": "runs/x", "ppo": {"lr": 1, "rollout-steps": 16}},
    )
    assert cfg.out == Path("runs/x") and cfg.ppo.rollout_steps == 16
    assert cfg.ppo.lr == 1.0 and isinstance(cfg.ppo.lr, float)  # an integer read as a float
    cases = [
        (
            {"ppo": {"learnin_rate": 1}},
            r"^ppo.learnin_rate: unknown key; ppo takes \['anchor_coef'",
        ),
        ({"ppo": {"lr": 1, "lr ": 2}}, r"^ppo.lr : unknown key"),
        ({"ppo": {"rollout_steps": 8, "rollout-steps": 8}}, r"^ppo.rollout-steps: given twice"),
        ({"ppo": 3}, r"^ppo: must be a table, got 3$"),
        ({"ppo": {"lr": -1}}, r"^ppo.lr: must be > 0, got -1.0$"),
        ({"ppo": {"lr": "fast"}}, r"^ppo.lr: must be a finite number, got 'fast'$"),
        ({"colour": 1}, r"^colour: unknown key; TrainConfig takes \["),
    ]
    for table, message in cases:
        with pytest.raises(ValidationError, match=message):
            build_config(TrainConfig, {"parent": "scripted", **table})
