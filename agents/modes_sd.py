"""SDPO and SDFT as they are: GRPO plus self-distillation from the student reading hindsight.

Both run GRPO's groups (``--modes.group-size`` replays of one task seed) and blend its policy
loss with a self-distillation loss, TRL's convex blend (``--modes.distill-weight`` ``w``)::

    L_policy = (1 - w) * L_GRPO + w * D(teacher || student)

The **teacher** is the student itself (live weights, an EMA copy, or its initial weights:
``--modes.teacher``), never differentiated, reading the episode continued past the act it judges
— the window rolled by one step whose new last slot holds a previous act and, before the request
heard at the acting step, a hindsight context. The hindsight act is, for **SDPO**, a successful
peer's act from the same group at the same step (lasgroup/SDPO's ``_get_solution``: the first
successful peer, not the row itself), else none; for **SDFT**, the right act (a demonstration).
``--modes.hindsight`` says how the teacher reads it:

- ``act`` (default): as the new slot's **previous act**, the input through which the student
  sees its own acts (so the student learns to read it by acting), after which the teacher hears
  the parent's reaction to it (SDPO's peer's ``info["parent_feedback"]``; a demonstration has
  none). Without a hindsight act (no peer succeeded) the slot shows the judged act and the
  parent's reaction to it.
- ``text`` (runs saved before the setting): the previous act is always the judged act and the
  context is words, ``"the baby says <word>"`` for the peer's or the right act, else the
  parent's reaction to the judged act. The baby never hears ``baby``, ``says`` or ``sym<i>``:
  their embeddings never train, so this teacher cannot read its hint (kept as a control).
- ``none``: no hindsight; the teacher reads the student's own window (a control: what the pull
  towards the teacher's weights does without any hint; its hindsight gain is 0 by construction).

Success of a peer is the verdict the rewards read (``info["success"]``), as SDPO's reward.
Diagnostics per update, averaged over the rollout's steps: ``sd/kl`` (the divergence's mean),
``sd/teacher_minus_student_right`` (the teacher's probability of the right act minus the
student's: what distillation pulls towards, lagging weights included) and
``sd/hindsight_gain_right`` (the teacher's probability of the right act with its hindsight minus
the same teacher's on the student's own window: what the hindsight alone tells it).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from babyworld.agents import supervision
from babyworld.agents.history import Window
from babyworld.agents.mode_base import (
    MiniBatch,
    ModeContext,
    PolicyTerms,
    RolloutFacts,
    ema_update_,
    teacher_divergence,
)
from babyworld.agents.modes_rl import GRPO, ppo_terms

if TYPE_CHECKING:  # pragma: no cover
    from babyworld.agents.modes import ModeConfig


def hindsight_window(
    window: Window, heard: torch.Tensor, heard_len: torch.Tensor, shown: torch.Tensor
) -> Window:
    """The teacher's window: ``window`` rolled one step, with a new last slot.

    Args:
        window: ``[B, H, ...]`` the student's windows (last slot: the step that acted).
        heard: ``[B, L]`` the new slot's heard ids (hindsight context, then the request).
        heard_len: ``[B]`` their lengths.
        shown: ``[B]`` the new slot's previous act (the hindsight act, or the act judged).

    Returns:
        A new :class:`Window`; the percept of the new slot is the acting step's.
    """
    w = Window(*(torch.roll(x, -1, dims=1) for x in window.as_tuple()))
    w.heard[:, -1], w.heard_len[:, -1] = heard, heard_len
    w.percept[:, -1] = window.percept[:, -1]
    w.prev_action[:, -1] = shown
    w.valid[:, -1] = True
    return w


def first_successful_peer(success: np.ndarray, group_size: int) -> list[int | None]:
    """Per row, the first *other* member of its group whose act succeeded (None: no such peer).

    Rows ``gG .. gG + G - 1`` form group ``g``. E.g. ``success = [F, T, T, F]``, ``G = 2``
    gives ``[1, None, None, 2]``: row 0's peer row 1 succeeded, row 1's peer row 0 did not, and
    likewise in the second group.
    """
    out: list[int | None] = []
    for i in range(len(success)):
        g0 = i - i % group_size
        peers = [j for j in range(g0, g0 + group_size) if j != i and success[j]]
        out.append(peers[0] if peers else None)
    return out


class SDPO(GRPO):
    """GRPO blended with self-distillation: a successful peer's act, else the feedback."""

    name = "sdpo"
    phase_id = 6
    context = "peer"

    def step_fields(self, n_actions: int, heard_length: int) -> dict[str, tuple[tuple, Any]]:
        """The right act (demonstrations) and the hindsight input, per step."""
        return {
            "right": ((), torch.long),
            "sd_heard": ((heard_length,), torch.long),
            "sd_len": ((), torch.long),
            "sd_act": ((), torch.long),
        }

    def __init__(self, cfg: ModeConfig) -> None:
        super().__init__(cfg)
        self.teacher_model: torch.nn.Module | None = None
        self._diag: dict[str, list[float]] = {}

    @classmethod
    def needs_parent(cls, cfg: ModeConfig) -> bool:
        """The right act (the diagnostics; SDFT's demonstration) exists on one-act levels."""
        return True

    def attach(self, trainer: ModeContext) -> None:
        """GRPO's checks; the teacher copy (unless live)."""
        super().attach(trainer)
        self.teacher_model = None
        if self.cfg.teacher != "live":
            self.teacher_model = copy.deepcopy(trainer.model).requires_grad_(False).eval()

    def begin_rollout(self, trainer: ModeContext) -> None:
        """Per-step scratch: feedback and verdicts of the envs."""
        self._feedback = [""] * trainer.n
        self._success = np.zeros(trainer.n, dtype=bool)

    def before_act(self, trainer: ModeContext, t: int) -> torch.Tensor | None:
        """Record the right acts (diagnostics, demonstrations)."""
        right = trainer.right_actions().tolist()
        trainer.buf["right"][t] = torch.as_tensor(right)
        return None

    def after_env_step(
        self, trainer: ModeContext, t: int, heard: torch.Tensor, n: torch.Tensor, infos: dict
    ) -> None:
        """Keep every env's reaction and verdict for :meth:`end_step`."""
        self._feedback = list(infos["parent_feedback"])
        ended = np.asarray(infos["exchange_end"], dtype=bool)
        self._success = ended & np.asarray(infos["success"], dtype=bool)

    def _hindsight(self, trainer: ModeContext, i: int, t: int, peer: int | None) -> tuple[str, int]:
        """Env ``i``'s hindsight at step ``t``: the context's words and the slot's previous act."""
        b = trainer.buf
        judged = int(b["action"][t, i])
        if self.context == "demonstration":
            shown, heard = int(b["right"][t, i]), ""
        elif peer is not None:
            shown, heard = int(b["action"][t, peer]), self._feedback[peer]
        else:
            return self._feedback[i], judged
        if self.cfg.hindsight == "act":
            return heard, shown
        return f"the baby says {trainer.level.words[shown]}", judged

    def end_step(self, trainer: ModeContext, t: int) -> None:
        """Build every env's hindsight input (context, then the request) into ``sd_*``."""
        if self.cfg.hindsight == "none":
            return  # the teacher reads the student's own window
        b = trainer.buf
        peers = first_successful_peer(self._success, self.group_size_of(self.cfg))
        for i in range(trainer.n):
            context, shown = self._hindsight(trainer, i, t, peers[i])
            b["sd_act"][t, i] = shown
            extra = [int(x) for x in trainer.level.tokenizer.encode(context)]
            n = int(b["window"].heard_len[t, i, -1])
            ids = (extra + b["window"].heard[t, i, -1, :n].tolist())[-trainer.heard_length :]
            b["sd_heard"][t, i] = 0
            b["sd_heard"][t, i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            b["sd_len"][t, i] = len(ids)

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """``(1 - w) * GRPO + w * D(teacher || student)``; records the diagnostics."""
        rl = ppo_terms(trainer, mb, normalise=False)
        f = trainer.flat
        tw = mb.window  # hindsight "none": the student's own window
        if self.cfg.hindsight != "none":
            tw = hindsight_window(
                mb.window, f["sd_heard"][mb.idx], f["sd_len"][mb.idx], f["sd_act"][mb.idx]
            )
        teacher = self.teacher_model or trainer.model
        sd, t_lp = teacher_divergence(self.cfg, trainer, mb, teacher, tw.as_tuple())
        with torch.no_grad():
            right = f["right"][mb.idx][:, None]
            t_right = t_lp.exp().gather(-1, right)[:, 0]
            s_right = torch.softmax(mb.out.logits, -1).gather(-1, right)[:, 0]
            if self.cfg.hindsight == "none":  # the teacher read the student's window already
                plain = t_right
            elif self.teacher_model is None:  # a live teacher is the student: mb.out
                plain = s_right
            else:
                plain = teacher(*mb.window.as_tuple(), mb.mask).logits.softmax(-1)
                plain = plain.gather(-1, right)[:, 0]
        for key, value in (
            ("sd/kl", sd.detach()),
            ("sd/teacher_minus_student_right", (t_right - s_right).mean()),
            ("sd/hindsight_gain_right", (t_right - plain).mean()),
        ):
            self._diag.setdefault(key, []).append(float(value))
        w = self.cfg.distill_weight
        return PolicyTerms((1 - w) * rl.loss + w * sd, rl.pg, rl.clipfrac, rl.approx_kl, sd)

    def after_update(self, trainer: ModeContext) -> None:
        """The EMA teacher's step."""
        if self.teacher_model is not None and self.cfg.teacher == "ema":
            ema_update_(self.teacher_model, trainer.model, self.cfg.ema_decay)

    def update_metrics(self) -> dict[str, float]:
        """The ``sd/*`` diagnostics of the last update, means over its minibatches (then cleared)."""
        out = {k: float(np.mean(v)) for k, v in self._diag.items()}
        self._diag = {}
        return out

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """GRPO's verdicts (or counts), plus what the parent's reaction may add to them.

        The reaction is a function of the act, so the step's act-dependent signals carry at most
        ``H(pi)`` together (as in ``baby``): it counts ``max(0, H(pi) - GRPO's bits per step)``. A
        successful peer's act is the student's own, selected by the verdicts already counted.
        """
        out = super().supervision(trainer, facts)
        out["response"] = max(0.0, facts.policy_bits - sum(out.values()))
        return out

    def state_dict(self) -> dict[str, Any]:
        """The carry and the teacher."""
        out = super().state_dict()
        out["teacher_model"] = (
            None if self.teacher_model is None else self.teacher_model.state_dict()
        )
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        super().load_state_dict(state)
        if self.teacher_model is not None:
            self.teacher_model.load_state_dict(state["teacher_model"])


class SDFT(SDPO):
    """GRPO blended with self-distillation from a demonstration of the right act."""

    name = "sdft"
    phase_id = 7
    context = "demonstration"

    @classmethod
    def shows_right_act(cls, cfg: ModeConfig) -> bool:
        """The demonstration is the verifier's right act."""
        return True

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """GRPO's verdicts (or counts), plus what the demonstrated act may add to them.

        A step's right act is one of ``A`` allowed acts: everything heard about it, the count
        included, is at most ``log2 A`` bits, so the demonstration counts
        ``max(0, log2 A - GRPO's bits per step)``.
        """
        out = GRPO.supervision(self, trainer, facts)
        mask = trainer.buf["mask"].flatten(0, 1)
        demo = supervision.demonstration_bits(mask) - sum(out.values())
        out["demonstration"] = float(demo.clamp(min=0.0).mean())
        return out
