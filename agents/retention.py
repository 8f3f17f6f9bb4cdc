"""Keeping earlier stages: the student of the last passed stage, or each stage's last steps.

Two mechanisms read ``θ*``, the student's parameters when the curriculum last promoted it (the
end of the last passed stage; before the first promotion there is none and both terms are 0):

- ``--ppo.anchor-coef λ`` (:class:`WeightAnchor`) adds ``λ · Σ_i (θ_i − θ*_i)²`` to every
  minibatch's loss: the simplest weight regulariser against forgetting (EWC weighs each
  parameter by its Fisher information instead);
- ``--ppo.recall-coef λ`` (:class:`StageRecall`) adds ``λ · mean_s KL(π_θ*(·|s) ‖ π_θ(·|s))``
  over the minibatch's steps ``s`` of stages passed by then (the ladder's re-tests) and the
  allowed acts: self-distillation to the old self on the old stages' own situations, on-policy
  (SDFT's recipe for learning without forgetting).

A third keeps steps rather than a student:

- ``--ppo.replay-coef λ`` (:class:`StageReplay`) keeps, while a stage is the current one, its last
  ``--ppo.replay-size`` steps as the student acted on them (the window, the allowed acts and the
  policy then, ``π_b(·|s)``); once the stage is passed they are frozen, and every minibatch adds
  ``λ · mean_s KL(π_b(·|s) ‖ π_θ(·|s))`` over ``ceil(f · B)`` steps drawn uniformly from the
  frozen stages (``f``: ``--ppo.replay-fraction``, ``B``: the minibatch size): replay with
  behavioural cloning of the policy that passed each stage (CLEAR, Rolnick et al. 2019, without
  its value-cloning and V-trace terms), at every update, whatever the re-test rate.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from babyworld.agents.divergences import forward_kl


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


class StageReplay:
    """The last steps of each stage, frozen once it is passed, replayed with their policy then."""

    FIELDS = ("heard", "heard_len", "percept", "prev_action", "valid", "mask", "policy")

    def __init__(self, size: int) -> None:
        self.size = size
        self.stage = 0
        """the current stage when last observed (the rings of stages below it are frozen)"""
        self.rings: dict[int, dict[str, torch.Tensor]] = {}
        self._pool: dict[str, torch.Tensor] | None = None  # the frozen rings, concatenated

    def add(self, steps: dict[str, torch.Tensor], task: torch.Tensor) -> None:
        """Keep the rollout's steps of the stages not yet passed (re-tests of old ones are not).

        Args:
            steps: ``[R, ...]`` per field of :data:`FIELDS` (the window's five, the allowed acts,
                the log-policy over them).
            task: ``[R]`` each step's task index.
        """
        for k in sorted(set(task.tolist())):
            if k < self.stage:
                continue
            rows = task == k
            old = self.rings.get(k)
            self.rings[k] = {
                f: (v[rows] if old is None else torch.cat([old[f], v[rows]]))[-self.size :]
                for f, v in steps.items()
            }

    def observe(self, stage: int) -> None:
        """The curriculum's current stage (before an update, after :meth:`add`)."""
        if stage != self.stage:
            self.stage, self._pool = stage, None

    def loss(self, model: torch.nn.Module, rows: int, rng: np.random.Generator) -> torch.Tensor:
        """``mean KL(π_b ‖ π_θ)`` over ``rows`` steps drawn from the frozen stages (0: none yet)."""
        if self._pool is None:
            frozen = [r for k, r in sorted(self.rings.items()) if k < self.stage]
            self._pool = (
                {f: torch.cat([r[f] for r in frozen]) for f in self.FIELDS} if frozen else {}
            )
        pool = self._pool
        if not pool:
            return torch.zeros(())
        idx = torch.as_tensor(rng.integers(0, len(pool["mask"]), rows))
        window = [pool[f][idx] for f in self.FIELDS[:5]]
        mask = pool["mask"][idx]
        logits = model(*window, mask).logits
        return forward_kl(logits, pool["policy"][idx], mask).mean()

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints (the rings' tensors)."""
        return {"stage": self.stage, "rings": self.rings}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (an empty state: nothing kept yet)."""
        self.stage = int(state.get("stage", 0))
        self.rings, self._pool = dict(state.get("rings", {})), None


class Keep:
    """A run's mechanisms against forgetting (``--ppo.anchor-coef``, ``recall-coef``, ``replay-coef``)."""

    def __init__(self, cfg: Any) -> None:
        """``cfg``: the run's :class:`~babyworld.agents.ppo.PPOConfig` (its coefficients)."""
        self.cfg = cfg
        self.anchor, self.recall = WeightAnchor(), StageRecall()
        self.replay = StageReplay(cfg.replay_size)

    @property
    def needs_task(self) -> bool:
        """Whether a term reads each step's task index."""
        return bool(self.cfg.recall_coef or self.cfg.replay_coef)

    def observe(
        self, model: torch.nn.Module, log: dict[str, float],
        steps: dict[str, torch.Tensor] | None = None, task: torch.Tensor | None = None,
    ) -> None:  # fmt: skip
        """Before an update: the curriculum's ``log()`` and the rollout's ``steps`` (replay's)."""
        promotions, stage = int(log.get("promotions", 0)), int(log.get("stage", 0))
        if self.cfg.anchor_coef:
            self.anchor.observe(model, promotions)
        if self.cfg.recall_coef:
            self.recall.observe(model, promotions, stage)
        if self.cfg.replay_coef and steps is not None and task is not None:
            self.replay.add(steps, task)
            self.replay.observe(stage)

    def loss(
        self, model: torch.nn.Module, out: Any, window: tuple, mask: torch.Tensor,
        task: torch.Tensor | None, idx: torch.Tensor, rng: np.random.Generator,
    ) -> torch.Tensor | None:  # fmt: skip
        """The weighted terms of minibatch ``idx`` of the rollout (None when all are off).

        Args:
            model: the student.
            out: its output on the minibatch (``out.logits`` ``[B, A]``).
            window: the minibatch's inputs.
            mask: ``[B, A]`` its allowed acts.
            task: ``[T * N]`` every step's task index (None when no term reads it).
            idx: ``[B]`` the minibatch's rows of the rollout.
            rng: draws the replayed steps.
        """
        cfg, terms = self.cfg, []
        if cfg.anchor_coef:
            terms.append(cfg.anchor_coef * self.anchor.penalty(model))
        if cfg.recall_coef and task is not None:
            terms.append(cfg.recall_coef * self.recall.loss(out.logits, window, mask, task[idx]))
        if cfg.replay_coef:
            rows = math.ceil(cfg.replay_fraction * len(idx))
            terms.append(cfg.replay_coef * self.replay.loss(model, rows, rng))
        return torch.stack(terms).sum() if terms else None

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints."""
        return {
            "anchor": self.anchor.state_dict(),
            "recall": self.recall.state_dict(),
            "replay": self.replay.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], model: torch.nn.Module) -> None:
        """Restore :meth:`state_dict` (an empty state: nothing kept yet)."""
        self.anchor.load_state_dict(state.get("anchor", {}))
        self.recall.load_state_dict(state.get("recall", {}), model)
        self.replay.load_state_dict(state.get("replay", {}))
