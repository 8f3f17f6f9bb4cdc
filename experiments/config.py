"""The experiment config: one typed dataclass composed of the student's and the trainer's."""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from babyworld.agents.judge_watch import JudgeWatchConfig
from babyworld.agents.modes import MODES, Mode, ModeConfig, check_mode, mode_class, resolve_mode
from babyworld.agents.ppo import PPOConfig
from babyworld.agents.student import StudentConfig
from babyworld.curricula import CURRICULA
from babyworld.envs.name import JUDGE_FRAMES
from babyworld.envs.registration import level_class, rungs, rungs_text
from babyworld.experiments.evaluation import EvalConfig
from babyworld.experiments.language_log import LanguageConfig, parse_milestones
from babyworld.parent.factory import check_spec
from babyworld.rewards import check_reward_source, format_weights, parse_weights
from babyworld.task import Task
from babyworld.validation import build_config, check_config

#: The rungs a run trains on (``--level``), from the level table (a ``Literal`` for the command line).
LEVEL_NAMES = rungs()
Level = Literal[LEVEL_NAMES]  # type: ignore[valid-type]
#: ``--curriculum`` choices: the curricula's registry (``CURRICULA``).
CURRICULUM_KINDS = tuple(CURRICULA)
CurriculumKind = Literal[CURRICULUM_KINDS]  # type: ignore[valid-type]
DEFAULT_STEPS = 40_000
#: the key of a run's ``config.json`` that says how its parent computed (``Parent.runtime``) on the
#: machine that last started it; not a setting, so reading the config back drops it
RUNTIME_KEY = "parent_runtime"


@dataclass
class CurriculumConfig:
    """Settings of the curricula (each kind reads the ones it uses)."""

    threshold: float = 0.8
    """ladder: promote when success over the window passes this, in (0, 1]"""
    window: int = 100
    """ladder / parent: episodes in the success window of a task"""
    retest_rate: float = 0.1
    """ladder / parent: probability that an episode re-tests an earlier stage (retention)"""
    retest_gain: float = 0.0
    """ladder: how much measured forgetting raises the re-test rate: min(1, retest_rate + gain x
    the passed stages' mean deficit below the threshold), forgotten stages re-tested more (0:
    fixed)"""
    beta: float = 0.1
    """every kind: step size of the per-task success EMA behind the progress reward"""
    epsilon: float = 0.2
    """progress: probability of a uniformly random task (exploration)"""
    fast: float = 0.2
    """progress: step size of the fast success EMA (learning progress = |fast - slow|)"""
    slow: float = 0.05
    """progress: step size of the slow success EMA"""
    every: int = 50
    """parent: episodes between the parent's choices of the next task"""
    stages: tuple[str, ...] = ()
    """ladder / progress / parent: the ordered tasks (names as the logs write them, e.g.
    'Request[max_words=1]' 'Request[max_words=2]' 'Request'); default: the default ladder from
    Point to Chat. When every stage is of one level the run's envs are that level's (its own
    action space), else babyworld/Ladder-v0"""

    def __post_init__(self) -> None:
        check_config(self, "curricula")
        self.stages = tuple(self.stages)
        tasks = self.tasks()
        unknown = sorted({t.level for t in tasks} - set(rungs()))
        if unknown:
            raise ValueError(
                f"curricula.stages names unknown levels {unknown}; levels are {rungs()}"
            )
        if tasks:
            from babyworld.curricula.base import as_task_space

            as_task_space(tasks)  # no task twice

    def tasks(self) -> tuple[Task, ...]:
        """The stages as tasks (empty: the curriculum's default task space)."""
        return tuple(Task.parse(s) for s in self.stages)

    def single_level(self) -> str | None:
        """The one level all stages are of, or ``None`` (no stages, or several levels)."""
        levels = {t.level for t in self.tasks()}
        return levels.pop() if len(levels) == 1 else None

    def kwargs_for(self, kind: str) -> dict[str, Any]:
        """The settings curriculum ``kind``'s constructor takes (without the stages)."""
        takes = inspect.signature(CURRICULA[kind]).parameters
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name in takes and f.name != "stages"
        }


