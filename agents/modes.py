"""Learning modes: the same student, the same envs, different learning signals (``--mode``).

Each mode is one class (:class:`~babyworld.agents.mode_base.LearningMode`) holding its checks,
behaviour policy, reward shaping, advantages, policy loss, after-update hook and supervision
accounting; :data:`REGISTRY` maps names to classes and is the one list of modes (the CLI's
choices, the ablation harness and the report read it).

- ``baby``: PPO on the reward vector, per act, plus the world-model and latent-KL losses.
- ``sparse_ppo``: PPO on the ``task`` component alone, summed over the episode and paid at its
  last step (no dense components, no exchange horizon: credit flows back through the whole
  episode by GAE). Older configs call it ``sparse``.
- ``grpo``: group-relative advantages over G >= 2 (default 4) replays of one task seed: each
  act's task reward against its group's answers to the same exchange (``group_by="exchange"``)
  or each episode's summed task reward against its group's (``"episode"``), over the group's
  standard deviation. (``sparse`` with ``group_size > 1`` in older configs.)
- ``distill``: on-policy distillation from the parent — per step a divergence between the
  student's action distribution and the parent's over the same actions; with ``offline`` the
  actions are sampled from the parent and the student is fitted to them by maximum likelihood.
- ``self_distill``: the teacher is the student itself reading extra context — the parent's
  feedback on the act, or a demonstration of the right act — in the current step's input; the
  teacher is not differentiated (live weights, an EMA copy, or the frozen initial weights).
- ``predict``: uniform-random acts and no policy loss: the world model, the latent and the
  critic learn (with ``--ppo.vf-coef 0`` the world model and latent alone: predictive
  pre-training, whose checkpoint warms any mode up by ``--init-from``).
- ``predict_first``: ``predict`` for ``switch_steps`` env steps (rounded up to whole rollouts),
  then ``baby``.
- ``hybrid``: ``distill`` for ``switch_steps`` env steps (rounded up likewise), then ``baby``.
- ``sdpo`` / ``sdft``: GRPO blended (``distill_weight``) with self-distillation from the
  student reading hindsight: a successful peer's act (else the parent's reaction to the act it
  judges) or a demonstration of the right act, shown as an act (``hindsight="act"``) or as words
  (``"text"``) (:mod:`babyworld.agents.modes_sd`).

In every mode the world-model and latent-KL losses keep their ``--ppo`` weights (set
``--ppo.wm-coef 0 --ppo.mdl-coef 0`` to turn them off) and the value heads keep learning the
rewards the mode sees (the reward vector; in ``sparse_ppo``/``grpo`` only its task component)
through the shared encoder, so the modes differ in what drives the policy head, not in what
shapes the representation. Success figures count only the student's own episodes: those acted by
the parent (offline distill) or by the uniform policy (predict) are left out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

from babyworld.agents.mode_base import LearningMode
from babyworld.agents.modes_distill import Distill, Hybrid, SelfDistill
from babyworld.agents.modes_rl import GRPO, Baby, Predict, PredictFirst, SparsePPO
from babyworld.agents.modes_sd import SDFT, SDPO
from babyworld.validation import check_config

#: The learning modes by name: the one list every other part reads.
REGISTRY: dict[str, type[LearningMode]] = {
    cls.name: cls
    for cls in (
        Baby,
        SparsePPO,
        GRPO,
        Distill,
        SelfDistill,
        Predict,
        PredictFirst,
        Hybrid,
        SDPO,
        SDFT,
    )
}
MODES: tuple[str, ...] = tuple(REGISTRY)
#: Names older configs and commands used, resolved by :func:`resolve_mode` with a warning.
LEGACY = {"sparse": "sparse_ppo, or grpo with modes.group_size > 1"}
#: ``--mode`` choices (tyro reads this Literal): the modes, then the older names.
Mode = Literal[MODES + tuple(LEGACY)]  # type: ignore[valid-type]


@dataclass
class ModeConfig:
    """Settings of the learning modes (each mode reads the ones it uses)."""

    group_size: int = 0
    """grpo, sdpo, sdft: the envs run in groups of G that replay the same task seed each episode
    (G >= 2; 0 = the default, 4; one-act levels; num_envs must be a multiple of G,
    ppo.rollout_steps a multiple of the episode length); other modes take no groups (0 or 1)"""
    group_by: Literal["exchange", "episode"] = "exchange"
    """grpo, sdpo, sdft: what a group compares: the G answers to one exchange (each act's own
    task reward against the others' at the same step, as LLM GRPO compares G completions of one
    prompt) or G whole episodes (every act gets its episode's summed task reward's advantage:
    the older unit, kept as a control)"""
    divergence: Literal["forward_kl", "reverse_kl", "jsd"] = "forward_kl"
    """distill / self_distill / hybrid: KL(teacher||student), KL(student||teacher), or the
    generalised JSD with alpha (TRL GKD's convention: alpha=0 is forward KL, 1 reverse KL)"""
    alpha: float = 0.5
    """teacher weight of the generalised JSD, in [0, 1]"""
    distill_coef: float = 1.0
    """distill / self_distill / hybrid: weight of the distillation loss"""
    distill_weight: float = 0.5
    """sdpo / sdft: w in [0, 1] of the convex blend (1 - w) * GRPO loss + w * self-distillation
    loss (TRL's distillation_weight; 1 = pure self-distillation, 0 = GRPO)"""
    offline: bool = False
    """distill: act by sampling the parent's distribution and fit the student to those acts
    (supervised on parent samples) instead of distilling on the student's own rollouts"""
    teacher: Literal["live", "ema", "initial"] = "ema"
    """self_distill: the student's current weights, an EMA of them, or its initial weights"""
    ema_decay: float = 0.9
    """self_distill with teacher=ema: decay of the teacher's EMA, applied once per update (a
    default run has ~80 updates), in [0, 1)"""
    support: Literal["full", "topk", "sampled"] = "full"
    """self_distill: actions the divergence is taken over (all, the teacher's top k, or the
    sampled one; sampled needs divergence=reverse_kl)"""
    top_k: int = 3
    """self_distill with support=topk: k"""
    context: Literal["feedback", "demonstration"] = "feedback"
    """self_distill: what the teacher reads besides the student's input: the parent's reaction
    to the act, or a demonstration of the right act ("the baby says: <word>")"""
    hindsight: Literal["act", "text", "none"] = "act"
    """sdpo / sdft: how the teacher reads the act its hindsight shows (a successful peer's, the
    demonstrated right act): ``act``, as its new slot's previous act, the input the student learns
    from its own acts, after which the teacher hears the peer's reaction (none for a
    demonstration), then the request; ``text``, the words "the baby says <word>" before the
    request, with the judged act as the previous act (the baby never hears those words, so their
    embeddings never train: the older meaning, kept as a control); or ``none``, no hindsight: the
    teacher reads the student's own window (the control for what self-distillation does without
    any hint: a pull towards the teacher's weights)"""
    switch_steps: int = 10_000
    """predict_first / hybrid: env steps of the first phase before 'baby' takes over"""

    def __post_init__(self) -> None:
        check_config(self, "modes")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"modes.alpha must be in [0, 1], got {self.alpha}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"modes.distill_weight must be in [0, 1], got {self.distill_weight}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"modes.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.distill_coef <= 0:
            raise ValueError(f"modes.distill_coef must be > 0, got {self.distill_coef}")
        if self.group_size < 0:
            raise ValueError(
                f"modes.group_size must be >= 0 (0: the mode's default), got {self.group_size}"
            )
        if self.top_k < 1:
            raise ValueError(f"modes.top_k must be >= 1, got {self.top_k}")
        if self.switch_steps < 0:
            raise ValueError(f"modes.switch_steps must be >= 0, got {self.switch_steps}")
        if self.support == "sampled" and not (
            self.divergence == "reverse_kl" or (self.divergence == "jsd" and self.alpha == 1.0)
        ):
            raise ValueError(
                "modes.support=sampled estimates KL(student||teacher) only: use "
                f"--modes.divergence reverse_kl or jsd with alpha 1 (got {self.divergence!r})"
            )
        for name, value, allowed in (
            ("divergence", self.divergence, ("forward_kl", "reverse_kl", "jsd")),
            ("teacher", self.teacher, ("live", "ema", "initial")),
            ("support", self.support, ("full", "topk", "sampled")),
            ("context", self.context, ("feedback", "demonstration")),
            ("group_by", self.group_by, ("exchange", "episode")),
            ("hindsight", self.hindsight, ("act", "text", "none")),
        ):
            if value not in allowed:
                raise ValueError(f"modes.{name} must be one of {allowed}, got {value!r}")


def resolve_mode(mode: str, cfg: ModeConfig) -> str:
    """The registered name of ``mode``: itself, or what an older config's name now is.

    ``sparse`` (older configs) is ``sparse_ppo``, or ``grpo`` when ``modes.group_size > 1``; an
    older name works with a ``FutureWarning`` that names the new spelling.
    """
    if mode == "sparse":
        new = "grpo" if (cfg.group_size or 1) > 1 else "sparse_ppo"
        warnings.warn(
            f"mode 'sparse' is now called {new!r}: write --mode {new}", FutureWarning, stacklevel=2
        )
        return new
    return mode


def mode_class(mode: str) -> type[LearningMode]:
    """The class of a registered mode.

    Raises:
        ValueError: an unknown name (the message lists the modes).
    """
    if mode not in REGISTRY:
        raise ValueError(f"unknown mode {mode!r}; available: {MODES}")
    return REGISTRY[mode]


def check_mode(mode: str, cfg: ModeConfig, total_steps: int | None = None) -> None:
    """Raise ``ValueError`` for an unknown mode or settings it cannot run with."""
    mode_class(mode).check(cfg, total_steps)


def make_mode(mode: str, cfg: ModeConfig) -> LearningMode:
    """A checked instance of mode ``mode``."""
    cls = mode_class(mode)
    cls.check(cfg)
    return cls(cfg)


def phase(mode: str, cfg: ModeConfig, global_step: int) -> str:
    """The name of the signal in force at ``global_step``: the mode's, or its current phase's."""
    return mode_class(mode)(cfg).active(global_step).name
