"""Distillation modes: ``distill`` (from the parent), ``self_distill`` and ``hybrid``."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch

from babyworld.agents import divergences, supervision
from babyworld.agents.history import Window
from babyworld.agents.mode_base import (
    LearningMode,
    MiniBatch,
    ModeContext,
    PolicyTerms,
    RolloutFacts,
    ema_update_,
    teacher_divergence,
)
from babyworld.agents.modes_rl import Switch

if TYPE_CHECKING:  # pragma: no cover
    from babyworld.agents.modes import ModeConfig


class Distill(LearningMode):
    """On-policy distillation from the parent's distribution over the step's actions.

    Per step a divergence between the student's action distribution and the parent's
    (:meth:`~babyworld.envs.base.ParentBabyEnv.teacher_logprobs`); with ``offline`` the acts are
    sampled from the parent instead and the student is fitted to them by maximum likelihood.
    """

    name = "distill"
    phase_id = 2

    def step_fields(self, n_actions: int, heard_length: int) -> dict[str, tuple[tuple, Any]]:
        """The parent's log-distribution over the acts, per step."""
        return {"teacher": ((n_actions,), torch.float32)}

    @classmethod
    def needs_parent(cls, cfg: ModeConfig) -> bool:
        """See :meth:`LearningMode.needs_parent`."""
        return True

    @property
    def student_acts(self) -> bool:  # type: ignore[override]
        """Offline, the parent acts: those episodes are not the student's."""
        return not self.cfg.offline

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """The parent's distribution, ``KL(teacher || uniform)`` per step.

        Offline, one act sampled from it per step: counted by the same bound.
        """
        b = trainer.buf
        bits = supervision.distribution_bits(b["teacher"].flatten(0, 1), b["mask"].flatten(0, 1))
        return {"distribution": float(bits.mean())}

    def before_act(self, trainer: ModeContext, t: int) -> torch.Tensor | None:
        """See :meth:`LearningMode.student_acts`."""
        """See :meth:`LearningMode.before_act`."""
        lp = trainer.parent_logprobs()
        trainer.buf["teacher"][t] = lp
        return lp

    def behaviour_logits(
        self, logits: torch.Tensor, mask: torch.Tensor, parent_lp: torch.Tensor | None
    ) -> torch.Tensor:
        """See :meth:`LearningMode.behaviour_logits`."""
        if self.cfg.offline:  # sample the parent
            assert parent_lp is not None
            return parent_lp
        return logits

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """See :meth:`LearningMode.policy_loss`."""
        if self.cfg.offline:  # maximum likelihood of the parent's sampled acts
            distill = -mb.logp.mean()
        else:
            distill = divergences.distill_loss(
                mb.out.logits,
                trainer.flat["teacher"][mb.idx],
                self.cfg.divergence,
                self.cfg.alpha,
                mb.mask,
            )
        zero = torch.zeros(())
        kl = ((mb.logp_old - mb.logp).mean()).detach()
        return PolicyTerms(self.cfg.distill_coef * distill, zero, zero, kl, distill)


