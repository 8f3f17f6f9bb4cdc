"""Reinforcement-learning modes: ``baby``, ``sparse_ppo``, ``grpo`` and ``predict_first``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from babyworld.agents import losses, supervision
from babyworld.agents.mode_base import (
    LearningMode,
    MiniBatch,
    ModeContext,
    PolicyTerms,
    RolloutFacts,
    RunShape,
)
from babyworld.envs.registration import rungs_text
from babyworld.rewards import REWARD_INDEX

if TYPE_CHECKING:  # pragma: no cover
    from babyworld.agents.modes import ModeConfig

#: GRPO's default group size (``--modes.group-size`` unset).
DEFAULT_GROUP = 4


def ppo_terms(trainer: ModeContext, mb: MiniBatch, normalise: bool) -> PolicyTerms:
    """PPO's clipped surrogate minus the entropy bonus on one minibatch.

    With ``normalise`` the minibatch's advantages are standardised first (CleanRL's
    ``norm_adv``); group-relative advantages are already on their scale and are not.
    """
    adv = mb.advantages
    if normalise and len(mb.idx) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg, clipfrac, kl = losses.ppo_policy_loss(mb.logp, mb.logp_old, adv, trainer.cfg.clip)
    loss = pg - trainer.cfg.ent_coef * mb.entropy
    return PolicyTerms(loss, pg, clipfrac, kl, torch.zeros(()))


class Baby(LearningMode):
    """PPO on the weighted reward vector, per act (GAE stops at exchange ends)."""

    name = "baby"
    phase_id = 0

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """The task verdict, the consistency score beyond it, and ``progress`` once per episode.

        Every act-dependent signal of a step is a function of the act, so together they carry
        at most ``H(pi)`` bits: the score counts only what it may add to the verdict. Progress
        is a function of the episode's verdicts: it counts only when they are not heard.
        """
        w = trainer.weights
        task, cons, prog = (
            bool(w[REWARD_INDEX[k]] != 0) for k in ("task", "consistency", "progress")
        )
        verdict = supervision.verdict_bits(facts.p_right) * facts.exchanges_per_step
        out = {"verdict": verdict if task else 0.0}
        out["response"] = max(0.0, facts.policy_bits - out["verdict"]) if cons else 0.0
        count = supervision.episode_count_bits(facts.p_right, facts.exchanges_per_episode)
        out["progress"] = count * facts.episodes_per_step if prog and not task else 0.0
        return out

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """See :meth:`LearningMode.policy_loss`."""
        return ppo_terms(trainer, mb, normalise=True)


class SparsePPO(LearningMode):
    """PPO on the ``task`` component alone, summed over the episode and paid at its last step.

    No dense components and no exchange horizon: credit flows back through the whole episode by
    GAE with a learnt critic. (The ablation's end-of-episode PPO control; ``sparse`` in older
    configs.)
    """

    name = "sparse_ppo"
    phase_id = 1
    cut_at_exchange = False

    def __init__(self, cfg: ModeConfig) -> None:
        super().__init__(cfg)
        self.carry: torch.Tensor | None = None  # task reward of episodes still running

    def attach(self, trainer: ModeContext) -> None:
        """See :meth:`LearningMode.attach`."""
        super().attach(trainer)
        self.carry = torch.zeros(trainer.n)

    def shape_rewards(self, trainer: ModeContext) -> None:
        """See :meth:`LearningMode.shape_rewards`."""
        b = trainer.buf
        paid, self.carry = losses.sparse_episode_returns(
            b["reward"][..., REWARD_INDEX["task"]], b["episode_end"], self.carry
        )
        b["reward"].zero_()
        b["reward"][..., REWARD_INDEX["task"]] = paid

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """One count of right exchanges per episode (``H(Binomial(E, p))``)."""
        count = supervision.episode_count_bits(facts.p_right, facts.exchanges_per_episode)
        return {"episode_count": count * facts.episodes_per_step}

    def advantage_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """See :meth:`LearningMode.advantage_weights`."""
        only = torch.zeros_like(weights)
        only[REWARD_INDEX["task"]] = 1.0
        return only

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """See :meth:`LearningMode.policy_loss`."""
        return ppo_terms(trainer, mb, normalise=True)

    def state_dict(self) -> dict[str, Any]:
        """See :meth:`LearningMode.state_dict`."""
        return {"carry": self.carry.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :meth:`LearningMode.load_state_dict`."""
        self.carry = state["carry"].clone()


