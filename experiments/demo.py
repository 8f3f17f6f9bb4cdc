"""``babyworld demo``: a few exchanges between the parent and a random (untrained) baby."""

from __future__ import annotations

import time
from collections.abc import Sequence

import gymnasium as gym
from rich.console import Console
from rich.table import Table

from babyworld.agents import RandomBaby
from babyworld.envs import env_id
from babyworld.parent import make_parent


def run_demo(parent: str, levels: Sequence[str], steps: int, seed: int) -> None:
    """Print ``steps`` exchanges per level with every reward component and the parent's words."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    console = Console()
    t0 = time.perf_counter()
    the_parent = make_parent(parent)
    label = the_parent.label + (" — template parent, no LLM" if the_parent.scripted else "")
    console.print(f"[bold]parent[/bold]: {label}, loaded in {time.perf_counter() - t0:.1f} s")
    baby = RandomBaby(seed)
    for level in levels:
        env = gym.make(env_id(level), parent=the_parent)
        obs, info = env.reset(seed=seed)
        console.rule(f"{env_id(level)} — the baby is untrained (uniform over allowed actions)")
        console.print(f"[cyan]parent says[/cyan]: {info['parent_utterance']}")
        names = [n[:5] for n in env.unwrapped.reward_names]
        table = Table("#", "baby", "target", *names, "reward", title="reward components")
        for i in range(steps):
            action = baby.act(info["action_mask"])
            obs, reward, terminated, truncated, info = env.step(action)
            comps = [f"{v:+.2f}" for v in info["reward_vector"]]
            table.add_row(
                str(i + 1), info["baby_utterance"], info["target"], *comps, f"{reward:+.3f}"
            )
            console.print(
                f"[magenta]baby[/magenta] {info['baby_utterance']} ({info['baby_meaning']}); "
                f"[green]{'success' if info['success'] else 'miss'}[/green]\n"
                f"[cyan]parent feedback[/cyan]: {info['parent_feedback']}\n"
                f"[cyan]parent asks[/cyan]: {info['parent_request'] or '(episode over)'}"
            )
            if terminated or truncated:
                obs, info = env.reset()
                console.print(f"[cyan]new episode; parent says[/cyan]: {info['parent_utterance']}")
        console.print(table)
        env.close()
    stats = the_parent.stats
    console.print(
        f"parent: {stats.calls} model calls, {stats.tokens} tokens, "
        f"cache hit rate {stats.hit_rate:.0%}, {stats.seconds:.1f} s in the model"
    )