class SelfDistill(LearningMode):
    """The student reading extra context is the teacher (SDPO / SDFT style, one step).

    The teacher reads the parent's reaction to the act, or a demonstration of the right act, in
    the current step's input; it is not differentiated (live weights, an EMA copy, or the frozen
    initial weights); trained on the student's own rollouts.
    """

    name = "self_distill"
    phase_id = 3

    def step_fields(self, n_actions: int, heard_length: int) -> dict[str, tuple[tuple, Any]]:
        """The teacher's input at each step: heard ids with the extra context, and their length."""
        return {"sd_heard": ((heard_length,), torch.long), "sd_len": ((), torch.long)}

    def __init__(self, cfg: ModeConfig) -> None:
        super().__init__(cfg)
        self.teacher_model: torch.nn.Module | None = None

    @classmethod
    def needs_parent(cls, cfg: ModeConfig) -> bool:
        """See :meth:`LearningMode.needs_parent`."""
        return cfg.context == "demonstration"

    @classmethod
    def shows_right_act(cls, cfg: ModeConfig) -> bool:
        """With the demonstration context."""
        return cfg.context == "demonstration"

    def attach(self, trainer: ModeContext) -> None:
        """See :meth:`LearningMode.attach`."""
        super().attach(trainer)
        if self.cfg.teacher != "live":
            self.teacher_model = copy.deepcopy(trainer.model).requires_grad_(False).eval()

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """The parent's reaction to the act (at most ``H(pi)``), or the right act shown."""
        if self.cfg.context == "demonstration":
            mask = trainer.buf["mask"].flatten(0, 1)
            return {"demonstration": float(supervision.demonstration_bits(mask).mean())}
        return {"response": facts.policy_bits}

    def begin_rollout(self, trainer: ModeContext) -> None:
        """See :meth:`LearningMode.begin_rollout`."""
        self._ids = torch.zeros(trainer.n, trainer.heard_length, dtype=torch.long)
        self._len = torch.zeros(trainer.n, dtype=torch.long)

    def before_act(self, trainer: ModeContext, t: int) -> torch.Tensor | None:
        """See :meth:`LearningMode.before_act`."""
        if self.cfg.context == "demonstration":
            self._right = trainer.right_actions().tolist()
        return None

    def after_env_step(
        self, trainer: ModeContext, t: int, heard: torch.Tensor, n: torch.Tensor, infos: dict
    ) -> None:
        """See :meth:`LearningMode.after_env_step`."""
        for i in range(trainer.n):  # the teacher's extra text is tokenised per env
            self.teacher_input(trainer, i, heard[i], int(n[i]), infos["parent_feedback"][i])

    def teacher_input(self, trainer: ModeContext, i: int, heard: torch.Tensor, n: int, fb: str):
        """What the teacher reads at env ``i``'s current step.

        The extra context comes *before* the current request, which stays right-aligned where
        the student reads it (agents/student.py); a long extra text loses its start, never the
        request.
        """
        level = trainer.level
        if self.cfg.context == "feedback":  # the parent's reaction to the act, alone
            extra = level.tokenizer.encode(fb)
        else:  # a demonstration of the right act
            extra = level.tokenizer.encode(f"the baby says {level.words[self._right[i]]}")
        ids = ([int(x) for x in extra] + heard[:n].tolist())[-trainer.heard_length :]
        self._ids[i] = torch.zeros(trainer.heard_length, dtype=torch.long)
        self._ids[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        self._len[i] = len(ids)

    def end_step(self, trainer: ModeContext, t: int) -> None:
        """See :meth:`LearningMode.end_step`."""
        trainer.buf["sd_heard"][t], trainer.buf["sd_len"][t] = self._ids, self._len

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """See :meth:`LearningMode.policy_loss`."""
        distill = self.loss(trainer, mb)
        zero = torch.zeros(())
        kl = ((mb.logp_old - mb.logp).mean()).detach()
        return PolicyTerms(self.cfg.distill_coef * distill, zero, zero, kl, distill)

    def loss(self, trainer: ModeContext, mb: MiniBatch) -> torch.Tensor:
        """Divergence from the student-with-extra-context (not differentiated) to the student."""
        w: Window = mb.window
        heard, heard_len = w.heard.clone(), w.heard_len.clone()
        heard[:, -1] = trainer.flat["sd_heard"][mb.idx]
        heard_len[:, -1] = trainer.flat["sd_len"][mb.idx]
        inputs = (heard, heard_len, w.percept, w.prev_action, w.valid)
        loss, _ = teacher_divergence(
            self.cfg, trainer, mb, self.teacher_model or trainer.model, inputs
        )
        return loss

    def after_update(self, trainer: ModeContext) -> None:
        """See :meth:`LearningMode.after_update`."""
        if self.teacher_model is not None and self.cfg.teacher == "ema":
            ema_update_(self.teacher_model, trainer.model, self.cfg.ema_decay)

    def state_dict(self) -> dict[str, Any]:
        """See :meth:`LearningMode.state_dict`."""
        return {
            "teacher_model": None if self.teacher_model is None else self.teacher_model.state_dict()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :meth:`LearningMode.load_state_dict`."""
        if self.teacher_model is not None:
            self.teacher_model.load_state_dict(state["teacher_model"])


class Hybrid(Switch):
    """``distill`` for ``switch_steps`` env steps (whole rollouts), then ``baby``."""

    name = "hybrid"
    first = Distill
