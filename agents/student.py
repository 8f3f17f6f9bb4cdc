"""The baby: a randomly initialised transformer with action, world-model and value heads.

Per step, an encoder turns what the baby heard (word ids), what it sees (the percept) and its own
previous act into one vector; a causal transformer core reads the last ``history`` steps of the
episode; a Gaussian latent bottleneck sits on top of the core. Heads:

- **action**: logits over the env's actions, masked by the env's action mask (reads the latent
  mean, so the policy is a plain categorical whose log-probs PPO can recompute exactly);
- **value**: one value per reward component (a vector critic), combined with the env's weights;
- **world model**: from a *sampled* latent and the chosen act, logits of the next heard word ids
  and of the next percept. The KL of the latent to N(0, I) is the MDL term.

Two students share those heads (``--student.kind``). ``steps``, :class:`Student`, reads each step
with an MLP over the 32 right-aligned heard ids, so a word learnt at one position means nothing at
another, and each percept slot has its own weights. :class:`TokenStudent` instead turns the window of the last
``history`` steps into one token sequence, oldest first::

    [act] w_1 .. w_n [slot_1] .. [slot_S]   (one group per step: the baby's own previous act,
    ...                                      the words it heard, the percept as slot tokens)
    [read]                                  (the current step's summary token)

Every word id has one embedding wherever it is heard; a slot token is a shared linear map of the
slot's features (colour, shape, present, attended) plus a slot-index embedding; each token adds a
type embedding, the age of its step and its position counted from the end of its utterance. Only
real tokens are kept (padding words, empty steps, missing acts, and the words or slots of a step that
heard or saw exactly what the step before did, as while the baby speaks on, are dropped) and packed to the
right, so the sequence ends with ``[read]``; a causal transformer reads it and the output at
``[read]`` feeds the same latent, action, value and world-model heads as ``steps``.

No pretrained weight anywhere: every parameter is initialised from torch's seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from babyworld.agents.losses import mask_logits
from babyworld.validation import check_config
from babyworld.world import PERCEPT_FEATURES

#: The student architectures ``--student.kind`` chooses from (see :func:`make_student`).
STUDENT_KINDS = ("steps", "tokens")


@dataclass
class StudentConfig:
    """Size of the student (defaults tuned on Point: fast on a 2-core CPU, see docs/training.md)."""

    kind: Literal["steps", "tokens"] = "steps"
    """'steps': an MLP reads each step, a transformer runs over the last steps; 'tokens': one
    causal transformer reads every word heard, percept slot and own act as tokens
    (:class:`TokenStudent`)"""
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


def student_for(cfg: StudentConfig, level: Any) -> Student:
    """A fresh student sized for ``level`` (a :class:`~babyworld.vector.local.LevelInfo`)."""
    space = level.observation_space
    return make_student(
        cfg,
        vocab_size=int(space["heard"].nvec[0]),
        heard_length=space["heard"].shape[0],
        percept_dim=space["percept"].shape[0],
        n_actions=int(level.action_space.n),
        n_rewards=len(level.reward_names),
    )


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

    ``steps``: :class:`Student`; ``tokens``: :class:`TokenStudent`.
    """
    kwargs = {
        "vocab_size": vocab_size,
        "heard_length": heard_length,
        "percept_dim": percept_dim,
        "n_actions": n_actions,
        "n_rewards": n_rewards,
    }
    if cfg.kind == "tokens":
        return TokenStudent(cfg, **kwargs)
    return Student(cfg, **kwargs)


# ------------------------------------------------------------------ the token student
ACT, WORD, SLOT, READ = range(4)  # token types


