"""``babyworld play RUN``: a trained baby plays its level in the terminal, watched or parented.

Watching, the parent (the run's, or ``--parent``) speaks, judges and reacts as in training; each
exchange prints what the parent said, what the baby answered, how the parent reacted, its verdict
and the world's verifier, and every reward component. With ``--you`` you are the parent's voice:
everything the parent would say, you type (each line is asked for with what the parent perceives:
the toy it wants, the toy handed over, the opening of its reaction); the judging stays the
parent's (``--parent``), so the rewards are still computed. The baby acts as in its evaluation
(greedy unless ``--sampled``), on held-out seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from babyworld.agents.evaluate import EVAL_SEED_BASE
from babyworld.parent import Parent, Prompt

#: What the human parent is asked for, by prompt kind (the fields it shows come after).
_ASKED = {
    "ask_for": "ask for this toy",
    "ask_name": "ask what the toy you show is",
    "ask_color": "ask the colour of the toy you show",
    "ask_need": "ask what the baby wants",
    "chat_open": "say something about the situation",
    "not_understood": "say you did not understand",
}


class HumanParent(Parent):
    """A parent whose words a person types; its judging is another parent's.

    Args:
        judge: the parent that scores (judges) every act.
        ask: reads one line the person types, given a prompt string (``input``).
        show: prints one line (``print``).
    """

    store_by_default = False

    def __init__(
        self,
        judge: Parent,
        ask: Callable[[str], str] = input,
        show: Callable[[str], None] = print,
    ) -> None:
        super().__init__(cache_size=0)
        self.judge, self.ask, self.show = judge, ask, show
        self.label = f"you (judged by {judge.label})"

    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        out = []
        for p in prompts:
            kind = p.kind if isinstance(p, Prompt) else "say"
            fields = dict(p.fields) if isinstance(p, Prompt) else {}
            opening = fields.pop("opening", "")
            what = _ASKED.get(kind, "react to what the baby did" if "react" in kind else kind)
            seen = ", ".join(f"{k}: {v}" for k, v in fields.items() if v)
            self.show(f"  [you, the parent: {what}{' — ' + seen if seen else ''}]")
            typed = self.ask(f"  you say> {opening + ' ' if opening else ''}").strip()
            out.append(typed or "...")
        return out

    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        return self.judge.score(contexts, continuations)


def _turn(info: dict[str, Any]) -> list[str]:
    """The lines of one finished exchange."""
    mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
    rewards = "  ".join(f"{k} {v:+.2f}" for k, v in info["reward_components"].items())
    meaning = f" ({info['baby_meaning']})" if info.get("baby_meaning") else ""
    return [
        f"baby:   {info['baby_utterance']}{meaning}",
        f"parent: {info['parent_feedback']}",
        f"        rewarded {mark(info['success'])}  truth {mark(info['true_success'])} "
        f"(wanted: {info['target']})  {rewards}",
    ]


def play(
    run: Path,
    parent: str | None = None,
    you: bool = False,
    level: str | None = None,
    episodes: int = 1,
    seed: int = 0,
    sampled: bool = False,
    pause: bool = True,
    ask: Callable[[str], str] = input,
    show: Callable[[str], None] = print,
) -> list[float]:
    """Play ``episodes`` episodes of the run's baby; returns each episode's true success.

    Args:
        run: the run directory.
        parent: parent spec (default: the run's); with ``you``, the one that judges.
        you: you type the parent's words.
        level: a task name to play (default: the run's first task; a ladder run plays it on
            the ladder's envs).
        episodes: episodes to play, ``>= 1``.
        seed: episode ``j`` is reset with the held-out seed ``2**32 + seed + j``.
        sampled: sample the baby's acts instead of the most probable one.
        pause: wait for Enter after each exchange (``q`` quits).
        ask: reads a line (``input``).
        show: prints a line (``print``).
    """
    from babyworld.agents.trained import load
    from babyworld.envs import env_id
    from babyworld.experiments.train import build_curriculum
    from babyworld.parent import make_parent
    from babyworld.task import Task

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    baby = load(run)
    cfg = baby.config
    spec = cfg.parent if parent is None else parent
    the_parent: Parent = make_parent(spec)
    task = Task.parse(level) if level is not None else build_curriculum(cfg, the_parent).tasks[0]
    if you:
        the_parent = HumanParent(the_parent, ask, show)
    env = gym.make(env_id(baby.level_for(task)), parent=the_parent, **cfg.env.env_kwargs())
    success: list[float] = []
    tally = [0, 0]  # right and finished exchanges of the episode being played
    try:
        baby.check_fits(env)
        how = "sampled" if sampled else "greedy"
        for j in range(episodes):
            show(f"— episode {j + 1} of {episodes} · {task.name} · {the_parent.label} · {how}")
            obs, info = env.reset(seed=EVAL_SEED_BASE + seed + j, options={"task": task})
            show(f"parent: {info['parent_utterance']}")
            state, done, tally[:] = None, False, [0, 0]
            while not done:
                action, state = baby.predict(
                    obs, state, deterministic=not sampled, action_masks=info["action_mask"]
                )
                if you:  # what the baby says, before you react to it
                    show(f"baby:   {env.unwrapped.words[action]}")
                obs, _, term, trunc, info = env.step(action)
                done = bool(term or trunc)
                if not info["exchange_end"]:
                    continue
                tally[0] += bool(info["true_success"])
                tally[1] += 1
                for line in _turn(info):
                    show(line)
                if not done:
                    show(f"parent: {info['parent_request']}")
                if pause and ask("[Enter] next · q quit > ").strip().lower() == "q":
                    break
            success.append(tally[0] / tally[1])
            show(f"episode {j + 1}: {tally[0]} of {tally[1]} exchanges right (the verifier)")
            tally[1] = 0
            if not done:
                break
    except (EOFError, KeyboardInterrupt):
        show("(stopped)")
        if tally[1]:
            success.append(tally[0] / tally[1])
    finally:
        env.close()
    return success


def format_success(success: Sequence[float]) -> str:
    """The closing line: the true success of the episodes played."""
    if not success:
        return "no exchange finished"
    return f"played {len(success)} episode(s): true success {np.mean(success):.2f}"
