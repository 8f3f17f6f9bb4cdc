"""A seeded fuzz run: bad input is refused with a documented error, good input works, nothing moves.

Every input goes through an oracle written here, independently of the checks in babyworld: a
value the oracle calls valid must be accepted (and then give finite rewards inside
``reward_space``), a value it calls invalid must be refused with ``ValueError`` (or a subclass:
``InvalidActionError``, ``ValidationError``, ``CheckpointError``); anything else fails the test
with the input. A refused action or reset must leave every env exactly as it was. Damaged
checkpoint, config and metrics files must be refused (never used); the CLI must exit with status
2, print no traceback and create nothing.

``BABYWORLD_FUZZ_INPUTS=10000`` scales the run up (the default is CI-sized).
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import pickle
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from babyworld import InvalidActionError, Task
from babyworld.agents.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from babyworld.envs.chat import TOPICS, ChatEnv
from babyworld.envs.ladder import LadderEnv
from babyworld.envs.name import NameEnv
from babyworld.envs.point import PointEnv
from babyworld.envs.request import RequestEnv
from babyworld.experiments.cli import main
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.rundir import checked_metrics, read_config
from babyworld.experiments.train import METRIC_FIELDS
from babyworld.parent import make_parent
from babyworld.rewards import REWARD_NAMES
from babyworld.rewards.vector import MAX_WEIGHT_SUM
from babyworld.text import WordTokenizer
from babyworld.vector.local import ParentBatchVectorEnv

N_INPUTS = int(os.environ.get("BABYWORLD_FUZZ_INPUTS", "3000"))
PARENT = make_parent("scripted")
ENVS = {"Point": PointEnv, "Name": NameEnv, "Request": RequestEnv, "Chat": ChatEnv}


class _Odd:
    def __repr__(self) -> str:
        return "<odd object>"


#: Values every argument is tried with (plus the argument's own good values).
POOL: list[Any] = [
    None, True, False, 0, 1, 2, 3, 4, 7, 36, 37, -1, 2**31, 10**12, 2**63 - 1, np.int32(5),
    np.int64(3), np.uint8(2), np.bool_(True), 0.0, 0.5, 1.0, 2.5, -0.5, math.nan, math.inf,
    -math.inf, 1e-12, 1e300, np.float32(0.5), 1j, np.complex64(1), "3", "", "ansi", "no",
    "shape", b"1", [1], (2,), [], {}, ("shape",), ["color", "shape"], ("size",), _Odd(),
    np.timedelta64(3), np.array(3), np.array([1, 2]),
]  # fmt: skip


def is_int(v: Any, low: int, high: int) -> bool:
    integral = isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)
    return integral and low <= int(v) <= high


def is_real(v: Any, low: float, high: float, low_open: bool = False) -> bool:
    if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
        return False
    x = float(v)
    return math.isfinite(x) and (x > low if low_open else x >= low) and x <= high


def is_bool(v: Any) -> bool:
    return isinstance(v, bool | np.bool_)


def weights_ok(w: Any) -> bool:
    if w is None:
        return True
    if isinstance(w, Mapping):
        if not set(w) <= set(REWARD_NAMES):
            return False
        values = [w.get(k, 0.0) for k in REWARD_NAMES]
    elif isinstance(w, list | tuple) and len(w) == len(REWARD_NAMES):
        values = list(w)
    else:
        return False
    if not all(is_real(v, -math.inf, math.inf) for v in values):
        return False
    return sum(abs(float(v)) for v in values) <= MAX_WEIGHT_SUM


def attributes_ok(v: Any) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, str | bytes)
        and len(v) > 0
        and all(isinstance(a, str) and a in ("shape", "color") for a in v)
    )


MIN_VOCAB = len(WordTokenizer(256).known) + 2
#: Argument -> (oracle, good values). Sizes are tried up to their documented bounds.
ARGS: dict[str, tuple[Callable[[Any], bool], list[Any]]] = {
    "n_objects": (lambda v: is_int(v, 1, 36), [1, 3, 36]),
    "exchanges": (lambda v: is_int(v, 1, 2**20), [1, 4, 2**20]),
    "heard_length": (lambda v: is_int(v, 4, 4096), [4, 32, 4096]),
    "vocab_size": (lambda v: is_int(v, MIN_VOCAB, 2**20), [MIN_VOCAB, 256, np.int32(300)]),
    "max_new_tokens": (lambda v: is_int(v, 1, 4096), [1, 24]),
    "vector_reward": (is_bool, [True, False]),
    "consistency_temperature": (lambda v: is_real(v, 0, math.inf, True), [0.1, 1, 3.0]),
    "progress_beta": (lambda v: is_real(v, 0, 1, True), [0.1, 1.0]),
    "render_mode": (lambda v: v is None or (isinstance(v, str) and v == "ansi"), [None, "ansi"]),
    "reward_weights": (
        weights_ok,
        [
            None,
            [1, 0, 0, 0, 0],
            {"task": 1.0},
            {"task": 3e38, "consistency": 3e38},
            [math.nan, 0, 0, 0, 0],
            [1, 2, 3],
            {"bogus": 1.0},
            {"task": 1j},
            "abcde",
            [True, 0, 0, 0, 0],
            ["1", 0, 0, 0, 0],
            (0.5, 0.1, 0.1, 0.1, 1e38),
        ],
    ),  # fmt: skip
    "max_words": (lambda v: is_int(v, 1, 1024), [1, 3, 1024]),
    "distractors": (lambda v: is_int(v, 1, len(TOPICS) - 1), [1, 2, len(TOPICS) - 1]),
    "attributes": (attributes_ok, [("shape",), ["color", "shape"]]),
    "restrict_to_asked": (is_bool, [True, False]),
}
COMMON = [
    k for k in ARGS if k not in ("max_words", "distractors", "attributes", "restrict_to_asked")
]
OWN = {
    "Point": [],
    "Name": ["attributes", "restrict_to_asked"],
    "Request": ["max_words"],
    "Chat": ["max_words", "distractors"],
    "Ladder": ["max_words", "distractors", "attributes", "restrict_to_asked"],
}


def _state(env: Any) -> bytes:
    envs = env.envs if isinstance(env, ParentBatchVectorEnv) else [env]
    return pickle.dumps([(e.state_dict(), e.task) for e in envs])


def _check_rewards(env: Any, info: dict) -> None:
    v = info["reward_vector"]
    space = env.reward_space
    assert np.isfinite(v).all() and space.contains(v.astype(np.float32)), v


def _play(env: Any, rng: np.random.Generator, steps: int) -> None:
    env.reset(seed=int(rng.integers(1000)))
    for _ in range(steps):
        a = int(rng.choice(np.flatnonzero(env.action_masks())))
        _, r, term, _, info = env.step(a)
        assert np.isfinite(r).all()
        _check_rewards(env, info)
        if term:
            env.reset()


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except (ValueError, FileExistsError) as e:
        return type(e).__name__, e


class Fuzz:
    def __init__(self, rng: np.random.Generator, tmp: Path) -> None:
        self.rng, self.tmp = rng, tmp
        self.tally: Counter[str] = Counter()

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def expect(self, kind: str, valid: bool, fn: Callable[[], Any], what: Any) -> tuple[str, Any]:
        out, value = _outcome(fn)
        if valid and out != "ok":
            pytest.fail(f"{kind}: valid input {what!r} refused: {value}")
        if not valid and out == "ok":
            pytest.fail(f"{kind}: garbage accepted: {what!r}")
        self.tally[f"{kind}: {'accepted' if out == 'ok' else 'refused'}"] += 1
        return out, value

    # ------------------------------------------------------------------ constructor arguments
    def constructor(self) -> None:
        level = self.pick([*ENVS, "Ladder"])
        name = self.pick(COMMON + OWN[level])
        oracle, good = ARGS[name]
        value = self.pick(POOL + good * 3)
        cls = LadderEnv if level == "Ladder" else ENVS[level]
        valid = oracle(value)
        out, env = self.expect("constructor", valid, lambda: cls(PARENT, **{name: value}), value)
        if out == "ok":
            _play(env, self.rng, 3)

    # ------------------------------------------------------------------ actions
    def action(self) -> None:
        level = self.pick(list(ENVS))
        env = self.envs[level]
        if env._done:
            env.reset(seed=int(self.rng.integers(100)))
        n = env.action_space.n
        mask = env.action_masks()
        value = self.pick(
            POOL + [n - 1, n, -n, np.int16(1), np.uint64(0), np.float64(1), "0", np.array([0])]
        )
        arr = np.asarray(value) if not isinstance(value, _Odd) else np.asarray(None)
        valid = arr.ndim == 0 and arr.dtype.kind in "iu" and 0 <= int(arr) < n and mask[int(arr)]
        before = _state(env)
        out, result = self.expect("action", valid, lambda: env.step(value), value)
        if out == "ok":
            _check_rewards(env, result[4])
        else:
            assert isinstance(result, InvalidActionError), result
            assert _state(env) == before, f"refused action {value!r} moved the env"

    # ------------------------------------------------------------------ reset options
    def task_choice(self, level: str) -> tuple[Any, bool]:
        good = {
            "Point": [Task.make("Point")],
            "Name": [Task.make("Name", attributes=("shape",)), Task.make("Name")],
            "Request": [Task.make("Request", max_words=1), Task.make("Request", max_words=3)],
            "Chat": [Task.make("Chat", max_words=2)],
        }[level]
        bad = [
            Task.make(self.pick([lv for lv in ENVS if lv != level])),
            Task.make(level, max_words=99),
            Task.make(level, max_words=0),
            Task.make(level, attributes=("size",)),
            Task.make(level, bogus=1),
            "Point",
            3,
        ]
        if self.rng.random() < 0.3:
            return None, True
        if self.rng.random() < 0.8:
            return self.pick(good), True
        return self.pick(bad), False

    def seed_choice(self) -> tuple[Any, bool]:
        good = [None, None, 0, 5, 2**40, np.int64(2)] * 3
        seed = self.pick([*good, -1, True, 1.5, "3", 2**64, [1]])
        return seed, seed is None or is_int(seed, 0, 2**64 - 10)

    def reset_single(self) -> None:
        level = self.pick(list(ENVS))
        env = self.envs[level]
        env.reset(seed=0)
        task, ok_task = self.task_choice(level)
        seed, ok_seed = self.seed_choice()
        options = self.pick([{"task": task}, {"task": task, "level": level}, task])
        ok_options = isinstance(options, dict) and set(options) == {"task"}
        if options is None:
            ok_options = True
        before = _state(env)
        out, _ = self.expect(
            "reset (single)",
            ok_task and ok_seed and ok_options,
            lambda: env.reset(seed=seed, options=options),
            (seed, options),
        )
        if out == "ok":
            want = task if isinstance(options, dict) and task is not None else Task.make(level)
            assert env.task == want
        else:
            assert _state(env) == before, f"refused reset {seed!r}, {options!r} moved the env"

    def reset_vector(self) -> None:
        level = self.pick(list(ENVS))
        venv = self.vectors[level]
        n = venv.num_envs
        choices = [self.task_choice(level) for _ in range(n)]
        mask = self.rng.random(n) < 0.7
        mask_value = self.pick([mask] * 4 + [None] * 4 + [mask.astype(int), list(mask)])
        ok_mask = mask_value is None or (
            isinstance(mask_value, np.ndarray) and mask_value.dtype == bool and mask_value.any()
        )
        live = mask if ok_mask and mask_value is not None else np.ones(n, bool)
        typed = all(t is None or isinstance(t, Task) for t, _ in choices)
        ok_tasks = typed and all(ok for (_, ok), m in zip(choices, live, strict=True) if m)
        seeds = [self.seed_choice() for _ in range(n)]
        if self.rng.random() < 0.5:
            seed, ok_seed = seeds[0]
        else:
            seed, ok_seed = [s for s, _ in seeds], all(ok for _, ok in seeds)
        options: dict[str, Any] = {"task": [t for t, _ in choices]}
        if mask_value is not None:
            options["reset_mask"] = mask_value
        before = _state(venv)
        current = [e.task for e in venv.envs]
        out, _ = self.expect(
            "reset (vector)",
            ok_tasks and ok_seed and ok_mask,
            lambda: venv.reset(seed=seed, options=options),
            (seed, options),
        )
        if out == "ok":
            for i, e in enumerate(venv.envs):
                t = choices[i][0] if live[i] else None
                assert e.task == (current[i] if t is None else t)
        else:
            assert _state(venv) == before, f"refused reset {seed!r}, {options!r} moved an env"

    # ------------------------------------------------------------------ files
    def checkpoint_file(self) -> None:
        data = bytearray(self.ckpt_bytes)
        kind = self.pick(["flip", "flip", "truncate", "append", "random", "header", "same"])
        if kind == "flip":
            for _ in range(int(self.rng.integers(1, 4))):
                i = int(self.rng.integers(len(data)))
                data[i] ^= 1 << int(self.rng.integers(8))
        elif kind == "truncate":
            data = data[: int(self.rng.integers(len(data)))]
        elif kind == "append":
            data += b"\0" * int(self.rng.integers(1, 9))
        elif kind == "random":
            data = bytearray(self.rng.bytes(int(self.rng.integers(0, 4096))))
        elif kind == "header":
            data[60:62] = b"00" if data[60:62] != b"00" else b"11"
        path = self.tmp / "ckpt.pt"
        path.write_bytes(bytes(data))
        same = bytes(data) == self.ckpt_bytes
        out, ckpt = self.expect("checkpoint file", same, lambda: load_checkpoint(path), kind)
        if out == "ok":
            assert torch.equal(ckpt["trainer"]["model"]["w"], self.ckpt_w)
        else:
            assert isinstance(ckpt, CheckpointError)

    def metrics_file(self) -> None:
        lines = self.metrics_text.split("\n")
        kind = self.pick(["cut", "after", "garble", "drop", "header", "binary", "same"])
        text = self.metrics_text
        if kind == "cut":  # a kill cut the last row: the checkpoint is at an earlier step
            text = text + "224,3.1"
        elif kind == "after":  # rows logged after the checkpoint
            text = text + "224,3.10,56,0.5000,0.5000,0.5000\n"
        elif kind == "garble":
            i = int(self.rng.integers(1, len(lines) - 1))
            lines[i] = lines[i][: int(self.rng.integers(len(lines[i])))] + "x"
            text = "\n".join(lines)
        elif kind == "drop":
            i = int(self.rng.integers(1, len(lines) - 1))
            text = "\n".join(lines[:i] + lines[i + 1 :])
        elif kind == "header":
            text = "step,seconds\n" + "\n".join(lines[1:])
        elif kind == "binary":
            text = None
        path = self.tmp / "metrics.csv"
        if text is None:
            path.write_bytes(b"\xff\xfe" + self.rng.bytes(30))
        else:
            path.write_text(text)
        valid = kind in ("cut", "after", "same")
        out, rows = self.expect(
            "metrics file", valid, lambda: checked_metrics(path, 192, 32, METRIC_FIELDS), kind
        )
        if out == "ok":
            assert [r[0] for r in rows] == [str(32 * k) for k in range(1, 7)]

    def config_file(self) -> None:
        d = json.loads(self.config_text)
        kind = self.pick(["type", "missing", "extra", "json", "binary", "value", "same"])
        key = self.pick(["num_envs", "seed", "ppo", "student", "level", "threads"])
        if kind == "type":
            d[key] = self.pick(["8", None, [1], 1.5, True, math.nan])
        elif kind == "missing" and key in ("ppo", "student"):
            del d[key]
        elif kind == "missing":
            kind = "same"
        elif kind == "extra":
            d["bogus"] = 1
        elif kind == "value":
            d["ppo"]["lr"] = self.pick([-1.0, 0.0, math.inf])
        path = self.tmp / "config.json"
        if kind == "json":
            path.write_text(self.config_text[: len(self.config_text) // 2])
        elif kind == "binary":
            path.write_bytes(b"\xff" + self.rng.bytes(20))
        else:
            path.write_text(json.dumps(d))
        out, cfg = self.expect("config file", kind == "same", lambda: read_config(path), kind)
        if out == "ok":
            assert cfg.to_dict() == json.loads(self.config_text)
        else:
            assert isinstance(cfg, CheckpointError)

    # ------------------------------------------------------------------ the command line
    def cli(self) -> None:
        flag, values = self.pick(
            [
                ("--ppo.lr", ["nan", "inf", "-1", "0", "abc"]),
                ("--ppo.clip", ["nan", "-inf", "0"]),
                ("--ppo.ent-coef", ["nan", "inf", "-0.5"]),
                ("--ppo.vf-coef", ["nan", "-1"]),
                ("--ppo.wm-coef", ["inf", "nan"]),
                ("--ppo.max-grad-norm", ["nan", "-1"]),
                ("--modes.distill-coef", ["nan", "0", "-inf"]),
                ("--student.history", ["1000000", "0", "-3", "1.5"]),
                ("--threads", ["1000000", "-1", "x"]),
                ("--num-envs", ["0", "100000", "True"]),
                ("--seed", ["-1", "18446744073709551615", "1e3"]),
                ("--steps", ["0", "-5", "inf"]),
                ("--level", ["Chess", "1"]),
                ("--checkpoint-every", ["0", "-1"]),
            ]
        )
        out_dir = self.tmp / f"cli{self.tally['cli: refused']}"
        argv = ["train", "--parent", "scripted", "--out", str(out_dir), flag, self.pick(values)]
        err = io.StringIO()
        with redirect_stderr(err), pytest.raises(SystemExit) as exc:
            main(argv)
        text = err.getvalue()
        assert exc.value.code == 2, (argv, text)
        assert "Traceback" not in text and text.strip(), (argv, text)
        assert not out_dir.exists(), argv
        self.tally["cli: refused"] += 1


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Fuzz:
    tmp = tmp_path_factory.mktemp("fuzz")
    f = Fuzz(np.random.default_rng(2026), tmp)
    f.envs = {lv: cls(PARENT) for lv, cls in ENVS.items()}
    f.vectors = {lv: ParentBatchVectorEnv(cls, 3, PARENT) for lv, cls in ENVS.items()}
    for v in f.vectors.values():
        v.reset(seed=1)
    f.ckpt_w = torch.arange(64, dtype=torch.float32)
    save_checkpoint(
        tmp / "good.pt", {"level": "Point"}, {"global_step": 192, "model": {"w": f.ckpt_w}}
    )
    f.ckpt_bytes = (tmp / "good.pt").read_bytes()
    rows = [",".join(METRIC_FIELDS)] + [
        f"{32 * k},{k}.00,{8 * k},0.5000,0.5000,0.1000,0.5000,0.5000,0" for k in range(1, 7)
    ]
    f.metrics_text = "\n".join(rows) + "\n"
    f.config_text = json.dumps(TrainConfig(parent="scripted").to_dict())
    return f


def test_fuzz_every_input_is_accepted_or_refused_clearly(fuzz: Fuzz) -> None:
    kinds = [
        (fuzz.constructor, 30),
        (fuzz.action, 25),
        (fuzz.reset_single, 12),
        (fuzz.reset_vector, 12),
        (fuzz.checkpoint_file, 10),
        (fuzz.metrics_file, 5),
        (fuzz.config_file, 5),
        (fuzz.cli, 1),
    ]
    weights = np.array([w for _, w in kinds], dtype=float)
    for k in fuzz.rng.choice(len(kinds), size=N_INPUTS, p=weights / weights.sum()):
        kinds[k][0]()
    total = sum(fuzz.tally.values())
    print(f"\nfuzz: {total} inputs, seed 2026")
    for key, n in sorted(fuzz.tally.items()):
        print(f"  {key}: {n}")
    assert total == N_INPUTS
    for kind in ("constructor", "action", "reset (single)", "reset (vector)", "checkpoint file"):
        assert fuzz.tally[f"{kind}: accepted"] > 0 and fuzz.tally[f"{kind}: refused"] > 0, kind
