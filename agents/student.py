"""The baby: a randomly initialised transformer with action, world-model and value heads.

Per step, an encoder turns what the baby heard (word ids), what it sees (the percept) and its own
previous act into one vector; a causal transformer core reads the last ``history`` steps of the
episode; a Gaussian latent bottleneck sits on top of the core. Heads:

- **action**: logits over the env's actions, masked by the env's action mask (reads the latent
  mean, so the policy is a plain categorical whose log-probs PPO can recompute exactly);
- **value**: one value per reward component (a vector critic), combined with the env's weights;
- **world model**: from a *sampled* latent and the chosen act, logits of the next heard word ids
  and of the next percept. The KL of the latent to N(0, I) is the MDL term.

No pretrained weight anywhere: every parameter is initialised from a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from babyworld.agents.losses import mask_logits
from babyworld.validation import check_config

#: The student architectures ``--student.kind`` chooses from (see :func:`make_student`).
STUDENT_KINDS = ("steps", "tokens")


@dataclass
class StudentConfig:
    """Size of the student (defaults tuned on Point: fast on a 2-core CPU, see docs/training.md)."""

    kind: Literal["steps", "tokens"] = "steps"
    """'steps': an MLP reads each step, a transformer runs over the last steps; 'tokens': one
    causal transformer reads every word heard, percept slot and own act as tokens
    (agents/token_student.py)"""
    d_model: int = 32
    """width of every hidden vector"""
    n_layers: int = 2
    """transformer layers in the core (over the steps of the episode)"""
    word_dim: int = 8
    """embedding size of one heard word id"""
    reader_hidden: int = 128
    """hidden units of the per-step reader MLP"""
    n_heads: int = 4
    """attention heads (must divide d_model)"""
    history: int = 4
    """steps of the current episode the core attends over (the current step included)"""
    latent_dim: int = 16
    """size of the Gaussian latent bottleneck"""
    position_std: float = 0.1
    """'tokens' only: initial scale of the position, slot-index, type and age embeddings (the
    content embeddings have scale 1); 1.0 lets the student learn Point (docs/language.md)"""

    def __post_init__(self) -> None:
        check_config(self, "student")
        if self.kind not in STUDENT_KINDS:
            raise ValueError(
                f"unknown student kind {self.kind!r}; choose one of {STUDENT_KINDS} "
                "(--student.kind)"
            )
        for name in (
            "d_model",
            "n_layers",
            "n_heads",
            "history",
            "latent_dim",
            "word_dim",
            "reader_hidden",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"student.{name} must be >= 1, got {getattr(self, name)}")
        if not self.position_std > 0:
            raise ValueError(f"student.position_std must be > 0, got {self.position_std}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide d_model={self.d_model}")


@dataclass
class StudentOutput:
    """What one forward pass returns (B = batch)."""

    logits: torch.Tensor
    """[B, A] masked action logits"""
    values: torch.Tensor
    """[B, R] one value per reward component"""
    mu: torch.Tensor
    """[B, D] latent mean"""
    logvar: torch.Tensor
    """[B, D] latent log-variance"""


class Student(nn.Module):
    """The from-scratch student.

    Inputs are windows of the last ``history`` steps, oldest first, left-padded; ``valid`` marks
    real steps and the last position is the current step:

    - ``heard`` ``[B, H, L]`` long, ``heard_len`` ``[B, H]`` long, ``percept`` ``[B, H, P]``;
    - ``prev_action`` ``[B, H]`` long, ``n_actions`` meaning "none yet";
    - ``valid`` ``[B, H]`` bool.

    Args:
        cfg: sizes.
        vocab_size: number of heard word ids ``V``.
        heard_length: ids per observation ``L``.
        percept_dim: percept features ``P``.
        n_actions: actions ``A``.
        n_rewards: reward components ``R``.
    """

    def __init__(
        self,
        cfg: StudentConfig,
        *,
        vocab_size: int,
        heard_length: int,
        percept_dim: int,
        n_actions: int,
        n_rewards: int,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab_size, self.heard_length, self.percept_dim = vocab_size, heard_length, percept_dim
        self.n_actions, self.n_rewards = n_actions, n_rewards
        d = cfg.d_model
        self._build_encoder()
        self.norm = nn.LayerNorm(d)
        self.to_latent = nn.Linear(d, 2 * cfg.latent_dim)
        self.policy = nn.Sequential(
            nn.Linear(cfg.latent_dim, d), nn.ReLU(), nn.Linear(d, n_actions)
        )
        self.value = nn.Sequential(nn.Linear(cfg.latent_dim, d), nn.ReLU(), nn.Linear(d, n_rewards))
        self.wm_act = nn.Embedding(n_actions, cfg.latent_dim)
        self.wm = nn.Sequential(nn.Linear(cfg.latent_dim, 2 * d), nn.GELU())
        self.wm_words = nn.Linear(2 * d, heard_length * vocab_size)
        self.wm_percept = nn.Linear(2 * d, percept_dim)

    def _build_encoder(self) -> None:
        """The layers that read a window (everything before ``norm`` and the heads)."""
        cfg, d = self.cfg, self.cfg.d_model
        self.word = nn.Embedding(self.vocab_size, cfg.word_dim, padding_idx=0)
        self.reader = nn.Sequential(
            nn.Linear(self.heard_length * cfg.word_dim + self.percept_dim, cfg.reader_hidden),
            nn.ReLU(),
            nn.Linear(cfg.reader_hidden, d),
        )
        self.prev_act = nn.Embedding(self.n_actions + 1, d)
        self.step_pos = nn.Embedding(cfg.history, d)
        self.empty = nn.Parameter(torch.zeros(d))
        layer = nn.TransformerEncoderLayer(
            d, cfg.n_heads, 4 * d, dropout=0.0, batch_first=True, norm_first=True
        )
        self.core = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.register_buffer(
            "causal", nn.Transformer.generate_square_subsequent_mask(cfg.history), persistent=False
        )

    def encode(
        self,
        heard: torch.Tensor,
        heard_len: torch.Tensor,
        percept: torch.Tensor,
        prev_action: torch.Tensor,
        valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance of the current step: ``[B, D]`` each.

        Each step is read by an MLP over the embeddings of the heard ids, *right-aligned* (the
        latest words — the request that follows the parent's reaction — sit at fixed positions),
        concatenated with the percept; the previous act is added; the causal core then reads the
        window of steps.
        """
        b, h, length = heard.shape
        if h != self.cfg.history:
            raise ValueError(f"windows must hold {self.cfg.history} steps, got {h}")
        pos = torch.arange(length, device=heard.device)
        src = pos + heard_len[..., None] - length  # [B, H, L] index of the word shown at pos
        aligned = torch.where(src >= 0, heard.gather(-1, src.clamp(min=0)), torch.zeros_like(heard))
        words = self.word(aligned).flatten(2)  # [B, H, L * word_dim]
        x = self.reader(torch.cat([words, percept], -1)) + self.prev_act(prev_action)
        x = torch.where(valid[..., None], x, self.empty.expand_as(x))
        x = x + self.step_pos(torch.arange(h, device=heard.device))
        y = self.norm(self.core(x, mask=self.causal, is_causal=True)[:, -1])
        mu, logvar = self.to_latent(y).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 8.0)

    def forward(
        self,
        heard: torch.Tensor,
        heard_len: torch.Tensor,
        percept: torch.Tensor,
        prev_action: torch.Tensor,
        valid: torch.Tensor,
        action_mask: torch.Tensor,
    ) -> StudentOutput:
        """Masked action logits, vector values and the latent of the current step."""
        mu, logvar = self.encode(heard, heard_len, percept, prev_action, valid)
        logits = mask_logits(self.policy(mu), action_mask)
        return StudentOutput(logits, self.value(mu), mu, logvar)

    def predict_next(
        self,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        action: torch.Tensor,
        sample: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """World model: logits of the next heard ids ``[B, L, V]`` and next percept ``[B, P]``.

        With ``sample`` the latent is drawn (reparameterised) with ``generator``; else its mean.
        """
        if sample:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
            z = mu + (0.5 * logvar).exp() * eps
        else:
            z = mu
        hid = self.wm(z + self.wm_act(action))
        words = self.wm_words(hid).view(-1, self.heard_length, self.vocab_size)
        return words, self.wm_percept(hid)


def make_student(
    cfg: StudentConfig,
    *,
    vocab_size: int,
    heard_length: int,
    percept_dim: int,
    n_actions: int,
    n_rewards: int,
) -> Student:
    """A freshly initialised student of kind ``cfg.kind``.

    ``steps``: :class:`Student`; ``tokens``: :class:`~babyworld.agents.token_student.TokenStudent`.
    """
    kwargs = {
        "vocab_size": vocab_size,
        "heard_length": heard_length,
        "percept_dim": percept_dim,
        "n_actions": n_actions,
        "n_rewards": n_rewards,
    }
    if cfg.kind == "tokens":
        from babyworld.agents.token_student import TokenStudent

        return TokenStudent(cfg, **kwargs)
    return Student(cfg, **kwargs)
