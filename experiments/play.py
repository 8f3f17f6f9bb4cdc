"""A trained run at play: ``babyworld eval RUN`` measures it, ``babyworld play RUN`` shows it.

``babyworld play`` plays the baby's level in the terminal, watched or parented.

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
            fields.pop("avoid", None)  # the toy words an LLM's decoding avoids; a person chooses
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
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    baby, the_parent, task, env = _table(run, parent, level, (ask, show) if you else None)
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


def _table(
    run: Path, parent: str | None, level: str | None, you: tuple[Callable, Callable] | None
) -> tuple[Any, Parent, Any, gym.Env]:
    """The run's baby, its parent (yours, with ``you``'s ask and show), the task and its env."""
    from babyworld.envs import env_id
    from babyworld.experiments.rundir import load
    from babyworld.experiments.train import build_curriculum
    from babyworld.parent import make_parent
    from babyworld.task import Task

    baby = load(run)
    cfg = baby.config
    the_parent: Parent = make_parent(cfg.parent if parent is None else parent)
    task = Task.parse(level) if level is not None else build_curriculum(cfg, the_parent).tasks[0]
    if you is not None:
        the_parent = HumanParent(the_parent, *you)
    env = gym.make(env_id(baby.level_for(task)), parent=the_parent, **cfg.env.env_kwargs())
    return baby, the_parent, task, env


def format_success(success: Sequence[float]) -> str:
    """The closing line: the true success of the episodes played."""
    if not success:
        return "no exchange finished"
    return f"played {len(success)} episode(s): true success {np.mean(success):.2f}"


def evaluate_run(
    run: Path,
    level: str | None = None,
    parent: str | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    num_envs: int | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """``babyworld eval RUN``: the saved student on the run's held-out episodes, or another's.

    The same code as the run's own evaluation (:func:`play_evaluation`), so with no
    option it reproduces the run's last ``eval.csv`` row, greedy and sampled (and, for a run
    trained with ``--env.split train``, its ``held_out_*`` figures).

    Args:
        run: the run directory.
        level: a task name (``"Name"``, ``"Request[max_words=2]"``) to play instead of the run's
            tasks; a ladder run plays it on the ladder's envs. Its spaces must be the student's.
        parent: a parent spec instead of the run's (e.g. the real parent for a baby raised by the
            scripted one).
        episodes: held-out episodes (default: the run's ``eval.episodes``), ``>= 1``.
        seed: seeds the sampled acts (default: the run's seed, as its own evaluation).
        num_envs: episodes played together (default: the run's ``eval.num_envs``).
        split: play the scenes of this split (``all``, ``train``, ``held_out``) instead of the
            run's, and nothing else.

    Returns:
        The JSON ``babyworld eval`` prints: the run, its step, what was played, greedy and
        sampled success and their per-episode values.
    """
    from babyworld.experiments.evaluation import on_split, play_evaluation
    from babyworld.experiments.rundir import load
    from babyworld.experiments.train import build_curriculum
    from babyworld.parent import make_parent
    from babyworld.task import Task
    from babyworld.vector import make_envs

    baby = load(run)
    cfg = baby.config
    n = cfg.eval.episodes if episodes is None else episodes
    width = cfg.eval.num_envs if num_envs is None else num_envs
    for name, value in (("episodes", n), ("num-envs", width)):
        if value < 1:
            raise ValueError(f"--{name} must be >= 1, got {value}")
    task = None if level is None else Task.parse(level)
    env_level = cfg.envs_level if task is None else baby.level_for(task)
    spec = cfg.parent if parent is None else parent
    the_parent = make_parent(spec)
    envs = make_envs(env_level, min(width, n), the_parent, **cfg.env.env_kwargs())
    try:
        baby.check_fits(envs)
        tasks = [task] if task is not None else build_curriculum(cfg, the_parent).tasks
        tasks = tasks if split is None else on_split(tasks, split)
        sample_seed = cfg.seed if seed is None else seed
        held_out = split is None and cfg.env.split == "train"
        played = play_evaluation(baby.model, envs, tasks, n, sample_seed, baby.updates, held_out)
    finally:
        envs.close()
    out: dict[str, Any] = {
        "run": str(run),
        "step": baby.step,
        "tasks": [t.name for t in tasks],
        "parent": spec,
        "episodes": n,
        "seed": sample_seed,
    }
    out.update({k: float(np.mean(v)) for k, v in played.items()})
    for k, v in played.items():
        out[k.replace("success", "per_episode")] = [round(float(x), 4) for x in v]
    return out
