"""``--ppo.*``: the PPO trainer's hyperparameters (:class:`~babyworld.agents.ppo.PPOTrainer`)."""

from __future__ import annotations

from dataclasses import dataclass

from babyworld.validation import check_config


@dataclass
class PPOConfig:
    """PPO and auxiliary-loss hyperparameters."""

    rollout_steps: int = 64
    """env steps per env between updates (T)"""
    lr: float = 2e-3
    """Adam learning rate"""
    anneal_lr: bool = False
    """linearly anneal the learning rate to 0 at the run's total steps"""
    gamma: float = 0.99
    """discount inside an exchange (the words of an utterance share its outcome); with
    exchange_horizon, one-act levels (Point, Name) are unaffected by it"""
    exchange_horizon: bool = True
    """end GAE at the end of every exchange: each exchange is a fresh draw, so an act's
    consequences end with its exchange (on Point and Name this equals gamma = 0)"""
    curriculum_progress: bool = True
    """fill the progress component from the curriculum's own tracker: its change in capability
    of the episode's task, given at the episode's last step (0 at other steps)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    epochs: int = 4
    """optimisation epochs per rollout"""
    minibatches: int = 8
    """minibatches per epoch"""
    clip: float = 0.2
    """PPO clip range"""
    ent_coef: float = 0.01
    """entropy bonus"""
    vf_coef: float = 0.5
    """value loss weight"""
    wm_coef: float = 0.1
    """lambda_wm: world-model loss weight"""
    mdl_coef: float = 0.001
    """lambda_mdl: latent KL weight"""
    max_grad_norm: float = 0.5
    """gradient clipping"""
    anchor_coef: float = 0.0
    """weight of the L2 anchor to the student's weights at the curriculum's last promotion
    (0: off; agents/retention.py)"""
    recall_coef: float = 0.0
    """weight of the self-distillation to the student of the last promotion on the steps of
    stages passed by then (0: off; agents/retention.py)"""
    replay_coef: float = 0.0
    """weight of replaying the last steps of each passed stage with the policy that passed it,
    KL(then || now) (0: off; agents/retention.py)"""
    replay_size: int = 2048
    """steps kept per stage for --ppo.replay-coef (its last ones while it was the current one)"""
    replay_fraction: float = 0.5
    """replayed steps per minibatch, as a fraction of the minibatch, in (0, 1]"""
    student_rewards: bool = True
    """fill predictability and mdl from the student's world model and latent KL"""

    def __post_init__(self) -> None:
        check_config(self, "ppo")
        for name in ("rollout_steps", "epochs", "minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"ppo.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError("ppo.gamma must be in [0, 1] and ppo.gae_lambda in [0, 1]")
        for name in ("lr", "clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ppo.{name} must be > 0, got {getattr(self, name)}")
        if self.replay_size < 1:
            raise ValueError(f"ppo.replay_size must be >= 1 step, got {self.replay_size}")
        if not 0 < self.replay_fraction <= 1:
            raise ValueError(
                f"ppo.replay_fraction must be in (0, 1] (replayed steps per minibatch step), got "
                f"{self.replay_fraction}"
            )
        coefs = ("ent_coef", "vf_coef", "wm_coef", "mdl_coef", "anchor_coef", "recall_coef")
        for name in (*coefs, "replay_coef", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ValueError(f"ppo.{name} must be >= 0, got {getattr(self, name)}")
