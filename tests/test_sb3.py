"""An off-the-shelf SB3 PPO agent learns babyworld/Point-v0 (scripted parent, default rewards)."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import babyworld  # noqa: F401  (registers the babyworld/* ids)

ENV_ID = "babyworld/Point-v0"
# SB3's make_vec_env asks for render_mode="rgb_array" unless told otherwise; babyworld renders
# only "ansi" (and rejects other modes), so pass None explicitly.
ENV_KWARGS = {"parent": "scripted", "render_mode": None}
SEED = 0
TIMESTEPS = 25_000
EVAL_EXCHANGES = 300
CHANCE = 1 / 3  # 3 toys on the table, the parent wants one drawn uniformly


@pytest.fixture
def one_torch_thread():
    # Tiny MLPs run fastest on one thread, and a busy 2-core machine makes 2 threads thrash.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def success_rate(model: PPO, seed: int, exchanges: int) -> float:
    """Fraction of ``exchanges`` in which the deterministic policy points at the wanted toy."""
    env = gym.make(ENV_ID, **ENV_KWARGS)
    obs, _ = env.reset(seed=seed)
    successes = 0
    for _ in range(exchanges):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        successes += info["success"]
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return successes / exchanges


def test_ppo_learns_to_point_at_the_wanted_toy(one_torch_thread):
    venv = make_vec_env(ENV_ID, n_envs=8, seed=SEED, env_kwargs=ENV_KWARGS)
    # Each exchange is a contextual bandit: the next request does not depend on the act, hence
    # gamma=0. The default reward weights (task + shaping components) are kept.
    model = PPO(
        "MultiInputPolicy",
        venv,
        n_steps=64,
        batch_size=128,
        n_epochs=8,
        learning_rate=3e-3,
        gamma=0.0,
        gae_lambda=1.0,
        ent_coef=0.0,
        seed=SEED,
        device="cpu",
        verbose=0,
    )
    eval_seed = 10_000 + SEED  # a seed no training env uses
    before = success_rate(model, eval_seed, EVAL_EXCHANGES)
    model.learn(TIMESTEPS)
    after = success_rate(model, eval_seed, EVAL_EXCHANGES)
    venv.close()

    # Chance over 300 exchanges is 0.333 +- 0.027 (one binomial sd), so 0.5 is > 6 sd above it.
    # Measured with this configuration over seeds 0-7: 0.64 to 0.87 after training,
    # 0.31 to 0.36 before.
    assert abs(before - CHANCE) < 0.15, f"untrained policy at {before:.3f}, expected near chance"
    assert after > 0.5, f"success {after:.3f} after {TIMESTEPS} steps (chance {CHANCE:.3f})"
    assert after > before + 0.15
