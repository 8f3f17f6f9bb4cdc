"""The ablation config: a TOML file read into a validated :class:`AblationConfig`.

The format (see ``experiments/configs/``)::

    out = "runs/headline"          # output directory (``--out`` overrides it)
    parent = "smollm2"             # parent spec, as for ``babyworld train --parent`` (smollm2,
                                   # hf:<dir or id>, openai:<url>#<model>, scripted)
    levels = ["Point", "Name"]
    seeds = [0, 1, 2, 3, 4]        # or a count: seeds = 5 means 0..4 (default: 5)
    steps = 40960                  # env steps of every run: the same budget for every mode
                                   # (or per level: steps = { Point = 40960, Name = 163840 })
    num_envs = 8
    eval_every = 5120              # env steps between evaluations (or a table by level); a
                                   # whole number of updates of every label (default: train's)

    [ppo]                          # --ppo.* for every mode (optional)
    [env]                          # --env.* for every mode (optional), e.g.
                                   # reward_weights = "task=1", reward_source = "parent"
    [student]                      # --student.* for every mode (optional; one architecture)

    [modes.baby]                   # a label: a named control or a mode (see
                                   # experiments/ablation/controls.py: CONTROLS) ...
    [modes.task_per_act]           # ... a control: a mode plus --env/--ppo/--modes overrides
    [modes.hybrid]
    modes.switch_steps = 10240     # ... with --modes.*, --ppo.* and --env.* overrides of its own
    [modes.distill_offline]        # ... or any label, naming its mode
    mode = "distill"
    modes.offline = true
    [modes.parent_only_wm0]        # ... or any label, naming its control, with more overrides
    control = "parent_only"
    ppo.wm_coef = 0
    [modes.sdft]
    levels = ["Point"]             # ... on some of the ablation's levels only (default: all)

A label that names a control is that control; ``mode = "<mode>"`` names a bare mode. Settings
stack: the config's ``[ppo]`` and ``[env]``, then the control's, then the label's own. An unknown
mode or control fails before anything runs, listing the modes and the controls.

Every bad field fails before any run starts, with a message naming it.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babyworld.agents.mode_base import RunShape
from babyworld.agents.modes import ModeConfig, mode_class, resolve_mode
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.envs.registration import env_id, level_class, rungs
from babyworld.experiments.ablation.controls import (
    CONTROLS,
    LabelError,
    registered_modes,
    resolve,
)
from babyworld.experiments.config import EnvConfig, TrainConfig
from babyworld.parent.factory import check_spec
from babyworld.validation import LIMITS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The levels an ablation runs on: the one-act levels, where every mode is defined.
ABLATION_LEVELS = rungs("one_act")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
#: The most seeds an ablation may list (each seed is a run per level and mode).
MAX_SEEDS = 10_000


def episode_length(level: str) -> int:
    """Steps per episode of ``level`` with its default settings (as an ablation runs it)."""
    import gymnasium as gym

    env = gym.make(env_id(level), parent="scripted")
    try:
        return int(env.unwrapped.exchanges)
    finally:
        env.close()


_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: The keys an ablation takes as they are from ``babyworld train`` (its defaults are train's).
_TRAIN_KEYS = ("parent", "num_envs", "checkpoint_every", "threads")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in _TRAIN_KEYS}
_TOP_KEYS = {
    "out": "output directory (required)",
    "parent": f"parent spec (default {_DEFAULTS['parent']!r})",
    "levels": f"levels, a list of {ABLATION_LEVELS} (required)",
    "seeds": "a list of seeds or a count (default 5: seeds 0-4)",
    "steps": "env steps of every run, or a table of them by level (required)",
    "num_envs": f"envs per run (default {_DEFAULTS['num_envs']})",
    "checkpoint_every": f"updates between checkpoints (default {_DEFAULTS['checkpoint_every']})",
    "eval_every": "env steps between evaluations, or a table of them by level (default: train's); "
    "a whole number of updates of every label",
    "threads": f"torch CPU threads (default {_DEFAULTS['threads']}: torch's default)",
    "ppo": "a table of --ppo.* overrides for every mode",
    "env": "a table of --env.* settings for every mode (reward_weights, reward_source, split)",
    "student": "a table of --student.* overrides for every mode",
    "modes": "a table of modes, one sub-table per mode (required)",
}
_MODE_KEYS = ("mode", "control", "levels", "modes", "ppo", "env")
#: Keys of older configs that are read and ignored (with a warning saying why).
_RETIRED_KEYS = {
    "fresh_parent_cache": (
        "is no longer used and is ignored: every run reads and writes the parent's persistent "
        "answer store, and each run's summary counts its own requests, hits and computed tokens"
    ),
}


class ConfigError(ValueError):
    """An ablation config is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class ModeSpec:
    """One mode of an ablation: a label (its directory name), the mode and its settings."""

    label: str
    mode: str
    modes: ModeConfig
    ppo: PPOConfig
    env: EnvConfig = field(default_factory=EnvConfig)
    levels: tuple[str, ...] | None = None
    """the levels this label runs on (``None``: every level of the ablation)"""

    def runs_on(self, level: str) -> bool:
        """Whether the ablation runs this label on ``level``."""
        return self.levels is None or level in self.levels


