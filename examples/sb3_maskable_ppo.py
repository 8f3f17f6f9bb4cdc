"""sb3-contrib's MaskablePPO on a babyworld level: train, then report the greedy success rate.

Every babyworld env exposes ``action_masks()``, which MaskablePPO reads by itself, so the policy
never says a word the level does not allow. (Plain ``PPO`` and ``DQN`` run too: an act outside
the mask is one the parent does not understand, with ``task`` 0.)

Run (the real parent is the default; ``--parent scripted`` is the template parent, for speed)::

    python examples/sb3_maskable_ppo.py --env-id babyworld/Point-v0 --steps 20480
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.env_util import make_vec_env

import babyworld  # noqa: F401  (registers the babyworld/* ids)


def env_kwargs(parent: str, **kwargs: object) -> dict[str, object]:
    """Keyword arguments of the env (SB3's ``make_vec_env`` would ask for ``rgb_array``)."""
    return {"parent": parent, "render_mode": None, **kwargs}


def train(
    env_id: str,
    parent: str,
    steps: int,
    *,
    seed: int = 0,
    n_envs: int = 8,
    gamma: float = 0.0,
    **kwargs: object,
) -> MaskablePPO:
    """MaskablePPO with settings that learn Point in ~20k steps (``kwargs``: env arguments)."""
    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs(parent, **kwargs))
    model = MaskablePPO(
        "MultiInputPolicy",
        venv,
        n_steps=64,
        batch_size=128,
        n_epochs=8,
        learning_rate=3e-3,
        gamma=gamma,
        ent_coef=0.0,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    model.learn(steps)
    venv.close()
    return model


def success_rate(
    model: MaskablePPO, env_id: str, parent: str, exchanges: int, *, seed: int = 10_000
) -> float:
    """Fraction of ``exchanges`` the greedy policy gets right (on an env no training run used)."""
    env = gym.make(env_id, **env_kwargs(parent))
    obs, _ = env.reset(seed=seed)
    wins = ends = 0
    while ends < exchanges:
        mask = env.unwrapped.action_masks()
        action, _ = model.predict(obs, action_masks=mask, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        if info["exchange_end"]:
            wins, ends = wins + info["success"], ends + 1
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return wins / exchanges


def main() -> None:
    """Parse the arguments, train, print the success rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="babyworld/Point-v0")
    parser.add_argument("--parent", default="smollm2", help="parent spec (scripted: no LLM)")
    parser.add_argument("--steps", type=int, default=20_480, help="training env steps")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument(
        "--gamma",
        type=float,
        default=0.0,
        help="0 suits Point and Name (one act per exchange); ~0.9 for utterances",
    )
    parser.add_argument("--eval-exchanges", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a small MLP: one thread is fastest

    start = time.time()
    model = train(
        args.env_id, args.parent, args.steps, seed=args.seed, n_envs=args.n_envs, gamma=args.gamma
    )
    seconds = time.time() - start
    rate = success_rate(model, args.env_id, args.parent, args.eval_exchanges)
    print(f"{args.env_id} parent={args.parent} steps={args.steps} ({seconds:.0f} s)")
    print(f"greedy success over {args.eval_exchanges} exchanges: {rate:.3f}")


if __name__ == "__main__":
    main()