class GRPO(SparsePPO):
    """Group-relative policy optimisation over G replays of one task seed.

    The envs run in groups of ``G`` (``--modes.group-size``, default 4, at least 2) that replay
    the same task seed every episode (the same scenes and requests, G attempts). With
    ``--modes.group-by exchange`` (the default) an act's return ``R`` is its own exchange's
    ``task`` reward, compared with the group's answers to the same exchange (the same step); with
    ``episode`` it is the episode's summed ``task`` reward, paid at its end, and every step of the
    episode gets its advantage. Either way the advantage is ``(R - mean_group) / (std_group +
    eps)`` (sample standard deviation, as TRL), no critic in the policy term. The clipped PPO
    surrogate (the GRPO objective without a reference KL) is applied to these advantages without
    re-normalising them per minibatch.
    """

    name = "grpo"
    phase_id = 5

    @classmethod
    def group_size_of(cls, cfg: ModeConfig) -> int:
        """See :meth:`LearningMode.group_size_of`."""
        return DEFAULT_GROUP if cfg.group_size == 0 else cfg.group_size

    @classmethod
    def check(cls, cfg: ModeConfig, total_steps: int | None = None) -> None:
        """See :meth:`LearningMode.check`."""
        g = cls.group_size_of(cfg)
        if g < 2:
            raise ValueError(
                f"mode {cls.name!r} compares the G replays of a task seed with each other and "
                f"needs --modes.group-size G >= 2 (default {DEFAULT_GROUP}), got {g}"
            )

    @classmethod
    def check_run(cls, cfg: ModeConfig, run: RunShape) -> None:
        """See :meth:`LearningMode.check_run`: groups of whole episodes of one-act levels."""
        super().check_run(cfg, run)
        if not run.one_act:
            raise ValueError(
                f"mode {cls.name!r} (--modes.group-size > 1) needs fixed-length episodes: train "
                f"on {rungs_text('one_act')} with the fixed curriculum (got level {run.level!r})"
            )
        if run.rollout_steps % run.episode:
            raise ValueError(
                f"--ppo.rollout-steps {run.rollout_steps} must be a multiple of {run.level}'s "
                f"episode length {run.episode} for group-relative advantages"
            )
        g = cls.group_size_of(cfg)
        if run.num_envs % g:
            raise ValueError(
                f"num_envs {run.num_envs} must be a multiple of --modes.group-size {g} (GRPO "
                "groups of envs)"
            )

    def shape_rewards(self, trainer: ModeContext) -> None:
        """Only the ``task`` component: per act (by exchange), or summed per episode."""
        if self.cfg.group_by == "episode":
            super().shape_rewards(trainer)
            return
        r = trainer.buf["reward"]
        task = r[..., REWARD_INDEX["task"]].clone()
        r.zero_()
        r[..., REWARD_INDEX["task"]] = task

    def supervision(self, trainer: ModeContext, facts: RolloutFacts) -> dict[str, float]:
        """Each exchange's verdict (by exchange), or one count per episode (by episode)."""
        if self.cfg.group_by == "episode":
            return super().supervision(trainer, facts)
        return {"verdict": supervision.verdict_bits(facts.p_right) * facts.exchanges_per_step}

    def advantages(
        self, trainer: ModeContext, adv_vec: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """See :meth:`LearningMode.advantages`."""
        b = trainer.buf
        return losses.lockstep_group_advantages(
            b["reward"][..., REWARD_INDEX["task"]],
            b["episode_end"],
            trainer.level.exchanges,
            self.group_size_of(self.cfg),
            per=self.cfg.group_by,
        )

    def policy_loss(self, trainer: ModeContext, mb: MiniBatch) -> PolicyTerms:
        """See :meth:`LearningMode.policy_loss`."""
        return ppo_terms(trainer, mb, normalise=False)


class Predict(LearningMode):
    """Uniform-random acts, no policy loss: only the world model, latent and critic learn."""

    name = "predict"
    phase_id = 4
    student_acts = False

    def behaviour_logits(
        self, logits: torch.Tensor, mask: torch.Tensor, parent_lp: torch.Tensor | None
    ) -> torch.Tensor:
        """See :meth:`LearningMode.behaviour_logits`."""
        return torch.where(mask, 0.0, -torch.inf)


class Switch(LearningMode):
    """A first signal for ``switch_steps`` env steps (whole rollouts), then ``baby``."""

    first: type[LearningMode] = Predict

    def __init__(self, cfg: ModeConfig) -> None:
        super().__init__(cfg)
        self.before, self.after = self.first(cfg), Baby(cfg)

    @classmethod
    def check(cls, cfg: ModeConfig, total_steps: int | None = None) -> None:
        """See :meth:`LearningMode.check`."""
        super().check(cfg, total_steps)
        if total_steps is not None and cfg.switch_steps >= total_steps:
            raise ValueError(
                f"--modes.switch-steps {cfg.switch_steps} leaves no steps of 'baby' in a run of "
                f"{total_steps} steps; make it smaller than --steps"
            )

    @classmethod
    def needs_parent(cls, cfg: ModeConfig) -> bool:
        """See :meth:`LearningMode.needs_parent`."""
        return cls.first.needs_parent(cfg)

    @classmethod
    def check_run(cls, cfg: ModeConfig, run: RunShape) -> None:
        """See :meth:`LearningMode.check_run`: some whole rollouts of ``baby`` must be left."""
        super().check_run(cfg, run)
        per = run.num_envs * run.rollout_steps
        first_baby = -(-cfg.switch_steps // per) * per
        if run.total_steps is not None and first_baby >= run.total_steps:
            raise ValueError(
                f"--modes.switch-steps {cfg.switch_steps} rounds up to {first_baby} "
                f"(whole rollouts of {per} steps), which leaves no 'baby' rollout in "
                f"{run.total_steps} steps; lower it or raise --steps"
            )

    def attach(self, trainer: ModeContext) -> None:
        """See :meth:`LearningMode.attach`."""
        super().attach(trainer)
        self.before.attach(trainer)
        self.after.attach(trainer)

    def active(self, global_step: int) -> LearningMode:
        """See :meth:`LearningMode.active`."""
        return self.before if global_step < self.cfg.switch_steps else self.after

    def step_fields(self, n_actions: int, heard_length: int) -> dict[str, tuple[tuple, Any]]:
        """See :meth:`LearningMode.step_fields` (both signals' fields)."""
        return {
            **self.before.step_fields(n_actions, heard_length),
            **self.after.step_fields(n_actions, heard_length),
        }

    def state_dict(self) -> dict[str, Any]:
        """See :meth:`LearningMode.state_dict`."""
        return {"before": self.before.state_dict(), "after": self.after.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :meth:`LearningMode.load_state_dict`."""
        self.before.load_state_dict(state["before"])
        self.after.load_state_dict(state["after"])


class PredictFirst(Switch):
    """World model only (uniform acts) for ``switch_steps``, then ``baby``."""

    name = "predict_first"
    first = Predict