@dataclass
class AblationConfig:
    """A validated ablation config (see the module docstring for the file format)."""

    out: Path
    levels: tuple[str, ...]
    modes: tuple[ModeSpec, ...]
    seeds: tuple[int, ...]
    steps: dict[str, int]
    """env steps of every run of a level (the same for every mode)"""
    parent: str = "smollm2"
    num_envs: int = 8
    checkpoint_every: int = 20
    threads: int = 0
    student: StudentConfig = field(default_factory=StudentConfig)
    eval_every: dict[str, int] | None = None
    """env steps between evaluations per level (``None``: train's default interval)"""
    source: str = ""
    """the config file it was read from (for the report's reproduce line)"""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the form ``ablation.json`` records)."""
        d = dataclasses.asdict(self)
        d["out"] = str(self.out)
        d["modes"] = [dataclasses.asdict(m) for m in self.modes]
        return d

    def train_config(self, level: str, spec: ModeSpec, seed: int) -> TrainConfig:
        """The ``train()`` config of one run (its directory: :func:`run_dir`)."""
        extra = {}
        if self.eval_every is not None:
            update = self.num_envs * spec.ppo.rollout_steps
            extra = eval_kwargs(self.eval_every[level] // update)
        return TrainConfig(
            level=level,
            parent=self.parent,
            mode=spec.mode,  # type: ignore[arg-type]
            seed=seed,
            steps=self.steps[level],
            num_envs=self.num_envs,
            out=run_dir(self.out, level, spec.label, seed),
            checkpoint_every=self.checkpoint_every,
            threads=self.threads,
            student=self.student,
            ppo=spec.ppo,
            modes=spec.modes,
            env=spec.env,
            **extra,
        )


def eval_kwargs(every: int) -> dict[str, Any]:
    """``TrainConfig`` keywords that evaluate every ``every`` updates (``eval.every``).

    Raises:
        ConfigError: this babyworld's ``train`` has no evaluation protocol (``TrainConfig.eval``).
    """
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    factory = fields["eval"].default_factory if "eval" in fields else None
    if not callable(factory):
        raise ConfigError(
            "eval_every: this babyworld's train has no evaluation protocol (TrainConfig.eval); "
            "remove eval_every, or update babyworld"
        )
    return {"eval": dataclasses.replace(factory(), every=every)}


def run_dir(out: Path, level: str, label: str, seed: int) -> Path:
    """``OUT/{level}/{label}/seed{n}``: where one run of the ablation lives."""
    return Path(out) / level / label / f"seed{seed}"


# --- parsing -----------------------------------------------------------------------------------


def load_config(path: str | Path, out: str | Path | None = None) -> AblationConfig:
    """Read and validate an ablation config file.

    Args:
        path: a TOML file.
        out: replaces the file's ``out`` (e.g. a temporary directory).

    Raises:
        ConfigError: the file is missing, not TOML, or has a bad field (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ablation config {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    if out is not None:
        data["out"] = str(out)
    return parse_config(data, source=str(path))


def parse_config(data: Mapping[str, Any], source: str = "config") -> AblationConfig:
    """Validate a config already read into a dict (the TOML file's tables as dicts).

    Raises:
        ConfigError: a missing, unknown or bad field; the message starts with ``source`` and
            names the field.
    """

    def fail(where: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {where}: {problem}")

    for key, why in _RETIRED_KEYS.items():
        if key in data:
            warnings.warn(f"{source}: {key} {why}", UserWarning, stacklevel=3)
    unknown = [k for k in data if k not in _TOP_KEYS and k not in _RETIRED_KEYS]
    if unknown:
        allowed = "; ".join(f"{k} ({v})" for k, v in _TOP_KEYS.items())
        raise fail(unknown[0], f"unknown key; the keys are: {allowed}")
    for key in ("out", "levels", "steps", "modes"):
        if key not in data:
            raise fail(key, f"missing ({_TOP_KEYS[key]})")

    out = _typed(data["out"], str, "out", fail)
    if not out:
        raise fail("out", "must be a directory path, got ''")
    parent = _typed(data.get("parent", _DEFAULTS["parent"]), str, "parent", fail)
    try:
        check_spec(parent)  # every spec `babyworld train --parent` takes
    except ValueError as e:
        raise fail("parent", str(e)) from None

    levels = _typed(data["levels"], list, "levels", fail)
    if not levels:
        raise fail("levels", f"needs at least one level of {ABLATION_LEVELS}")
    for lv in levels:
        if lv not in ABLATION_LEVELS:
            raise fail(
                "levels",
                f"unknown level {lv!r}; ablations run on {ABLATION_LEVELS} (the one-act levels, "
                "where every mode is defined)",
            )
    if len(set(levels)) != len(levels):
        raise fail("levels", f"a level is listed twice: {levels}")

    seeds = _parse_seeds(data.get("seeds", len(DEFAULT_SEEDS)), fail)
    ints = {}
    steps = _parse_steps(data["steps"], levels, fail)
    eval_every = (
        _parse_steps(data["eval_every"], levels, fail, "eval_every")
        if ("eval_every" in data)
        else None
    )
    for key, low in (("num_envs", 1), ("checkpoint_every", 1), ("threads", 0)):
        value = _typed(data.get(key, _DEFAULTS[key]), int, key, fail)
        if value < low:
            raise fail(key, f"must be an integer >= {low}, got {value}")
        ints[key] = value

    shared_ppo = _typed(data.get("ppo", {}), dict, "ppo", fail)
    student = _build(
        StudentConfig, _typed(data.get("student", {}), dict, "student", fail), "student", fail
    )
    _build(PPOConfig, shared_ppo, "ppo", fail)  # its own errors first
    shared_env = _typed(data.get("env", {}), dict, "env", fail)
    _build(EnvConfig, shared_env, "env", fail)
    if shared_env.get("judge_frames", "view") != "view":
        raise fail(
            "env.judge_frames",
            f"{shared_env['judge_frames']!r} would make the oracle frame (the answer in the judge's "
            "frame) every label's default; it is a control: set it in one label, e.g. "
            '[modes.oracle_judge] mode = "baby", env.judge_frames = "answer_in_frame"',
        )

    table = _typed(data["modes"], dict, "modes", fail)
    if not table:
        raise fail(
            "modes",
            "needs at least one label, e.g. [modes.baby]; the modes are "
            f"{registered_modes()}; the controls are {tuple(CONTROLS)}",
        )
    specs = []
    for label, entry in table.items():
        where = f"modes.{label}"
        if not _LABEL.match(label):
            raise fail(
                where, "a label must be letters, digits, '_', '-' or '.' (it names a directory)"
            )
        entry = _typed(entry, dict, where, fail)
        extra = [k for k in entry if k not in _MODE_KEYS]
        if extra:
            raise fail(
                f"{where}.{extra[0]}",
                "unknown key; a label takes 'mode' (a bare mode) or 'control' (a named control; "
                "default: the label's own name), 'levels' (the levels it runs on; default: all), "
                "'modes' (--modes.* overrides), 'ppo' (--ppo.* overrides) and 'env' (--env.* "
                "settings)",
            )
        for key in ("mode", "control"):
            if key in entry:
                _typed(entry[key], str, f"{where}.{key}", fail)
        for key in ("modes", "ppo", "env"):
            _typed(entry.get(key, {}), dict, f"{where}.{key}", fail)
        try:
            mode, modes_over, ppo_over, env_over = resolve(label, entry)
        except LabelError as e:
            key = "control" if "control" in entry else "mode"
            raise fail(f"{where}.{key}" if key in entry else where, str(e)) from None
        mode_cfg = _build(ModeConfig, modes_over, f"{where}.modes", fail)
        mode = resolve_mode(mode, mode_cfg)  # an older config's 'sparse'
        ppo = _build(PPOConfig, {**_normalise(shared_ppo), **ppo_over}, f"{where}.ppo", fail)
        env = _build(EnvConfig, {**_normalise(shared_env), **env_over}, f"{where}.env", fail)
        mine = None
        if "levels" in entry:
            mine = _typed(entry["levels"], list, f"{where}.levels", fail)
            wrong = [lv for lv in mine if lv not in levels]
            if wrong or not mine or len(set(mine)) != len(mine):
                raise fail(
                    f"{where}.levels",
                    f"must list some of the ablation's levels {levels} once each, got {mine}",
                )
            mine = tuple(lv for lv in levels if lv in mine)  # the ablation's order
        specs.append(ModeSpec(label, mode, mode_cfg, ppo, env, mine))

    num_envs = ints["num_envs"]
    for level in levels:
        where = "steps" if isinstance(data["steps"], int) else f"steps.{level}"
        budget = steps[level]
        for spec in specs:
            if not spec.runs_on(level):
                continue
            rollout = num_envs * spec.ppo.rollout_steps
            if budget % rollout:
                raise fail(
                    where,
                    f"{budget} is not a whole number of rollouts for mode {spec.label!r} "
                    f"(num_envs x ppo.rollout_steps = {rollout}); runs would be rounded up to "
                    f"{-(-budget // rollout) * rollout} steps and budgets would differ: use a "
                    f"multiple of {rollout}",
                )
            if eval_every is not None and eval_every[level] % rollout:
                every = eval_every[level]
                raise fail(
                    "eval_every" if isinstance(data["eval_every"], int) else f"eval_every.{level}",
                    f"{every} env steps is not a whole number of updates for label "
                    f"{spec.label!r} (num_envs x ppo.rollout_steps = {rollout} env steps per "
                    f"update): use a multiple of {rollout}, e.g. {max(1, every // rollout) * rollout}",
                )
            shape = RunShape(
                level,
                level_class(level).one_act,
                episode_length(level),
                num_envs,
                spec.ppo.rollout_steps,
                budget,
            )
            try:  # the mode's own check of a run, as the trainer makes it
                mode_class(spec.mode).check_run(spec.modes, shape)
            except ValueError as e:
                raise fail(f"modes.{spec.label}", f"on {level} ({where} = {budget}): {e}") from None

    cfg = AblationConfig(
        out=Path(out),
        levels=tuple(levels),
        modes=tuple(specs),
        seeds=seeds,
        steps=steps,
        parent=parent,
        num_envs=num_envs,
        checkpoint_every=ints["checkpoint_every"],
        threads=ints["threads"],
        student=student,
        eval_every=eval_every,
        source=source,
    )
    for spec in specs:  # whatever TrainConfig itself checks, before anything runs
        try:
            cfg.train_config((spec.levels or levels)[0], spec, seeds[0])
        except ValueError as e:
            raise fail(f"modes.{spec.label}", str(e)) from e
    return cfg


def _typed(value: Any, kind: type, where: str, fail: Callable[[str, str], ConfigError]) -> Any:
    """``value`` if it is a ``kind`` (an int is a float; a bool is not an int)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    names.update({list: "a list", dict: "a table"})
    raise fail(where, f"must be {names.get(kind, kind.__name__)}, got {value!r}")


def _parse_seeds(value: Any, fail: Callable[[str, str], ConfigError]) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise fail("seeds", f"needs at least 1 seed, got {value}")
        if value > MAX_SEEDS:
            raise fail("seeds", f"a count of seeds must be at most {MAX_SEEDS}, got {value}")
        return tuple(range(value))
    seeds = _typed(value, list, "seeds", fail)
    if not seeds:
        raise fail("seeds", "needs at least 1 seed, got []")
    if len(seeds) > MAX_SEEDS:
        raise fail("seeds", f"lists {len(seeds)} seeds; at most {MAX_SEEDS}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= LIMITS["seed"]:
            raise fail("seeds", f"a seed must be an integer in [0, {LIMITS['seed']}], got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise fail("seeds", f"a seed is listed twice: {seeds}")
    return tuple(seeds)


def _parse_steps(
    value: Any,
    levels: Sequence[str],
    fail: Callable[[str, str], ConfigError],
    key: str = "steps",
) -> dict[str, int]:
    """``steps = N`` (every level) or ``steps = {Point = N, Name = M}`` (one per level)."""
    if isinstance(value, dict):
        missing = [lv for lv in levels if lv not in value]
        extra = [k for k in value if k not in levels]
        if extra:
            raise fail(f"{key}.{extra[0]}", f"not a level of this ablation ({list(levels)})")
        if missing:
            raise fail(key, f"has no {'budget' if key == 'steps' else 'value'} for {missing[0]}")
        items = {lv: (f"{key}.{lv}", value[lv]) for lv in levels}
    else:
        items = {lv: (key, value) for lv in levels}
    out = {}
    for lv, (where, v) in items.items():
        v = _typed(v, int, where, fail)
        if v < 1:
            raise fail(where, f"must be an integer >= 1, got {v}")
        out[lv] = v
    return out


def _normalise(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the command line's spelling too: ``switch-steps`` is ``switch_steps``."""
    return {k.replace("-", "_"): v for k, v in overrides.items()}


def _build(
    cls: type, overrides: Mapping[str, Any], where: str, fail: Callable[[str, str], ConfigError]
) -> Any:
    """``cls(**overrides)`` with unknown keys, wrong types and the class's own checks reported."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise fail(f"{where}.{key}", f"unknown key; {where} takes {sorted(fields)}")
        if name in kwargs:
            raise fail(f"{where}.{key}", "given twice (with '_' and with '-')")
        default = fields[name].default
        expected = _optional_kind(cls, name) if default is None else type(default)
        kwargs[name] = _typed(value, expected, f"{where}.{key}", fail)
    try:
        return cls(**kwargs)
    except ValueError as e:
        raise fail(where, str(e)) from e


def _optional_kind(cls: type, name: str) -> type:
    """The type of an optional field ``X | None`` of ``cls`` (``str`` if it cannot be read)."""
    import typing

    try:
        hint = typing.get_type_hints(cls)[name]
    except Exception:  # an annotation that does not resolve here
        return str
    kinds = [a for a in typing.get_args(hint) if a is not type(None)]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float, bool) else str
