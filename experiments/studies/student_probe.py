"""Can a student kind learn a level's map at all? ``python -m babyworld.experiments.studies.student_probe``.

A supervised probe, no RL: it plays ``--samples`` steps of a level with random acts (scripted
parent by default), keeps each step's history window as the trainer builds it
(:class:`~babyworld.agents.history.HistoryBuffer`) with a label, and fits each student kind's
action head to the labels by cross-entropy (Adam), reporting held-out accuracy (the last 20% of
the steps) after every epoch. A kind that stays at chance here cannot learn the level by RL
either, whatever the rewards. Labels (``--label``):

- ``act``: the right act (the verifier's), the level's own task;
- ``words``: the wanted toy's colour (Point): in the request's words, and the percept;
- ``percept``: the colour of slot 0: in the percept only;
- ``attended``: the index of the attended slot (Name shows a toy): a pointer by a feature.

``--student.position-std`` sets the token student's initial position, slot-index, type and age
embedding scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import gymnasium as gym
import numpy as np
import torch
import tyro

from babyworld.agents.history import HistoryBuffer, Window
from babyworld.agents.student import StudentConfig, make_student
from babyworld.envs import env_id
from babyworld.world import PERCEPT_FEATURES

LABELS = ("act", "words", "percept", "attended")
COLOURS = 6  # the percept's one-hot colour comes first in each slot
ATTENDED = PERCEPT_FEATURES - 1  # the last feature of a slot


@dataclass
class ProbeData:
    """Windows ``[S, H, ...]``, the right acts ``[S]`` and the env's sizes."""

    window: Window
    right: torch.Tensor
    vocab_size: int
    n_actions: int


def collect(
    level: str, samples: int, seed: int, parent: str = "scripted", history: int = 4
) -> ProbeData:
    """Play ``samples`` steps with uniformly random acts; every step's window and right act."""
    env = gym.make(env_id(level), parent=parent)
    obs, _ = env.reset(seed=seed)
    n_actions = int(env.action_space.n)
    buf = HistoryBuffer(1, history, obs["heard"].shape[0], obs["percept"].shape[0], n_actions)
    buf.start(0, obs)
    rng = np.random.default_rng(seed)
    windows, right = [], []
    for _ in range(samples):
        windows.append(buf.w.clone())
        right.append(int(env.unwrapped.right_action()))
        act = int(rng.integers(n_actions))
        obs, _, term, trunc, _ = env.step(act)
        if term or trunc:
            obs, _ = env.reset()
            buf.start(0, obs)
        else:
            buf.push(0, obs, act)
    stacked = Window(*(torch.cat(t) for t in zip(*(w.as_tuple() for w in windows), strict=True)))
    vocab = int(env.observation_space["heard"].nvec[0])
    return ProbeData(stacked, torch.tensor(right), vocab, n_actions)


def labels(
    kind: str, right: torch.Tensor, percept: torch.Tensor, n_actions: int
) -> tuple[torch.Tensor, int]:
    """The labels of ``kind`` and their number of classes.

    Args:
        kind: one of :data:`LABELS`.
        right: ``[S]`` right acts (on Point, the wanted toy's slot).
        percept: ``[S, P]`` the current step's percept.
        n_actions: the level's acts (the classes of ``act``).

    Raises:
        ValueError: an unknown kind.
    """
    slots = percept.view(len(right), -1, PERCEPT_FEATURES)
    if kind == "act":
        return right, n_actions
    if kind == "words":
        return slots[torch.arange(len(right)), right, :COLOURS].argmax(-1), COLOURS
    if kind == "percept":
        return slots[:, 0, :COLOURS].argmax(-1), COLOURS
    if kind == "attended":
        return slots[:, :, ATTENDED].argmax(-1), slots.shape[1]
    raise ValueError(f"unknown label {kind!r}; choose one of {LABELS}")


def fit(
    data: ProbeData,
    y: torch.Tensor,
    classes: int,
    cfg: StudentConfig,
    *,
    epochs: int,
    lr: float = 2e-3,
    batch: int = 256,
    seed: int = 0,
) -> list[float]:
    """Held-out accuracy after each epoch of cross-entropy on the first ``classes`` logits."""
    torch.manual_seed(seed)
    w = data.window
    n_actions = max(classes, data.n_actions)  # prev_action ids index the act embedding
    model = make_student(
        cfg,
        vocab_size=data.vocab_size,
        heard_length=w.heard.shape[-1],
        percept_dim=w.percept.shape[-1],
        n_actions=n_actions,
        n_rewards=5,
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    inputs = w.as_tuple()
    n_train = int(0.8 * len(y))
    held = torch.arange(n_train, len(y))
    acc = []
    for _ in range(epochs):
        order = torch.randperm(n_train)
        for i in range(0, n_train - batch + 1, batch):
            idx = order[i : i + batch]
            mask = torch.ones(len(idx), n_actions, dtype=torch.bool)
            logits = model(*(t[idx] for t in inputs), mask).logits[:, :classes]
            loss = torch.nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            mask = torch.ones(len(held), n_actions, dtype=torch.bool)
            logits = model(*(t[held] for t in inputs), mask).logits[:, :classes]
            acc.append(float((logits.argmax(-1) == y[held]).float().mean()))
    return acc


@dataclass
class ProbeConfig:
    """``python -m babyworld.experiments.studies.student_probe``."""

    level: str = "Point"
    label: str = "act"
    """one of act, words, percept, attended (see the module docstring)"""
    kinds: tuple[str, ...] = ("steps", "tokens")
    samples: int = 12_000
    epochs: int = 8
    lr: float = 2e-3
    """Adam's learning rate (the trainer's default)"""
    seed: int = 0
    parent: str = "scripted"
    student: StudentConfig = field(default_factory=StudentConfig)

    def __post_init__(self) -> None:
        from babyworld.envs import rungs

        if self.level not in rungs():
            raise ValueError(f"unknown level {self.level!r}; choose one of {rungs()}")
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}; choose one of {LABELS}")
        if self.samples < 10 or self.epochs < 1:
            raise ValueError(
                f"--samples must be >= 10 and --epochs >= 1, got {self.samples} and {self.epochs}"
            )


def main(cfg: ProbeConfig) -> dict[str, list[float]]:
    """Collect once, fit every kind, print each one's held-out accuracy per epoch."""
    data = collect(cfg.level, cfg.samples, cfg.seed, cfg.parent, cfg.student.history)
    y, classes = labels(cfg.label, data.right, data.window.percept[:, -1], data.n_actions)
    out = {}
    for kind in cfg.kinds:
        student = replace(cfg.student, kind=kind)
        acc = fit(
            data,
            y,
            classes,
            student,
            epochs=cfg.epochs,
            lr=cfg.lr,
            seed=cfg.seed,
        )
        out[kind] = acc
        shown = " ".join(f"{a:.3f}" for a in acc)
        print(
            f"{cfg.level} label={cfg.label} {kind}: held-out accuracy by epoch {shown}", flush=True
        )
    return out


if __name__ == "__main__":
    main(tyro.cli(ProbeConfig))
