"""The ablation config: a TOML file read into a validated :class:`AblationConfig`.

The format (see ``experiments/configs/``)::

    out = "runs/headline"          # output directory (``--out`` overrides it)
    parent = "smollm2"             # parent spec, as for ``babyworld train --parent`` (smollm2,
                                   # hf:<dir or id>, openai:<url>#<model>, scripted)
    levels = ["Point", "Name"]
    seeds = [0, 1, 2, 3, 4]        # or a count: seeds = 5 means 0..4 (default: 5)
    steps = 40960                  # env steps of every run: the same budget for every mode
                                   # (or per level: steps = { Point = 40960, Name = 163840 })
    num_envs = 8                   # any other key: a `babyworld train` setting every run
                                   # shares (parent, threads, checkpoint_every, init_from, ...)
    eval_every = 5120              # env steps between evaluations (or a table by level); a
                                   # whole number of updates of every label (default: train's)

    [ppo]                          # --ppo.* for every mode (optional)
    [env]                          # --env.* for every mode (optional), e.g.
                                   # reward_weights = "task=1", reward_source = "parent"
    [student]                      # --student.* for every mode (optional; one architecture)
    [eval]                         # --eval.* for every run (optional): episodes, num_envs; the
                                   # cadence is eval_every (env steps), never eval.every

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
    [modes.grpo]                   # ... or a search: one label per point of the grid, named
    search.ppo.lr = [1e-4, 3e-4]   # after the label and the values, e.g. grpo-lr0.0001-group_size2
    search.modes.group_size = [2, 4]

A search is a label's grid of ``--modes.*``, ``--ppo.*`` and ``--env.*`` values (the product of
its lists); every searched label of a config must have the same number of trials (equal cost),
and ``babyworld report`` picks each one's best trial (``search.md``, ``chosen.toml``).

A label that names a control is that control; ``mode = "<mode>"`` names a bare mode. Settings
stack: the config's ``[ppo]`` and ``[env]``, then the control's, then the label's own. An unknown
mode or control fails before anything runs, listing the modes and the controls.

The shared settings are validated by :class:`TrainConfig` itself and each label's runs by its
mode's own check, as ``babyworld train`` validates a run: one schema. Every bad field fails before
any run starts, with a message naming it.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babyworld.agents.mode_base import RunShape
from babyworld.agents.modes import ModeConfig, mode_class, resolve_mode
from babyworld.agents.ppo import PPOConfig
from babyworld.envs.registration import env_id, level_class, rungs
from babyworld.experiments.ablation.controls import (
    CONTROLS,
    LabelError,
    registered_modes,
    resolve,
)
from babyworld.experiments.ablation.search import LABEL, TABLES, expand_searches
from babyworld.experiments.config import EnvConfig, TrainConfig
from babyworld.validation import LIMITS, build_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The levels an ablation runs on: every rung of the ladder (a mode not defined on a level, e.g.
#: GRPO's groups on an utterance level, is refused there by its own check).
ABLATION_LEVELS = rungs()
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
#: The most seeds an ablation may list (each seed is a run per level and mode).
MAX_SEEDS = 10_000


@functools.cache
def episode_length(level: str) -> int:
    """Steps per episode of a one-act ``level`` with its default settings (its exchanges).

    On an utterance level an exchange takes one step per word: only modes defined on one-act
    levels (GRPO's lockstep groups) read this.
    """
    import gymnasium as gym

    env = gym.make(env_id(level), parent="scripted")
    try:
        return int(env.unwrapped.exchanges)
    finally:
        env.close()


#: The keys of an ablation config of its own; every other key is a setting of ``babyworld train``
#: (a :class:`TrainConfig` field) that every run shares.
_OWN_KEYS = {
    "out": "output directory (required)",
    "levels": f"levels, a list of {ABLATION_LEVELS} (required)",
    "seeds": "a list of seeds or a count (default 5: seeds 0-4)",
    "steps": "env steps of every run, or a table of them by level (required)",
    "eval_every": "env steps between evaluations, or a table of them by level (default: train's); "
    "a whole number of updates of every label",
    "modes": "a table of labels, one sub-table per label (required)",
}
#: TrainConfig fields the ablation sets for each run (or that mean nothing in one).
_PER_RUN = (
    "level", "curriculum", "curricula", "mode", "seed", "steps", "out", "resume", "modes", "ray",
    "workers",
)  # fmt: skip
#: The TrainConfig settings an ablation config takes, shared by every run.
SHARED = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _PER_RUN)
#: The overrides a label takes (``--modes.*``, ``--ppo.*``, ``--env.*``), over the shared ones.
_LABEL_TABLES = TABLES
_TABLE_CLASSES = {"modes": ModeConfig, "ppo": PPOConfig, "env": EnvConfig}
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
    """One label of an ablation: its name (a directory name), its mode and its settings."""

    label: str
    mode: str
    modes: ModeConfig
    ppo: PPOConfig
    env: EnvConfig = field(default_factory=EnvConfig)
    levels: tuple[str, ...] | None = None
    """the levels this label runs on (``None``: every level of the ablation)"""
    search: tuple[str, tuple[tuple[str, Any], ...]] | None = None
    """a search's trial: the searched label and its settings (``("ppo.lr", 3e-4), ...``)"""

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
    """env steps of every run of a level (the same for every label)"""
    base: TrainConfig = field(default_factory=lambda: TrainConfig(parent="scripted"))
    """the settings every run shares (the config's ``babyworld train`` settings)"""
    eval_every: dict[str, int] | None = None
    """env steps between evaluations per level (``None``: train's default interval)"""
    source: str = ""
    """the config file it was read from (for the report's reproduce line)"""

    @property
    def parent(self) -> str:
        """The parent spec of every run."""
        return self.base.parent

    @property
    def num_envs(self) -> int:
        """Envs per run."""
        return self.base.num_envs

    @property
    def threads(self) -> int:
        """Torch CPU threads per run (0: torch's default)."""
        return self.base.threads

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the form ``ablation.json`` records)."""
        shared = {k: v for k, v in self.base.to_dict().items() if k in SHARED}
        return {
            "out": str(self.out),
            "levels": list(self.levels),
            "modes": [dataclasses.asdict(m) for m in self.modes],
            "seeds": list(self.seeds),
            "steps": dict(self.steps),
            "eval_every": self.eval_every,
            "source": self.source,
            **shared,
        }

    def train_config(self, level: str, spec: ModeSpec, seed: int) -> TrainConfig:
        """The ``train()`` config of one run (its directory: :func:`run_dir`)."""
        extra = {}
        if self.eval_every is not None:
            every = self.eval_every[level] // (self.num_envs * spec.ppo.rollout_steps)
            extra["eval"] = dataclasses.replace(self.base.eval, every=every)
        return dataclasses.replace(
            self.base,
            level=level,
            mode=spec.mode,
            seed=seed,
            steps=self.steps[level],
            out=run_dir(self.out, level, spec.label, seed),
            ppo=spec.ppo,
            modes=spec.modes,
            env=spec.env,
            **extra,
        )


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

    The ablation's own keys are checked here; the ``babyworld train`` settings by
    :class:`TrainConfig` itself (:func:`~babyworld.validation.build_config`), and each label's
    runs by its mode's own check (``check_run``), as ``train`` checks them.

    Raises:
        ConfigError: a missing, unknown or bad field; the message starts with ``source`` and
            names the field.
    """

    def fail(where: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")

    for key, why in _RETIRED_KEYS.items():
        if key in data:
            warnings.warn(f"{source}: {key} {why}", UserWarning, stacklevel=3)
    for key in data:
        if key not in _OWN_KEYS and key not in SHARED and key not in _RETIRED_KEYS:
            own = "; ".join(f"{k} ({v})" for k, v in _OWN_KEYS.items())
            raise fail(
                key,
                f"unknown key; an ablation config takes {own}; and the settings of babyworld "
                f"train every run shares: {', '.join(SHARED)}",
            )
    for key in ("out", "levels", "steps", "modes"):
        if key not in data:
            raise fail(key, f"missing ({_OWN_KEYS[key]})")
    out = _typed(data["out"], str, "out", fail)
    if not out:
        raise fail("out", "must be a directory path, got ''")
    levels = _parse_levels(data["levels"], fail)
    seeds = _parse_seeds(data.get("seeds", len(DEFAULT_SEEDS)), fail)
    steps = _parse_steps(data["steps"], levels, fail)
    if isinstance(data.get("eval"), Mapping) and "every" in data["eval"]:
        raise fail(
            "eval.every",
            "counts one run's updates, which differ between labels; give the evaluations' "
            "cadence in env steps with eval_every (one value, or a table by level)",
        )
    eval_every = None
    if "eval_every" in data:
        eval_every = _parse_steps(data["eval_every"], levels, fail, "eval_every")
    shared = {k: v for k, v in data.items() if k in SHARED}
    base = _train(dict(shared, level=levels[0]), source)
    env = shared.get("env", {})
    if isinstance(env, Mapping) and env.get("judge_frames", "view") != "view":
        raise fail(
            "env.judge_frames",
            f"{env['judge_frames']!r} would make the oracle frame (the answer in the judge's "
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
    specs = tuple(
        dataclasses.replace(_label(label, entry, base, levels, fail), search=trial)
        for label, (entry, trial) in expand_searches(table, fail).items()
    )
    cfg = AblationConfig(Path(out), levels, specs, seeds, steps, base, eval_every, source)
    for level in levels:
        for spec in specs:
            if spec.runs_on(level):
                _check_runs(cfg, level, spec, data, fail)
    return cfg


def _train(table: Mapping[str, Any], source: str) -> TrainConfig:
    """``TrainConfig`` from a table of its settings, its errors prefixed with ``source``."""
    try:
        return build_config(TrainConfig, table)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None


def _label(
    label: str,
    entry: Any,
    base: TrainConfig,
    levels: tuple[str, ...],
    fail: Callable[[str, str], ConfigError],
) -> ModeSpec:
    """One label: its mode and its settings over the shared ones (its control's, then its own)."""
    where = f"modes.{label}"
    if not LABEL.match(label):
        raise fail(where, "a label must be letters, digits, '_', '-' or '.' (it names a directory)")
    entry = _typed(entry, dict, where, fail)
    extra = [k for k in entry if k not in ("mode", "control", "levels", *_LABEL_TABLES)]
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
    for key in _LABEL_TABLES:
        _typed(entry.get(key, {}), dict, f"{where}.{key}", fail)
    try:
        mode, *over = resolve(label, entry)
    except LabelError as e:
        key = next((k for k in ("control", "mode") if k in entry), None)
        raise fail(f"{where}.{key}" if key else where, str(e)) from None
    built = {}
    for name, own in zip(_LABEL_TABLES, over, strict=True):  # the control's, then the label's
        shared = {} if name == "modes" else dataclasses.asdict(getattr(base, name))
        table = {**shared, **own}
        try:  # an unknown key can only be the label's own: the others were checked
            built[name] = build_config(_TABLE_CLASSES[name], table, f"{where}.{name}")
        except ValueError as e:
            raise fail("", str(e)) from None
    mode = resolve_mode(mode, built["modes"])  # an older config's 'sparse'
    mine_levels = None
    if "levels" in entry:
        mine_levels = _typed(entry["levels"], list, f"{where}.levels", fail)
        wrong = [lv for lv in mine_levels if lv not in levels]
        if wrong or not mine_levels or len(set(mine_levels)) != len(mine_levels):
            raise fail(
                f"{where}.levels",
                f"must list some of the ablation's levels {list(levels)} once each, got {mine_levels}",
            )
        mine_levels = tuple(lv for lv in levels if lv in mine_levels)  # the ablation's order
    return ModeSpec(label, mode, built["modes"], built["ppo"], built["env"], mine_levels)


def _check_runs(
    cfg: AblationConfig,
    level: str,
    spec: ModeSpec,
    data: Mapping[str, Any],
    fail: Callable[[str, str], ConfigError],
) -> None:
    """A label's runs on a level: whole rollouts and updates, the mode's and train's own checks."""
    where = "steps" if isinstance(data["steps"], int) else f"steps.{level}"
    budget, rollout = cfg.steps[level], cfg.num_envs * spec.ppo.rollout_steps
    if budget % rollout:
        raise fail(
            where,
            f"{budget} is not a whole number of rollouts for mode {spec.label!r} "
            f"(num_envs x ppo.rollout_steps = {rollout}); runs would be rounded up to "
            f"{-(-budget // rollout) * rollout} steps and budgets would differ: use a "
            f"multiple of {rollout}",
        )
    if cfg.eval_every is not None and cfg.eval_every[level] % rollout:
        every = cfg.eval_every[level]
        raise fail(
            "eval_every" if isinstance(data["eval_every"], int) else f"eval_every.{level}",
            f"{every} env steps is not a whole number of updates for label "
            f"{spec.label!r} (num_envs x ppo.rollout_steps = {rollout} env steps per "
            f"update): use a multiple of {rollout}, e.g. {max(1, every // rollout) * rollout}",
        )
    shape = RunShape(
        level, level_class(level).one_act, episode_length(level), cfg.num_envs,
        spec.ppo.rollout_steps, budget,
    )  # fmt: skip
    try:  # the mode's own check of a run, as the trainer makes it; then train's
        mode_class(spec.mode).check_run(spec.modes, shape)
        cfg.train_config(level, spec, cfg.seeds[0])
    except ValueError as e:
        raise fail(f"modes.{spec.label}", f"on {level} ({where} = {budget}): {e}") from None


def _typed(value: Any, kind: type, where: str, fail: Callable[[str, str], ConfigError]) -> Any:
    """``value`` if it is a ``kind`` (a bool is not an int)."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    names = {str: "a string", int: "an integer", list: "a list", dict: "a table"}
    raise fail(where, f"must be {names[kind]}, got {value!r}")


def _parse_levels(value: Any, fail: Callable[[str, str], ConfigError]) -> tuple[str, ...]:
    levels = _typed(value, list, "levels", fail)
    if not levels:
        raise fail("levels", f"needs at least one level of {ABLATION_LEVELS}")
    for lv in levels:
        if lv not in ABLATION_LEVELS:
            raise fail(
                "levels",
                f"unknown level {lv!r}; ablations run on {ABLATION_LEVELS} (the rungs of the "
                "ladder)",
            )
    if len(set(levels)) != len(levels):
        raise fail("levels", f"a level is listed twice: {levels}")
    return tuple(levels)


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
