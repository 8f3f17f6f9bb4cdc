"""Keeping earlier stages: the student as it was at the end of the last passed stage.

Both mechanisms read ``θ*``, the student's parameters when the curriculum last promoted it (the
end of the last passed stage; before the first promotion there is none and both terms are 0):

- ``--ppo.anchor-coef λ`` (:class:`WeightAnchor`) adds ``λ · Σ_i (θ_i − θ*_i)²`` to every
  minibatch's loss: the simplest weight regulariser against forgetting (EWC weighs each
  parameter by its Fisher information instead);
- ``--ppo.recall-coef λ`` (:class:`StageRecall`) adds ``λ · mean_s KL(π_θ*(·|s) ‖ π_θ(·|s))``
  over the minibatch's steps ``s`` of stages passed by then (the ladder's re-tests) and the
  allowed acts: self-distillation to the old self on the old stages' own situations, on-policy
  (SDFT's recipe for learning without forgetting).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from babyworld.agents.losses import forward_kl


class WeightAnchor:
    """The anchor weights ``θ*`` and the squared distance to them."""

    def __init__(self) -> None:
        self.theta: list[torch.Tensor] | None = None
        self.promotions = 0

    def observe(self, model: torch.nn.Module, promotions: int) -> None:
        """Anchor at ``model``'s weights when the curriculum has promoted since last seen."""
        if promotions > self.promotions:
            self.theta = [p.detach().clone() for p in model.parameters()]
            self.promotions = promotions

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        """``Σ_i (θ_i − θ*_i)²`` over ``model``'s parameters (0 without an anchor)."""
        if self.theta is None:
            return torch.zeros(())
        pairs = zip(model.parameters(), self.theta, strict=True)
        return torch.stack([((p - q) ** 2).sum() for p, q in pairs]).sum()

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints."""
        return {"theta": self.theta, "promotions": self.promotions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (an empty state: no anchor yet)."""
        self.theta = state.get("theta")
        self.promotions = int(state.get("promotions", 0))


class StageRecall:
    """The frozen student of the last promotion, and the divergence from it on old stages."""

    def __init__(self) -> None:
        self.teacher: torch.nn.Module | None = None
        self.promotions = 0
        self.passed = 0
        """stages passed when the teacher was frozen (steps of tasks below this index are recalled)"""

    def observe(self, model: torch.nn.Module, promotions: int, stage: int) -> None:
        """Freeze ``model`` when the curriculum has promoted (to ``stage``) since last seen."""
        if promotions > self.promotions:
            self.teacher = copy.deepcopy(model).requires_grad_(False).eval()
            self.promotions, self.passed = promotions, stage

    def loss(
        self, logits: torch.Tensor, window: tuple, mask: torch.Tensor, task: torch.Tensor
    ) -> torch.Tensor:
        """``mean KL(π_θ* ‖ π_θ)`` over the rows whose ``task`` index is a passed stage (0: none).

        Args:
            logits: ``[B, A]`` the student's; gradient flows into them.
            window: the rows' inputs (``heard, heard_len, percept, prev_action, valid``).
            mask: ``[B, A]`` the allowed acts.
            task: ``[B]`` each row's task index in the curriculum's task space.
        """
        rows = task < self.passed
        if self.teacher is None or not bool(rows.any()):
            return logits.new_zeros(())
        with torch.no_grad():
            old = self.teacher(*(x[rows] for x in window), mask[rows]).logits
            old = torch.log_softmax(old.masked_fill(~mask[rows], -torch.inf), -1)
        return forward_kl(logits[rows], old, mask[rows]).mean()

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints."""
        weights = None if self.teacher is None else self.teacher.state_dict()
        return {"teacher": weights, "promotions": self.promotions, "passed": self.passed}

    def load_state_dict(self, state: dict[str, Any], model: torch.nn.Module) -> None:
        """Restore :meth:`state_dict` (``model``: the student, the teacher's architecture)."""
        self.promotions, self.passed = int(state.get("promotions", 0)), int(state.get("passed", 0))
        self.teacher = None
        if state.get("teacher") is not None:
            self.teacher = copy.deepcopy(model).requires_grad_(False).eval()
            self.teacher.load_state_dict(state["teacher"])


class Keep:
    """A run's mechanisms against forgetting (``--ppo.anchor-coef``, ``--ppo.recall-coef``)."""

    def __init__(self, anchor_coef: float, recall_coef: float) -> None:
        self.anchor_coef, self.recall_coef = anchor_coef, recall_coef
        self.anchor, self.recall = WeightAnchor(), StageRecall()

    def observe(self, model: torch.nn.Module, log: dict[str, float]) -> None:
        """Before an update: the curriculum's ``promotions`` and ``stage`` (its ``log()``)."""
        promotions = int(log.get("promotions", 0))
        if self.anchor_coef:
            self.anchor.observe(model, promotions)
        if self.recall_coef:
            self.recall.observe(model, promotions, int(log.get("stage", 0)))

    def loss(
        self, model: torch.nn.Module, out: Any, window: tuple, mask: torch.Tensor,
        task: torch.Tensor | None, idx: torch.Tensor,
    ) -> torch.Tensor | None:  # fmt: skip
        """The weighted terms of minibatch ``idx`` of the rollout (None when both are off).

        Args:
            model: the student.
            out: its output on the minibatch (``out.logits`` ``[B, A]``).
            window: the minibatch's inputs.
            mask: ``[B, A]`` its allowed acts.
            task: ``[T * N]`` every step's task index (None when no term reads it).
            idx: ``[B]`` the minibatch's rows of the rollout.
        """
        terms = []
        if self.anchor_coef:
            terms.append(self.anchor_coef * self.anchor.penalty(model))
        if self.recall_coef and task is not None:
            terms.append(self.recall_coef * self.recall.loss(out.logits, window, mask, task[idx]))
        return torch.stack(terms).sum() if terms else None

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints."""
        return {"anchor": self.anchor.state_dict(), "recall": self.recall.state_dict()}

    def load_state_dict(self, state: dict[str, Any], model: torch.nn.Module) -> None:
        """Restore :meth:`state_dict` (an empty state: nothing kept yet)."""
        self.anchor.load_state_dict(state.get("anchor", {}))
        self.recall.load_state_dict(state.get("recall", {}), model)
