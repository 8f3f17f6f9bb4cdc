"""A trained baby as a policy you can act with: ``babyworld.load(RUN)``.

:func:`load` rebuilds the student a run saved (its ``config.json`` and ``checkpoint.pt``, the
digest checked) and returns a :class:`TrainedBaby`. Its :meth:`~TrainedBaby.predict` has the
signature of Stable-Baselines3's recurrent policies, ``predict(observation, state, episode_start,
deterministic)``, plus ``action_masks`` as in sb3-contrib's ``MaskablePPO``: the student reads a
window of the episode's last observations and acts, so the window is the state you pass back::

    baby = babyworld.load("runs/my_run")
    obs, info = env.reset(seed=0)
    action, state = baby.predict(obs, action_masks=info["action_mask"])
    obs, reward, terminated, truncated, info = env.step(action)
    action, state = baby.predict(obs, state, action_masks=info["action_mask"])

A greedy act (``deterministic=True``) is the one the run's own held-out evaluation plays
(:func:`~babyworld.agents.evaluate.play_episodes`): the same window, the same masked logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from babyworld.agents.history import HistoryBuffer
from babyworld.agents.student import Student


@dataclass
class BabyState:
    """What :meth:`TrainedBaby.predict` carries between calls: the windows and the last acts."""

    history: HistoryBuffer
    actions: np.ndarray


class TrainedBaby:
    """A trained student acting on one level's observations (see the module docstring).

    Attributes:
        model: the student (a ``torch.nn.Module`` in eval mode).
        level: the level its envs were (``Ladder`` for a curriculum over several levels).
        observation_space: the level's observation space, each observation is checked against it.
        n_actions: the size of its action space.
        config: the run's ``TrainConfig`` (None for a baby built by hand).
        updates: the updates the student had when it was saved (0 for a baby built by hand).
        step: the env steps it had been trained for then.
    """

    def __init__(
        self,
        model: Student,
        level: str,
        observation_space: Any,
        config: Any = None,
        updates: int = 0,
        step: int = 0,
    ) -> None:
        """Wrap ``model``, trained on ``level`` whose observations ``observation_space`` describes."""
        self.model = model.eval()
        self.level = level
        self.observation_space = observation_space
        self.n_actions = model.n_actions
        self.config, self.updates, self.step = config, updates, step

    def level_for(self, task: Any) -> str:
        """The level of the envs to play ``task`` on: a ladder baby plays a rung on the ladder."""
        from babyworld.envs import rungs

        return "Ladder" if self.level == "Ladder" and task.level in rungs() else task.level

    def check_fits(self, env: Any) -> None:
        """Raise ``ValueError`` unless ``env`` (an env or vector env) fits this baby's spaces."""
        from babyworld.vector.local import LevelInfo

        one = env.envs[0] if hasattr(env, "envs") else env  # a Gymnasium vector env, or an env
        info = env.level_info if hasattr(env, "level_info") else LevelInfo.of(one)
        space, n = info.observation_space, int(info.action_space.n)
        if space != self.observation_space or n != self.n_actions:
            raise ValueError(
                f"this baby was trained on {self.level} ({self.n_actions} acts); "
                f"{info.level}'s observations or its {n} acts do not fit it: play it on "
                f"{self.level}" + (" or one of its rungs" if self.level == "Ladder" else "")
            )

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: BabyState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        action_masks: np.ndarray | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[np.ndarray, BabyState]:
        """The baby's acts for one observation, or a batch of them (a leading batch axis).

        Args:
            observation: a level observation (dict of arrays), or N of them stacked.
            state: what the previous call returned (``None``: every episode starts now).
            episode_start: ``[N]`` bools, ``True`` where an episode starts with this observation
                (SB3's name; ``None``: only where ``state`` is ``None``).
            deterministic: the most probable allowed act; else one sampled with ``generator``.
            action_masks: ``[A]`` or ``[N, A]`` bools, the allowed acts (``info["action_mask"]``);
                ``None`` allows every act.
            generator: a seeded ``torch.Generator`` for sampled acts (default: torch's global one).

        Returns:
            The acts (an int for one observation, ``[N]`` for a batch) and the state to pass back.

        Raises:
            ValueError: an observation that is not of the level the baby was trained on, a mask of
                another size, or a state of another batch size.
        """
        single = isinstance(observation, dict) and np.ndim(observation.get("heard")) == 1
        obs = self._checked(observation, single)
        n = len(obs["heard"])
        if state is not None and len(state.actions) != n:
            raise ValueError(
                f"state is for {len(state.actions)} observations, got {n}; pass the state returned "
                "for the same batch, or state=None to start over"
            )
        starts = np.ones(n, dtype=bool) if state is None else np.zeros(n, dtype=bool)
        if episode_start is not None:
            starts |= np.asarray(episode_start, dtype=bool).reshape(n)
        if state is None:
            model = self.model
            hist = HistoryBuffer(
                n, model.cfg.history, model.heard_length, model.percept_dim, self.n_actions
            )
            state = BabyState(hist, np.zeros(n, dtype=np.int64))
        if (~starts).any():
            state.history.push_rows(~starts, obs, torch.as_tensor(state.actions))
        state.history.start_rows(starts, obs)
        mask = self._mask(action_masks, n)
        with torch.no_grad():
            logits = self.model(*state.history.w.as_tuple(), mask).logits
        if deterministic:
            action = logits.argmax(-1)
        else:
            action = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
        state.actions = action.numpy().astype(np.int64)
        return (int(state.actions[0]) if single else state.actions.copy()), state

    def _checked(self, observation: Any, single: bool) -> dict[str, np.ndarray]:
        """``observation`` as a batch, after checking it against the level's space."""
        space = self.observation_space
        keys = sorted(space.spaces)
        if not isinstance(observation, dict) or sorted(observation) != keys:
            got = (
                sorted(observation) if isinstance(observation, dict) else type(observation).__name__
            )
            raise ValueError(
                f"this baby was trained on {self.level}, whose observations are dicts with keys "
                f"{keys}; got {got}"
            )
        out = {}
        for k in keys:
            arr = np.asarray(observation[k])
            arr = arr[None] if single else arr
            want = space[k].shape
            if arr.shape[1:] != want:
                raise ValueError(
                    f"observation[{k!r}] has shape {arr.shape[1:]} per observation; {self.level} "
                    f"(the level this baby was trained on) has {want}: is this env another level?"
                )
            out[k] = arr
        return out

    def _mask(self, action_masks: Any, n: int) -> torch.Tensor:
        if action_masks is None:
            return torch.ones(n, self.n_actions, dtype=torch.bool)
        mask = np.asarray(action_masks, dtype=bool).reshape(-1, np.shape(action_masks)[-1])
        if mask.shape != (n, self.n_actions):
            raise ValueError(
                f"action_masks has shape {np.shape(action_masks)}; this baby has {self.n_actions} "
                f"acts ({self.level}): pass info['action_mask'] of its level"
            )
        return torch.as_tensor(mask)


#: The student's weights in an exported directory (``babyworld export``), beside ``config.json``.