class TokenStudent(Student):
    """A from-scratch causal transformer over the tokens of the last ``history`` steps.

    Same constructor, inputs and outputs as :class:`~babyworld.agents.student.Student`
    (``cfg.word_dim`` and ``cfg.reader_hidden`` are not used).
    """

    def _build_encoder(self) -> None:
        cfg, d = self.cfg, self.cfg.d_model
        if self.percept_dim % PERCEPT_FEATURES:
            raise ValueError(
                f"the token student reads the percept as slots of {PERCEPT_FEATURES} features; "
                f"got percept_dim={self.percept_dim}"
            )
        self.n_slots = self.percept_dim // PERCEPT_FEATURES
        self.tok_word = nn.Embedding(self.vocab_size, d)
        self.tok_act = nn.Embedding(self.n_actions + 1, d)
        self.tok_slot = nn.Linear(PERCEPT_FEATURES, d)
        self.slot_pos = nn.Embedding(self.n_slots, d)
        self.word_pos = nn.Embedding(self.heard_length, d)
        self.tok_type = nn.Embedding(4, d)
        self.age = nn.Embedding(cfg.history, d)
        self.core = nn.ModuleList(Block(d, cfg.n_heads) for _ in range(cfg.n_layers))
        # Content embeddings have unit scale (a slot's few active features each add a unit
        # vector); positions, slot indices, types and ages start at cfg.position_std. With
        # torch's defaults a slot's features were a tenth of its position noise; at 0.1 the slot
        # index is too faint to point with (the supervised probe, docs/language.md).
        nn.init.normal_(self.tok_slot.weight, std=1.0)
        nn.init.zeros_(self.tok_slot.bias)
        for emb in (self.slot_pos, self.word_pos, self.tok_type, self.age):
            nn.init.normal_(emb.weight, std=cfg.position_std)

    def tokens(
        self,
        heard: torch.Tensor,
        heard_len: torch.Tensor,
        percept: torch.Tensor,
        prev_action: torch.Tensor,
        valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The window as a token sequence, before packing.

        Returns:
            ``(x [B, N, d] embeddings, real [B, N] bool, kind [B, N] long)`` with
            ``N = H * (1 + L + S) + 1``, steps oldest first and ``[read]`` last.
        """
        b, h, length = heard.shape
        dev = heard.device
        age = self.age(torch.arange(h - 1, -1, -1, device=dev))  # [H, d]: 0 = current step
        # own previous act: "none yet" (index A) is not a token
        act = self.tok_act(prev_action) + self.tok_type.weight[ACT]  # [B, H, d]
        act_real = valid & (prev_action < self.n_actions)
        # words, positioned from the end of what was heard at that step
        j = torch.arange(length, device=dev)
        from_end = (heard_len[..., None] - 1 - j).clamp(0, length - 1)  # [B, H, L]
        words = self.tok_word(heard) + self.word_pos(from_end) + self.tok_type.weight[WORD]
        # a step that heard the same words as the step before (the baby speaking on while the
        # parent listens) adds no word tokens
        same = (heard[:, 1:] == heard[:, :-1]).all(-1) & (heard_len[:, 1:] == heard_len[:, :-1])
        repeated = torch.cat([torch.zeros_like(valid[:, :1]), same & valid[:, :-1]], 1)
        word_real = (valid & ~repeated)[..., None] & (j < heard_len[..., None])
        # percept slots
        slots = percept.view(b, h, self.n_slots, PERCEPT_FEATURES)
        slots = self.tok_slot(slots) + self.slot_pos.weight + self.tok_type.weight[SLOT]
        # likewise a step that sees what the step before saw adds no slot tokens
        seen = (percept[:, 1:] == percept[:, :-1]).all(-1) & valid[:, :-1]
        unchanged = torch.cat([torch.zeros_like(valid[:, :1]), seen], 1)
        slot_real = (valid & ~unchanged)[..., None].expand(b, h, self.n_slots)
        step = torch.cat([act[:, :, None], words, slots], 2) + age[None, :, None]  # [B, H, T, d]
        real = torch.cat([act_real[..., None], word_real, slot_real], 2)
        kind = torch.cat(
            [
                torch.full((b, h, 1), ACT, device=dev),
                torch.full((b, h, length), WORD, device=dev),
                torch.full((b, h, self.n_slots), SLOT, device=dev),
            ],
            2,
        )
        read = (self.tok_type.weight[READ] + age[-1]).expand(b, 1, -1)
        x = torch.cat([step.flatten(1, 2), read], 1)
        real = torch.cat([real.flatten(1), torch.ones(b, 1, dtype=torch.bool, device=dev)], 1)
        kind = torch.cat([kind.flatten(1), torch.full((b, 1), READ, device=dev)], 1)
        return x, real, kind

    def encode(
        self,
        heard: torch.Tensor,
        heard_len: torch.Tensor,
        percept: torch.Tensor,
        prev_action: torch.Tensor,
        valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance of the current step: ``[B, D]`` each."""
        if heard.shape[1] != self.cfg.history:
            raise ValueError(f"windows must hold {self.cfg.history} steps, got {heard.shape[1]}")
        x, real, _ = self.tokens(heard, heard_len, percept, prev_action, valid)
        x, real = pack_right(x, real)
        m = x.shape[1]
        # causal, padding never attended; a padding query attends to itself (no empty rows)
        causal = torch.ones(m, m, dtype=torch.bool, device=x.device).tril()
        allowed = (causal & real[:, None, :]) | torch.eye(m, dtype=torch.bool, device=x.device)
        bias = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~allowed, -torch.inf)[:, None]  # [B, 1, M, M]
        for block in self.core:
            x = block(x, bias)
        y = self.norm(x[:, -1])
        mu, logvar = self.to_latent(y).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 8.0)


class Block(nn.Module):
    """A pre-norm transformer block with explicit attention.

    Faster than torch's fused kernels on short masked sequences on a CPU (measured: 0.09 s versus
    0.11 s for a forward and backward pass of 64 windows).

    Args:
        d: width.
        n_heads: attention heads (must divide ``d``).
    """

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.h = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x [B, M, d]``, ``bias [B, 1, M, M]`` (0 where a query may attend, else -inf)."""
        b, m, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, m, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) * (d // self.h) ** -0.5 + bias, -1)
        x = x + self.out((att @ v).transpose(1, 2).reshape(b, m, d))
        return x + self.ff(self.ln2(x))


def pack_right(x: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's real tokens to the right end, in order, and drop all-padding columns.

    Args:
        x: ``[B, N, d]`` token embeddings.
        real: ``[B, N]`` bool, which tokens are real (the last one of every row must be).

    Returns:
        ``(x [B, M, d], real [B, M])`` with ``M`` = the most real tokens of any row; row ``b``
        holds its real tokens in their order in its last ``real[b].sum()`` columns.
    """
    order = torch.argsort(real.to(torch.int8), dim=1, stable=True)  # padding first, order kept
    m = int(real.sum(1).max())
    order = order[:, -m:]
    return x.gather(1, order[..., None].expand(-1, -1, x.shape[-1])), real.gather(1, order)
