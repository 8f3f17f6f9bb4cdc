"""The extension guides (docs/extending.md), followed: a level, a mode, a parent backend and a
curriculum, each written as the guide says and run through the library without touching it.

A level is one file and one row: the class below is the level's file, the fixture adds its row.
"""

from __future__ import annotations

import json
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

from babyworld.agents import modes
from babyworld.agents.mode_base import LearningMode, MiniBatch, PolicyTerms
from babyworld.agents.modes_rl import ppo_terms
from babyworld.agents.ppo import PPOConfig, PPOTrainer
from babyworld.agents.student import StudentConfig
from babyworld.curricula import Curriculum
from babyworld.envs import LEVELS, LadderEnv, env_id, register_envs, rungs
from babyworld.envs.point import PointEnv
from babyworld.experiments.config import TrainConfig
from babyworld.experiments.train import train
from babyworld.parent import Parent
from babyworld.rewards import REWARD_INDEX
from babyworld.task import Task
from babyworld.vector import ParentBatchVectorEnv, make_envs

SMALL = StudentConfig(d_model=32, n_heads=2, history=4, latent_dim=8, word_dim=8)


class FetchEnv(PointEnv):
    """The new level's file: Point with its own act words ('this0', 'this1', ...)."""

    level = "Fetch"

    def _action_words(self) -> tuple[str, ...]:
        return tuple(f"this{i}" for i in range(self.n_objects))


@pytest.fixture
def fetch_row(monkeypatch):
    """The one row: ``LEVELS["Fetch"] = "<module>:FetchEnv"`` (registered as babyworld import does)."""
    monkeypatch.setitem(LEVELS, "Fetch", f"{__name__}:FetchEnv")
    register_envs()
    yield
    gym.registry.pop(env_id("Fetch"), None)


def test_the_row_registers_the_level_and_its_facts(fetch_row):
    assert rungs()[-1] == "Fetch"
    assert "Fetch" in rungs("one_act") and "Fetch" in rungs("parent_judges")
    env = gym.make(env_id("Fetch"), parent="scripted")
    assert env.unwrapped.words[:3] == ("this0", "this1", "this2")
    env.reset(seed=0)
    _, reward, *_ = env.step(0)
    assert np.isfinite(reward)
    vec = gym.make_vec(env_id("Fetch"), num_envs=2, parent="scripted")
    assert isinstance(vec, ParentBatchVectorEnv)
    ladder = LadderEnv(parent="scripted", split="train")
    assert list(ladder.subs)[-1] == "Fetch" and ladder.subs["Fetch"].split == "train"
    ladder.reset(seed=0, options={"task": Task.make("Fetch")})
    assert ladder.cur.level == "Fetch"


def test_a_run_trains_on_the_new_level(fetch_row, tmp_path):
    cfg = TrainConfig(
        level="Fetch",
        parent="scripted",
        steps=4 * 8 * 2,
        num_envs=4,
        out=tmp_path / "fetch",
        student=SMALL,
        ppo=PPOConfig(rollout_steps=8, epochs=1),
    )
    run = train(cfg, progress=False)
    assert json.loads((run / "summary.json").read_text())["level"] == "Fetch"


def test_without_the_row_the_level_is_refused():
    with pytest.raises(ValueError, match=r"unknown level 'Fetch'; choose one of \('Point'"):
        TrainConfig(level="Fetch", parent="scripted")


# --------------------------------------------------------------------------- a mode: one class


class TaskOnly(LearningMode):
    """PPO whose advantages read the ``task`` component alone (the dense ones only shape values)."""

    name: ClassVar[str] = "task_only"

    def advantage_weights(self, weights):
        only = weights.new_zeros(weights.shape)
        only[REWARD_INDEX["task"]] = 1.0
        return only

    def policy_loss(self, trainer: PPOTrainer, mb: MiniBatch) -> PolicyTerms:
        return ppo_terms(trainer, mb, normalise=True)


def test_a_mode_is_one_class_and_its_registry_row(monkeypatch):
    monkeypatch.setitem(modes.REGISTRY, TaskOnly.name, TaskOnly)
    envs = make_envs("Point", 4, parent="scripted")
    trainer = PPOTrainer(envs, SMALL, PPOConfig(rollout_steps=8, epochs=1), 0, 64, mode="task_only")
    assert isinstance(trainer.learning, TaskOnly)
    assert trainer.learning.advantage_weights(trainer.weights).tolist() == [1, 0, 0, 0, 0]
    trainer.collect()
    report = trainer.update()
    assert all(np.isfinite(v) for v in report.values())
    TrainConfig(mode="task_only", parent="scripted")  # the command line's config takes it too


# --------------------------------------------------------------------------- a parent backend


class ShyParent(Parent):
    """A backend answers two batched calls: generate text, and score continuations per token."""

    label = "shy"
    store_by_default = False

    def _generate(self, prompts, *, max_new_tokens, temperature, seed):
        return ["Hm." for _ in prompts]

    def _score(self, contexts, continuations):
        return [np.full(max(1, len(c.split())), -1.0) for c in continuations]


def test_a_parent_backend_is_one_class():
    env = gym.make(env_id("Point"), parent=ShyParent())
    _, info = env.reset(seed=0)
    assert info["parent_utterance"] == "Hm."
    _, _, _, _, info = env.step(0)
    assert "Hm." in info["parent_utterance"] and isinstance(info["success"], bool)


# --------------------------------------------------------------------------- a curriculum


class Alternate(Curriculum):
    """A curriculum implements ``_sample``: the next task's index (here: take turns)."""

    def __init__(self, tasks):
        super().__init__(tasks)
        self.turn = 0

    def _sample(self, rng):
        self.turn += 1
        return self.turn % len(self.tasks)


def test_a_curriculum_is_one_class():
    tasks = [Task.make("Name", attributes=("color",)), Task.make("Name", attributes=("shape",))]
    envs = make_envs("Name", 2, parent="scripted")
    trainer = PPOTrainer(
        envs, SMALL, PPOConfig(rollout_steps=8, epochs=1), 0, 32, curriculum=Alternate(tasks)
    )
    trainer.collect()
    assert {e["task"] for e in trainer.episodes} == {t.name for t in tasks}


def test_a_curriculum_that_takes_the_parent_gets_it_by_name(monkeypatch):
    from babyworld import curricula

    class Asks(Alternate):
        def __init__(self, tasks, beta=0.1, parent=None):
            super().__init__(tasks)
            self.asked_beta, self.parent = beta, parent

    monkeypatch.setitem(curricula.CURRICULA, "asks", Asks)
    made = curricula.make_curriculum("asks", tasks=[Task.make("Point")], parent="scripted")
    assert (made.parent, made.asked_beta) == ("scripted", 0.1)
    with pytest.raises(ValueError, match="the 'asks' curriculum needs parent="):
        curricula.make_curriculum("asks", tasks=[Task.make("Point")])
