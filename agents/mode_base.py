"""The learning-mode protocol: what a mode decides, as hooks the trainer calls.

:class:`~babyworld.agents.ppo.PPOTrainer` holds one mode object and carries no mode names: it
asks the mode (its :meth:`LearningMode.active` phase for the current rollout) how to act, what
reward the student sees, where GAE stops, which advantages and which policy loss to use, and what
to do after an update. A new mode is one subclass registered in :mod:`babyworld.agents.modes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch

from babyworld.agents import divergences, losses
from babyworld.envs.registration import rungs_text

if TYPE_CHECKING:  # pragma: no cover
    from babyworld.agents.modes import ModeConfig
    from babyworld.agents.ppo import PPOConfig
    from babyworld.agents.student import Student
    from babyworld.vector.local import LevelInfo


class ModeContext(Protocol):
    """What a mode's hooks read and write of the trainer, and nothing else.

    The trainer passes itself through this door; a test holds the modes to it.
    """

    n: int
    """envs"""
    n_actions: int
    heard_length: int
    level: LevelInfo
    """what is known of the envs (words, tokenizer, spaces, episode length)"""
    cfg: PPOConfig
    model: Student
    weights: torch.Tensor
    """the reward weights ``[R]``"""
    buf: dict[str, Any]
    """the rollout, ``[T, N, ...]`` per field (the mode's :meth:`LearningMode.step_fields` too)"""
    flat: dict[str, torch.Tensor]
    """the mode's fields flattened to ``[T * N, ...]`` for the minibatches"""

    def right_actions(self) -> np.ndarray:
        """The verifier's right act in every env now (one-act levels)."""
        ...

    def parent_logprobs(self) -> torch.Tensor:
        """The parent's log-distribution over every env's acts, ``[N, A]``."""
        ...


@dataclass(frozen=True)
class RunShape:
    """What a mode's :meth:`LearningMode.check_run` reads of a run."""

    level: str
    one_act: bool
    """the level has a right act and the parent's distribution at every step"""
    episode: int
    """steps per episode (0 where it varies)"""
    num_envs: int
    rollout_steps: int
    total_steps: int | None


@dataclass
class MiniBatch:
    """One minibatch of the update, as a mode's policy loss sees it (B rows)."""

    idx: torch.Tensor
    """[B] rows of the flattened rollout"""
    out: Any
    """the student's :class:`~babyworld.agents.student.StudentOutput` on the rows"""
    window: Any
    """the rows' history :class:`~babyworld.agents.history.Window`"""
    mask: torch.Tensor
    """[B, A] allowed actions"""
    action: torch.Tensor
    """[B] the acts taken"""
    logp: torch.Tensor
    """[B] their log-probs under the current student"""
    logp_old: torch.Tensor
    """[B] their log-probs under the behaviour policy"""
    entropy: torch.Tensor
    """scalar mean entropy of the student's policy"""
    advantages: torch.Tensor
    """[B] the mode's advantages (see :meth:`LearningMode.advantages`)"""


@dataclass
class PolicyTerms:
    """What a mode's policy loss returns: the loss and the diagnostics logged under ``losses/``."""

    loss: torch.Tensor
    pg: torch.Tensor
    clipfrac: torch.Tensor
    approx_kl: torch.Tensor
    distill: torch.Tensor


@dataclass
class RolloutFacts:
    """What the supervision accounting reads from one rollout (means over its steps)."""

    p_right: float
    """fraction of the rollout's exchanges the rewards' verdict judged right"""
    exchanges_per_step: float
    """exchanges ended per step"""
    episodes_per_step: float
    """episodes ended per step"""
    exchanges_per_episode: int
    """exchanges of an episode (rounded mean; 1 if none ended)"""
    policy_bits: float
    """mean entropy of the acting policy, in bits"""


class LearningMode:
    """One learning signal. Subclasses override the hooks they need.

    Args:
        cfg: the ``--modes.*`` settings (each mode reads the ones it uses).
    """

    name: ClassVar[str] = ""
    """the mode's name (``--mode``)"""
    phase_id: ClassVar[int] = 0
    """logged as ``charts/phase`` while this signal is in force"""
    student_acts: ClassVar[bool] = True
    """whether the student's own policy acts (else its episodes are not counted as its own)"""
    cut_at_exchange: ClassVar[bool] = True
    """whether GAE may stop at exchange ends (with ``--ppo.exchange-horizon``)"""

    def __init__(self, cfg: ModeConfig) -> None:
        self.cfg = cfg

    # ------------------------------------------------------------------ checks
    @classmethod
    def check(cls, cfg: ModeConfig, total_steps: int | None = None) -> None:
        """Refuse settings the mode cannot run with (before anything is built)."""
        if cfg.group_size > 1 and cls.group_size_of(cfg) == 1:
            raise ValueError(
                f"--modes.group-size applies to the group modes (grpo, sdpo), not {cls.name!r}"
            )

    @classmethod
    def check_run(cls, cfg: ModeConfig, run: RunShape) -> None:
        """Refuse a run the mode cannot train: its settings, then the envs and budget of ``run``.

        The one check of a run's shape, made by the trainer and, before anything starts, by the
        ablation harness for every label and level.
        """
        cls.check(cfg, run.total_steps)
        if cls.needs_parent(cfg) and not run.one_act:
            raise ValueError(
                f"mode {cls.name!r} needs the parent's distribution or right act at every step, "
                f"which exist on one-act levels: train on {rungs_text('one_act')} with the fixed "
                f"curriculum (got {run.level!r})"
            )

    @classmethod
    def group_size_of(cls, cfg: ModeConfig) -> int:
        """Envs per group replaying one task seed (1: no groups)."""
        return 1

    @classmethod
    def needs_parent(cls, cfg: ModeConfig) -> bool:
        """Whether the mode reads the parent's distribution or the right act at every step."""
        return False

    @classmethod
    def shows_right_act(cls, cfg: ModeConfig) -> bool:
        """Whether the verifier's right act reaches the student's training (a demonstration)."""
        return False

    def step_fields(
        self, n_actions: int, heard_length: int
    ) -> dict[str, tuple[tuple, torch.dtype]]:
        """The extra per-step rollout fields the mode writes: name -> (shape per env, dtype).

        The trainer allocates each as ``buf[name]`` ``[T, N, *shape]`` and flattens it into
        ``flat[name]`` for the minibatches.
        """
        return {}

    def attach(self, trainer: ModeContext) -> None:
        """Build what the mode keeps (e.g. a teacher); the trainer has run :meth:`check_run`."""

    def active(self, global_step: int) -> LearningMode:
        """The signal in force for a rollout starting at ``global_step`` (itself by default)."""
        return self

    # ------------------------------------------------------------------ collect
    def begin_rollout(self, trainer: ModeContext) -> None:
        """Called before a rollout's first step."""

    def before_act(self, trainer: ModeContext, t: int) -> torch.Tensor | None:
        """Called before step ``t`` acts; may return the parent's ``[N, A]`` log-distribution."""
        return None

    def behaviour_logits(
        self, logits: torch.Tensor, mask: torch.Tensor, parent_lp: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits of the distribution the acts are sampled from (the student's by default)."""
        return logits

    def after_env_step(
        self, trainer: ModeContext, t: int, heard: torch.Tensor, n: torch.Tensor, infos: dict
    ) -> None:
        """Called after step ``t`` with what every env heard before acting.

        ``heard`` ``[N, L]`` ids and ``n`` ``[N]`` lengths; ``infos`` is the step's vector info.
        """

    def end_step(self, trainer: ModeContext, t: int) -> None:
        """Called at the end of step ``t`` (rewards stored)."""

    def shape_rewards(self, trainer: ModeContext) -> None:
        """Rewrite the rollout's rewards ``trainer.buf["reward"]`` ``[T, N, R]`` in place."""

    # ------------------------------------------------------------------ update
    def advantage_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """Weights that combine the per-component advantages (the env's by default)."""
        return weights

    def advantages(
        self, trainer: ModeContext, adv_vec: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """``[T, N]`` advantages from GAE's per-component ``[T, N, R]``."""
        return losses.combine_components(adv_vec, self.advantage_weights(weights))

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """The policy term of the loss on one minibatch (none by default)."""
        zero = torch.zeros(())
        kl = ((mb.logp_old - mb.logp).mean()).detach()
        return PolicyTerms(zero, zero, zero, kl, zero)

    def after_update(self, trainer: ModeContext) -> None:
        """Called after every update."""

    def update_metrics(self) -> dict[str, float]:
        """Diagnostics of the last update to log (e.g. ``sd/kl``); none by default."""
        return {}

    # ------------------------------------------------------------------ accounting
    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """Bits per step of external, action-dependent information driving the policy, by kind.

        See :mod:`babyworld.agents.supervision` for the definitions; a mode that learns from
        nothing external (``predict``) reports none.
        """
        return {}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """What the mode keeps between updates (for checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def ema_update_(teacher: torch.nn.Module, student: torch.nn.Module, decay: float) -> None:
    """In place, ``teacher <- decay * teacher + (1 - decay) * student``, parameter by parameter.

    The EMA teacher's step of the self-distillation modes (``--modes.teacher ema``); never
    differentiated. The two modules must have the same parameters in the same order.
    """
    with torch.no_grad():
        for pt, ps in zip(teacher.parameters(), student.parameters(), strict=True):
            pt.mul_(decay).add_(ps, alpha=1 - decay)


def teacher_divergence(
    cfg: Any, trainer: ModeContext, mb: MiniBatch, teacher: torch.nn.Module, inputs: tuple
) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-distillation's loss: the teacher's distribution against the student's.

    The teacher reads ``inputs`` and is not differentiated; the divergence takes the
    ``--modes.*`` settings ``cfg``.

    Args:
        cfg: the mode's settings (``divergence``, ``alpha``, ``support``, ``top_k``).
        trainer: the trainer (for the number of actions).
        mb: the minibatch; its ``out.logits`` ``[B, A]`` are the student's.
        teacher: the teacher model (the student's live weights, an EMA or the initial copy).
        inputs: the teacher's window ``(heard, heard_len, percept, prev_action, valid)``.

    Returns:
        ``(loss, teacher log-probabilities [B, A])``.
    """
    with torch.no_grad():
        t_lp = torch.log_softmax(teacher(*inputs, mb.mask).logits, -1)
    loss = divergences.distill_loss(
        mb.out.logits,
        t_lp,
        cfg.divergence,
        cfg.alpha,
        mb.mask,
        support=cfg.support,
        k=min(cfg.top_k, trainer.n_actions),
        actions=mb.action,
    )
    return loss, t_lp