@dataclass
class EnvConfig:
    """Settings of the envs a run trains on (``--env.*``)."""

    reward_weights: str | None = None
    """weights of the scalar reward by component name, e.g. 'task=0,consistency=1' (a name left
    out weighs 0); default: the library's (task=1,consistency=0.1,predictability=0.05,mdl=0.05,
    progress=0.5)"""
    reward_source: Literal["verifier", "parent"] = "verifier"
    """what decides success for the task and progress rewards and the curricula: 'verifier' (the
    world's hand-written verifier) or 'parent' (the parent's judgement; the verifier then only
    scores, held out, as true success)"""
    consistency_temperature: float | None = None
    """temperature of the parent's judgement: of the consistency reward and of the distillation
    teacher's distribution softmax(judgement / T) (a lower T sharpens the teacher towards its
    best-judged act), > 0; default: the env's (1)"""
    judge_frames: Literal["view", "answer_in_frame"] = "view"
    """Name's judge frames: 'view' (built from what the parent perceives and said) or
    'answer_in_frame' (the labelled oracle control: the frame names the answer, a verifier in the
    parent's voice); --level Name only"""
    split: Literal["all", "train"] = "all"
    """which toys the training scenes hold: 'all', or 'train' (never the six held-out toys, one
    of each colour and shape: every evaluation then also plays scenes of held-out toys alone,
    reported beside the others as held_out_*); Point, Name, Request and ladder runs"""

    def __post_init__(self) -> None:
        check_config(self, "env")
        check_reward_source(self.reward_source)
        if self.split not in ("all", "train"):
            raise ValueError(
                f"env.split must be 'all' or 'train' (the held-out toys are for evaluation), "
                f"got {self.split!r}"
            )
        if self.judge_frames not in JUDGE_FRAMES:
            raise ValueError(
                f"env.judge_frames must be one of {list(JUDGE_FRAMES)}, got {self.judge_frames!r}"
            )
        if self.reward_weights is not None:
            self.reward_weights = format_weights(parse_weights(self.reward_weights))
        t = self.consistency_temperature
        if t is not None and (isinstance(t, bool) or not 0 < t < math.inf):
            raise ValueError(f"env.consistency_temperature must be a finite number > 0, got {t}")

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of every env of the run (the temperature only when it is set)."""
        weights = None if self.reward_weights is None else parse_weights(self.reward_weights)
        kwargs: dict[str, Any] = {"reward_weights": weights, "reward_source": self.reward_source}
        if self.consistency_temperature is not None:
            kwargs["consistency_temperature"] = self.consistency_temperature
        if self.judge_frames != "view":
            kwargs["judge_frames"] = self.judge_frames
        if self.split != "all":
            kwargs["split"] = self.split
        return kwargs


@dataclass
class TrainConfig:
    """``babyworld train``: train the from-scratch student on one level."""

    level: Level = "Point"
    """level to train on (with --curriculum fixed)"""
    curriculum: CurriculumKind = "fixed"
    """'fixed' trains on --level; 'ladder', 'progress' and 'parent' run the ladder from Point
    upwards (babyworld/Ladder-v0), or through --curricula.stages, with that curriculum"""
    parent: str = "smollm2"
    """parent spec: 'smollm2' (the real default LLM), 'hf:<hub id or dir>', or 'scripted'"""
    mode: Mode = "baby"
    """learning signal (babyworld.agents.modes): 'baby' (PPO on the reward vector + world-model
    and latent-KL losses), 'sparse_ppo' (task reward at episode end), 'grpo' (group-relative over
    --modes.group-size replays of a task seed), 'distill' (from the parent's action
    distribution), 'self_distill' (from the student reading extra context), 'predict_first' /
    'hybrid' (world model only / distill for --modes.switch-steps, then baby), 'sdpo' / 'sdft'
    (grpo blended with self-distillation from a successful peer's act or the parent's feedback /
    a demonstration); settings under --modes.*"""
    seed: int = 0
    """seeds the student, the action sampling and the envs (env i gets seed + i)"""
    steps: int | None = None
    """total env steps of the run (default 40,000); with --resume: continue the run to this many
    (default: the run's own budget)"""
    num_envs: int = 8
    """envs stepped together (one shared parent, one batched parent call per phase)"""
    out: Path | None = None
    """run directory; default runs/{level}__{mode}__{seed}__{time}; never overwritten"""
    resume: Path | None = None
    """continue the run in this directory (its config is used; pass --steps to extend)"""
    init_from: Path | None = None
    """start the student from the weights of this checkpoint (a run's checkpoint.pt; same
    --student.* sizes and level): a warm start, e.g. sdpo after baby"""
    checkpoint_every: int = 20
    """updates between checkpoints (and one at the end)"""
    threads: int = 0
    """torch CPU threads for the student (0 = torch's default)"""
    ray: str | None = None
    """run the envs on Ray rollout workers: 'local' (what --ray alone means) starts a Ray cluster
    on this machine, else the address of a running cluster (HOST:PORT, ray://HOST:PORT or auto);
    the learner and the curriculum stay in this process (needs the 'ray' extra)"""
    workers: int | None = None
    """Ray rollout workers, each holding a shard of the --num-envs envs and its own parent; needs
    --ray (default with --ray: 2, or --num-envs if fewer)"""
    checkpoint_at_words: str | None = None
    """extra checkpoints (checkpoint_words_N.pt) when the words heard from the parent pass these
    milestones, e.g. '1e5,1e6' (BabyLM's word budgets; positive, increasing)"""
    env: EnvConfig = field(default_factory=EnvConfig)
    lang: LanguageConfig = field(default_factory=LanguageConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    watch: JudgeWatchConfig = field(default_factory=JudgeWatchConfig)
    curricula: CurriculumConfig = field(default_factory=CurriculumConfig)
    modes: ModeConfig = field(default_factory=ModeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check_config(self)
        if self.level not in rungs():
            raise ValueError(f"unknown level {self.level!r}; choose one of {rungs()}")
        level = level_class(self.level)
        if self.curriculum not in CURRICULUM_KINDS:
            raise ValueError(
                f"unknown curriculum {self.curriculum!r}; choose one of {CURRICULUM_KINDS}"
            )
        if self.steps is None and self.resume is None:
            self.steps = DEFAULT_STEPS
        if not isinstance(self.mode, str):
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        self.mode = resolve_mode(self.mode, self.modes)  # type: ignore[assignment]
        check_mode(self.mode, self.modes, self.steps)
        parse_milestones(self.checkpoint_at_words)
        check_spec(self.parent)  # its form: unknown kinds, bad URLs (nothing is loaded)
        needs_parent = mode_class(self.mode).needs_parent(self.modes)
        fixed = self.curriculum == "fixed"
        if needs_parent and not (fixed and level.one_act):
            raise ValueError(
                f"mode {self.mode!r} needs the parent's distribution or right act at every step, "
                f"which exist on one-act levels: use --level {rungs_text('one_act')} with "
                "--curriculum fixed"
            )
        if self.env.judge_frames != "view" and not (fixed and level.takes("judge_frames")):
            raise ValueError(
                f"--env.judge-frames {self.env.judge_frames} sets Name's judge: use it with "
                "--level Name --curriculum fixed"
            )
        if self.env.split != "all" and fixed and not level.takes("split"):
            raise ValueError(
                f"--env.split train holds toys out of training; {self.level}'s situations are not "
                f"toys on a table and have no held-out split: drop --env.split on --level "
                f"{self.level}"
            )
        if self.env.reward_source == "parent":
            if not (fixed and level.parent_judges):
                raise ValueError(
                    "--env.reward-source parent needs a level on which the parent judges every "
                    f"act: --level {rungs_text('parent_judges')} with --curriculum fixed (the "
                    "ladder's Request stage succeeds by a need only the world knows)"
                )
            if mode_class(self.mode).shows_right_act(self.modes):
                raise ValueError(
                    f"mode {self.mode!r} shows the verifier's right act (a demonstration), which "
                    "--env.reward-source parent holds out; use sdpo, or self_distill with "
                    "--modes.context feedback"
                )
        keeps = (self.ppo.anchor_coef, self.ppo.recall_coef, self.ppo.replay_coef)
        if any(keeps) and self.curriculum != "ladder":
            raise ValueError(
                "--ppo.anchor-coef, --ppo.recall-coef and --ppo.replay-coef keep what the student "
                "had at the ladder's promotions: use them with --curriculum ladder"
            )
        if self.curricula.stages and self.curriculum == "fixed":
            raise ValueError(
                "--curricula.stages sets the tasks of a ladder, progress or parent curriculum; "
                "pass --curriculum ladder (or progress, parent), or drop --curricula.stages to "
                "train on --level alone"
            )
        for name in ("steps", "num_envs", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.workers is not None and self.ray is None:
            raise ValueError(
                f"--workers {self.workers} needs --ray: pass --ray (a local Ray cluster) or "
                "--ray ADDRESS, or drop --workers to train in this process"
            )
        if self.ray is not None:
            from babyworld.vector.distributed import check_workers

            if self.workers is None:
                self.workers = min(2, self.num_envs)
            check_workers(self.workers, self.num_envs)

    @property
    def run_level(self) -> str:
        """What the run is named after: the level, or ``Ladder-<curriculum>``."""
        return self.level if self.curriculum == "fixed" else f"Ladder-{self.curriculum}"

    @property
    def envs_level(self) -> str:
        """The level of the run's envs.

        ``level`` for a fixed curriculum, the stages' level when every ``--curricula.stages`` is
        of one, else ``Ladder`` (every level behind one action space).
        """
        if self.curriculum == "fixed":
            return self.level
        return self.curricula.single_level() or "Ladder"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        d = dataclasses.asdict(self)
        for k in ("out", "resume", "init_from"):
            d[k] = None if d[k] is None else str(d[k])
        d["curricula"]["stages"] = list(d["curricula"]["stages"])  # as JSON reads it back
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (any table of settings; missing ones at their defaults).

        Settings whose default changed as they were added keep what older runs ran with: a
        GRPO, SDPO or SDFT run saved without ``modes.group_by`` grouped whole episodes, an SDPO
        or SDFT run saved without ``modes.hindsight`` read its hindsight as ``text``, a fixed
        Name run saved without ``env.judge_frames`` had the answer in its judge's frame.
        """
        d = dict(d)
        d.pop(RUNTIME_KEY, None)  # a fact of the machine the run last started on, not a setting
        missing = [k for k in ("student", "ppo") if not isinstance(d.get(k), dict)]
        if missing:  # every run ever saved has both: without them the file is damaged
            raise ValueError(f"the saved config has no {missing[0]} table")
        modes, env = dict(d.get("modes", {})), dict(d.get("env", {}))
        if "group_by" not in modes and d.get("mode") in ("grpo", "sdpo", "sdft", "sparse"):
            modes["group_by"] = "episode"
        if "hindsight" not in modes and d.get("mode") in ("sdpo", "sdft"):
            modes["hindsight"] = "text"
        d["modes"] = modes
        if "judge_frames" not in env and (d.get("level"), d.get("curriculum")) == ("Name", "fixed"):
            d["env"] = {**env, "judge_frames": "answer_in_frame"}
        return build_config(cls, d)

    @classmethod
    def with_defaults(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """A saved config dict with the fields added to babyworld since it was written at their defaults.

        A run made before a setting existed (say ``curricula.stages``) ran with what is now that
        setting's default, so it is not another config; except those whose default changed as
        they were added (:meth:`from_dict`: ``env.judge_frames``, ``modes.group_by``,
        ``modes.hindsight``); each keeps what it ran with. A dict that does not load (a damaged or
        foreign file) is returned as it is, to be compared as it is.
        """
        try:
            return cls.from_dict(saved).to_dict()
        except (TypeError, ValueError, KeyError):
            return saved
