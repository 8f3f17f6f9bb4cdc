"""Keeping earlier stages: an L2 anchor to the weights of the last passed stage.

``--ppo.anchor-coef λ`` (0: off) adds ``λ · Σ_i (θ_i − θ*_i)²`` to every minibatch's loss, ``θ*``
the student's parameters when the curriculum last promoted it (the end of the last passed stage;
before the first promotion there is no anchor and the term is 0). The simplest weight
regulariser against forgetting; EWC weighs each parameter by its Fisher information instead.
"""

from __future__ import annotations

from typing import Any

import torch


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
