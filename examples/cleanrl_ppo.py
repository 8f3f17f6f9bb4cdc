"""PPO in one file, CleanRL style, on babyworld's native vector env (``gym.make_vec``).

The native vector env asks the parent once per phase for all ``num_envs`` worlds (one batched
``score``, one batched ``generate``), so N envs cost about one parent call per step. It resets
ended episodes in the same step (Gymnasium's ``SAME_STEP`` autoreset): the observation after an
end is already the next episode's first, and the ended step's info is in ``info["final_info"]``.
The policy samples only allowed actions (``envs.action_masks()``).

Run (the real parent is the default; ``--parent scripted`` is the template parent, for speed)::

    python examples/cleanrl_ppo.py --env-id babyworld/Point-v0 --total-timesteps 20480

With the scripted parent, seed 0, the success rate of a rollout goes from chance (0.35) to 0.83
by the last of the 40 rollouts (2 busy CPU cores, about 4 minutes).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.distributions.categorical import Categorical
from torch.utils.tensorboard import SummaryWriter

import babyworld  # noqa: F401  (registers the babyworld/* ids)


@dataclass
class Args:
    """Command-line arguments (``--help`` lists them)."""

    env_id: str = "babyworld/Point-v0"
    """the environment id"""
    parent: str = "smollm2"
    """the parent spec: smollm2 (the real parent), hf:<dir>, openai:<url>#<model>, scripted"""
    total_timesteps: int = 20_480
    """total env steps over all envs"""
    num_envs: int = 8
    """parallel worlds (one batched parent call per phase for all of them)"""
    num_steps: int = 64
    """steps per env per rollout"""
    learning_rate: float = 3e-3
    """the optimizer's learning rate"""
    gamma: float = 0.0
    """the discount factor: 0 suits Point and Name, where each exchange is a contextual bandit
    (the next request does not depend on the act); use ~0.9 where utterances span several steps
    (Request, Chat, Ladder)"""
    gae_lambda: float = 0.95
    """the lambda of generalised advantage estimation"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 8
    """epochs per rollout"""
    clip_coef: float = 0.2
    """the surrogate clipping coefficient"""
    ent_coef: float = 0.01
    """the entropy coefficient"""
    vf_coef: float = 0.5
    """the value-loss coefficient"""
    max_grad_norm: float = 0.5
    """the gradient-clipping norm"""
    seed: int = 0
    """the seed of torch, numpy, random and the envs (env i gets seed + i)"""
    log_dir: str = "runs"
    """TensorBoard logs go to {log_dir}/{env}__cleanrl_ppo__{seed}__{time}"""


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """CleanRL's orthogonal initialisation."""
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    """Embeds the heard word ids (by position), concatenates the percept, two tanh layers."""

    def __init__(self, obs_space: gym.spaces.Dict, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        vocab, length = int(obs_space["heard"].nvec[0]), obs_space["heard"].shape[0]
        self.embed = nn.Embedding(vocab, 8)
        self.body = nn.Sequential(
            layer_init(nn.Linear(length * 8 + obs_space["percept"].shape[0], hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
        )
        self.actor = layer_init(nn.Linear(hidden, n_actions), std=0.01)
        self.critic = layer_init(nn.Linear(hidden, 1), std=1.0)

    def features(self, heard: torch.Tensor, percept: torch.Tensor) -> torch.Tensor:
        """``heard [B, L]`` word ids, ``percept [B, P]`` -> ``[B, hidden]``."""
        return self.body(torch.cat([self.embed(heard).flatten(1), percept], dim=1))

    def get_value(self, heard: torch.Tensor, percept: torch.Tensor) -> torch.Tensor:
        """``[B]`` state values."""
        return self.critic(self.features(heard, percept)).squeeze(-1)

    def get_action_and_value(
        self,
        heard: torch.Tensor,
        percept: torch.Tensor,
        mask: torch.Tensor,
        action: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or score) an allowed action: ``(action, logp, entropy, value)``, each ``[B]``."""
        hidden = self.features(heard, percept)
        logits = self.actor(hidden).masked_fill(~mask, -1e9)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden).squeeze(-1)


def exchange_successes(infos: dict) -> tuple[int, int]:
    """``(successes, exchanges that ended)`` in one vector step, wherever autoreset put the info."""
    wins = ends = 0
    if "exchange_end" in infos:  # envs whose episode goes on
        live = infos["_exchange_end"] & infos["exchange_end"]
        wins, ends = int((live & infos["success"]).sum()), int(live.sum())
    if "final_info" in infos:  # envs whose episode ended (and was reset) at this step
        final, done = infos["final_info"], infos["_final_info"]
        wins += int((done & final["success"]).sum())
        ends += int(done.sum())
    return wins, ends


def main(args: Args) -> None:
    """Train and print the success rate of each rollout."""
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)
    run_name = f"{args.env_id.split('/')[-1]}__cleanrl_ppo__{args.seed}__{int(time.time())}"
    writer = SummaryWriter(f"{args.log_dir}/{run_name}")
    writer.add_text(
        "hyperparameters",
        "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()),
    )
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, parent=args.parent)
    obs_space, n_actions = envs.single_observation_space, int(envs.single_action_space.n)
    agent = Agent(obs_space, n_actions)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # Rollout storage, allocated once: [T, N, ...]
    t_n = (args.num_steps, args.num_envs)
    heard = torch.zeros((*t_n, obs_space["heard"].shape[0]), dtype=torch.long)
    percept = torch.zeros((*t_n, obs_space["percept"].shape[0]))
    masks = torch.zeros((*t_n, n_actions), dtype=torch.bool)
    actions = torch.zeros(t_n, dtype=torch.long)
    logprobs, rewards, dones, values = (torch.zeros(t_n) for _ in range(4))

    global_step, start = 0, time.time()
    next_obs, _ = envs.reset(seed=args.seed)
    next_done = torch.zeros(args.num_envs)
    for iteration in range(1, num_iterations + 1):
        wins = ends = 0
        for step in range(args.num_steps):
            global_step += args.num_envs
            heard[step] = torch.as_tensor(next_obs["heard"])
            percept[step] = torch.as_tensor(next_obs["percept"])
            masks[step] = torch.as_tensor(envs.action_masks())
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(
                    heard[step], percept[step], masks[step]
                )
            actions[step], logprobs[step], values[step] = action, logprob, value
            next_obs, reward, terminations, truncations, infos = envs.step(action.numpy())
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32)
            next_done = torch.as_tensor(
                np.logical_or(terminations, truncations), dtype=torch.float32
            )
            w, e = exchange_successes(infos)
            wins, ends = wins + w, ends + e

        with torch.no_grad():  # GAE; babyworld never truncates, so an end is a true end
            next_value = agent.get_value(
                torch.as_tensor(next_obs["heard"]), torch.as_tensor(next_obs["percept"])
            )
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(args.num_envs)
            for t in reversed(range(args.num_steps)):
                nextnonterminal = 1.0 - (next_done if t == args.num_steps - 1 else dones[t + 1])
                nextvalues = next_value if t == args.num_steps - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                advantages[t] = lastgaelam
            returns = advantages + values

        b_heard, b_percept = heard.flatten(0, 1), percept.flatten(0, 1)
        b_masks, b_actions = masks.flatten(0, 1), actions.flatten()
        b_logprobs, b_adv, b_ret = logprobs.flatten(), advantages.flatten(), returns.flatten()
        b_inds = np.arange(batch_size)
        for _ in range(args.update_epochs):
            np.random.shuffle(b_inds)
            for lo in range(0, batch_size, minibatch_size):
                mb = b_inds[lo : lo + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_heard[mb], b_percept[mb], b_masks[mb], b_actions[mb]
                )
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
                pg_loss = torch.max(
                    -mb_adv * ratio,
                    -mb_adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef),
                ).mean()
                v_loss = 0.5 * ((newvalue - b_ret[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + v_loss * args.vf_coef
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        success = wins / max(ends, 1)
        sps = int(global_step / (time.time() - start))
        writer.add_scalar("charts/success_rate", success, global_step)
        writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
        writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
        writer.add_scalar("perf/SPS", sps, global_step)
        print(
            f"iteration {iteration}/{num_iterations} step {global_step} success {success:.3f} SPS {sps}"
        )
    envs.close()
    writer.close()


if __name__ == "__main__":
    main(tyro.cli(Args))
