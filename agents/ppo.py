"""PPO for the student, plus world-model and latent-KL losses (``L = L_RL + l_wm L_wm + l_mdl KL``).

CleanRL's ``ppo.py`` structure (rollout buffers allocated once as ``[T, N, ...]``, GAE, epochs of
shuffled minibatches), with a vector critic over the reward components, terminated and truncated
kept apart, and the student's own world-model error and latent KL filling the ``predictability``
and ``mdl`` components in place of the env's defaults. No cross-entropy on the parent's text ever
reaches the policy: the world model predicts the next observation from the student's own latent.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from babyworld.agents import losses, supervision
from babyworld.agents.history import HistoryBuffer, Window
from babyworld.agents.mode_base import LearningMode, MiniBatch, RolloutFacts, RunShape
from babyworld.agents.modes import ModeConfig, make_mode, resolve_mode
from babyworld.agents.ppo_config import PPOConfig
from babyworld.agents.retention import Keep, StageReplay
from babyworld.agents.student import StudentConfig, student_for
from babyworld.curricula import Curriculum, FixedCurriculum
from babyworld.curricula.runner import CurriculumRunner, RunnerStep
from babyworld.rewards import REWARD_INDEX
from babyworld.task import Task
from babyworld.vector.local import LevelInfo

#: Losses and diagnostics :meth:`PPOTrainer.update` returns (logged under ``losses/``).
LOSS_KEYS = (
    "policy", "value", "entropy", "approx_kl", "clipfrac", "world_model", "latent_kl", "distill"
)  # fmt: skip


class PPOTrainer:
    """Trains a :class:`Student` on a Gymnasium vector env of a babyworld level.

    Args:
        envs: a vector env with autoreset disabled exposing ``envs`` (see :func:`make_envs`).
        student: sizes of the student.
        ppo: hyperparameters.
        seed: seeds the student, the action sampling and the envs.
        total_steps: the run's budget in env steps (for the optional LR annealing).
        curriculum: chooses each episode's task (default: always the env's own level).
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        student: StudentConfig,
        ppo: PPOConfig,
        seed: int,
        total_steps: int,
        curriculum: Curriculum | None = None,
        mode: str = "baby",
        modes: ModeConfig | None = None,
    ) -> None:
        self.envs, self.cfg, self.seed, self.total_steps = envs, ppo, seed, total_steps
        self.modes = modes or ModeConfig()
        self.mode = resolve_mode(mode, self.modes)
        self.learning: LearningMode = make_mode(self.mode, self.modes)
        if not hasattr(envs, "level_info"):
            raise TypeError(
                "PPOTrainer needs a babyworld vector env (make_envs, or gym.make_vec of a "
                f"babyworld id), got {type(envs).__name__}"
            )
        #: What the trainer and its mode know of the envs (the same in every env).
        self.level: LevelInfo = envs.level_info
        self.n = envs.num_envs
        self.weights = torch.tensor(self.level.reward_weights, dtype=torch.float32)
        self.reward_names = self.level.reward_names
        obs_space = self.level.observation_space
        self.vocab = int(obs_space["heard"].nvec[0])
        self.heard_length = obs_space["heard"].shape[0]
        self.percept_dim = obs_space["percept"].shape[0]
        self.n_actions = int(self.level.action_space.n)
        torch.manual_seed(seed)
        self.model = student_for(student, self.level)
        # foreach: one kernel per operation over all parameters (torch's default on CPU is a loop
        # over the tensors); the same arithmetic, bit for bit, ~1.3x faster per step here
        self.optimizer = torch.optim.Adam(self.model.parameters(), ppo.lr, eps=1e-5, foreach=True)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.global_step = 0
        self.updates = 0
        self.episodes_total = 0
        self.keep = Keep(ppo)  # the last passed stage's student, or its steps
        self.episodes: deque[dict] = deque(maxlen=500)
        self._ep_return = np.zeros(self.n)
        self.curriculum = curriculum or FixedCurriculum(Task.make(self.level.level))
        shape = RunShape(
            self.level.level, self.level.one_act, self.level.exchanges, self.n,
            ppo.rollout_steps, total_steps,
        )  # fmt: skip
        self.learning.check_run(self.modes, shape)
        self.learning.attach(self)  # what the mode keeps (e.g. a teacher copy)
        self.bits: dict[str, float] = {}  # supervision bits by kind, summed over steps
        self.words_heard = 0.0  # parent tokens heard, summed over steps
        self.accounted_steps = 0
        self.active = self.learning.active(0)
        self.group_size = self.learning.group_size_of(self.modes)
        # Tasks are drawn from their own stream, so the curriculum never shifts the policy's.
        self.runner = CurriculumRunner(
            envs, self.curriculum, seed=seed + 1_000_003, group_size=self.group_size
        )
        self.history = HistoryBuffer(
            self.n, student.history, self.heard_length, self.percept_dim, self.n_actions
        )
        #: called after every env step with the RunnerStep and the run's env steps at its end
        #: (e.g. the run's language log); ``reset_infos`` are the infos of the first reset.
        self.listeners: list[Callable[[RunnerStep, int], None]] = []
        obs, self.reset_infos = self.runner.reset(seed=seed)
        self.history.start_rows(np.ones(self.n, dtype=bool), obs)
        self._alloc(ppo.rollout_steps)

    def _alloc(self, t: int) -> None:
        w = self.history.w
        n, r = self.n, len(self.reward_names)
        self.buf = {
            "window": Window(*(torch.zeros((t, *x.shape), dtype=x.dtype) for x in w.as_tuple())),
            "mask": torch.zeros(t, n, self.n_actions, dtype=torch.bool),
            "action": torch.zeros(t, n, dtype=torch.long),
            "logp": torch.zeros(t, n),
            "value": torch.zeros(t, n, r),
            "reward": torch.zeros(t, n, r),
            "terminated": torch.zeros(t, n),
            "ended": torch.zeros(t, n),
            "next_value": torch.zeros(t, n, r),
            "next_heard": torch.zeros(t, n, self.heard_length, dtype=torch.long),
            "next_len": torch.zeros(t, n, dtype=torch.long),
            "next_percept": torch.zeros(t, n, self.percept_dim),
            "episode_end": torch.zeros(t, n),
        }
        #: the fields the mode declares (e.g. distill's teacher distribution)
        self.mode_fields = self.learning.step_fields(self.n_actions, self.heard_length)
        for name, (shape, dtype) in self.mode_fields.items():
            self.buf[name] = torch.zeros(t, n, *shape, dtype=dtype)
        if self.keep.needs_task:  # each step's task index in the curriculum
            self.buf["task"] = torch.zeros(t, n, dtype=torch.long)
        if self.cfg.replay_coef:  # the policy each step was acted with (StageReplay's)
            self.buf["policy"] = torch.zeros(t, n, self.n_actions)

    def _masks(self) -> torch.Tensor:
        return torch.as_tensor(self.envs.action_masks(), dtype=torch.bool)

    def right_actions(self) -> np.ndarray:
        """The verifier's right act in every env now (``[N]``; one-act levels)."""
        return self.envs.right_actions()

    def parent_logprobs(self) -> torch.Tensor:
        """The parent's log-distribution over every env's actions, ``[N, A]``."""
        return torch.as_tensor(self.envs.teacher_logprobs(), dtype=torch.float32)

    def _behaviour(
        self, logits: torch.Tensor, mask: torch.Tensor, parent_lp: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The acts of this step and their log-probs under the distribution they came from."""
        logits = self.active.behaviour_logits(logits, mask, parent_lp)
        dist = torch.distributions.Categorical(logits=logits, validate_args=False)
        action = torch.multinomial(dist.probs, 1, generator=self.gen)[:, 0]
        return action, dist.log_prob(action)

    @torch.no_grad()
    def collect(self) -> dict[str, float]:
        """Fill the rollout buffers with ``rollout_steps`` steps of every env."""
        b, stats = self.buf, {"env_reward": np.zeros(len(self.reward_names))}
        self.model.eval()
        mode = self.active = self.learning.active(self.global_step)
        mode.begin_rollout(self)
        facts = np.zeros(4)  # exchanges, right ones, episodes, policy entropy (bits)
        for t in range(self.cfg.rollout_steps):
            win = self.history.w
            mask = self._masks()
            out = self.model(*win.as_tuple(), mask)
            parent_lp = mode.before_act(self, t)
            action, logp = self._behaviour(out.logits, mask, parent_lp)
            for dst, src in zip(b["window"].as_tuple(), win.as_tuple(), strict=True):
                dst[t] = src
            for key, value in (("mask", mask), ("action", action), ("logp", logp)):
                b[key][t] = value
            b["value"][t] = out.values
            if "policy" in b:
                b["policy"][t] = torch.log_softmax(out.logits.masked_fill(~mask, -torch.inf), -1)
            if "task" in b:  # the task of each env's episode, as an index
                b["task"][t] = torch.as_tensor(self.runner.task_indices())
            res = self.runner.step(action.numpy())
            for listen in self.listeners:
                listen(res, self.global_step + self.n * (t + 1))
            obs, term, trunc, infos = res.obs, res.terminated, res.truncated, res.infos
            ended = np.logical_or(term, trunc)
            vectors = np.stack([np.asarray(v, dtype=np.float32) for v in infos["reward_vector"]])
            exchange_end = np.asarray(infos["exchange_end"], dtype=bool)
            right = exchange_end & np.asarray(infos["success"], dtype=bool)
            facts += (exchange_end.sum(), right.sum(), ended.sum(), 0.0)
            facts[3] += float(supervision.act_response_bits(out.logits).mean())
            if self.cfg.curriculum_progress:  # the curriculum's change in capability, at the end
                vectors[:, REWARD_INDEX["progress"]] = 0.0
                for f in res.finished:
                    vectors[f.env, REWARD_INDEX["progress"]] = f.progress
            b["next_heard"][t] = torch.as_tensor(obs["heard"], dtype=torch.long)
            b["next_len"][t] = torch.as_tensor(obs["heard_len"], dtype=torch.long)
            b["next_percept"][t] = torch.as_tensor(obs["percept"], dtype=torch.float32)
            mode.after_env_step(
                self, t, win.heard[:, -1].clone(), win.heard_len[:, -1].clone(), infos
            )
            # row sums of 5 terms add in order, as the dot product of one row does (not a matmul)
            self._ep_return += (vectors * self.weights.numpy()).sum(1)
            for i in np.flatnonzero(trunc & ~term):  # bootstrap from the window after the step
                nxt = {k: v[i] for k, v in obs.items()}
                fin = self.history.peek(i, nxt, int(action[i]))
                m = torch.ones(1, self.n_actions, dtype=torch.bool)
                b["next_value"][t, i] = self.model(*fin.as_tuple(), m).values[0]
            self.history.push_rows(~ended, obs, action)
            self._finished(res, mode.student_acts, self.global_step + self.n * (t + 1))
            stats["env_reward"] += vectors.mean(0)
            b["reward"][t] = self._student_rewards(torch.as_tensor(vectors), out, action, t)
            mode.end_step(self, t)
            b["episode_end"][t] = torch.as_tensor(ended, dtype=torch.float32)
            # An exchange's acts have no consequence past it (the next exchange is a fresh draw in
            # every level), so with exchange_horizon GAE ends there, like an episode. The sparse
            # signal comes only at the episode's end, so there credit must flow through it.
            horizon = self.cfg.exchange_horizon and mode.cut_at_exchange
            cut = exchange_end if horizon else np.zeros(self.n, dtype=bool)
            b["terminated"][t] = torch.as_tensor(term | cut, dtype=torch.float32)
            b["ended"][t] = torch.as_tensor(ended | cut, dtype=torch.float32)
        last = self.model(*self.history.w.as_tuple(), self._masks()).values
        nv = torch.cat([b["value"][1:], last[None]], 0)
        trunc_only = (b["ended"] > 0) & (b["terminated"] == 0)
        b["next_value"] = torch.where(trunc_only[..., None], b["next_value"], nv)
        mode.shape_rewards(self)
        self._account(mode, facts)
        self.global_step += self.n * self.cfg.rollout_steps
        stats["env_reward"] /= self.cfg.rollout_steps
        return stats

    def _student_rewards(
        self, reward: torch.Tensor, out: Any, action: torch.Tensor, t: int
    ) -> torch.Tensor:
        """``reward`` with its predictability and MDL computed by the student itself.

        Left as the env gave them unless ``student_rewards``: the world model's error on what came
        after the act at step ``t``, and the KL of the latent to the prior (see ``losses``).
        """
        if not self.cfg.student_rewards:
            return reward
        b = self.buf
        wm_tok, wm_per = self.model.predict_next(out.mu, out.logvar, action, sample=False)
        err = losses.world_model_error(
            wm_tok, b["next_heard"][t], b["next_len"][t], wm_per, b["next_percept"][t]
        )
        reward[:, REWARD_INDEX["predictability"]] = losses.student_predictability(err, self.vocab)
        kl = losses.kl_standard_normal(out.mu, out.logvar)
        reward[:, REWARD_INDEX["mdl"]] = losses.student_mdl(kl, self.model.cfg.latent_dim)
        return reward

    def _finished(self, res: Any, student_acts: bool, step: int) -> None:
        """Record the episodes that ended in a step and start the next ones' windows.

        Success figures are the student's own: episodes acted by the parent (offline distill)
        or by the uniform policy (predict) are not counted.
        """
        for f in res.finished:
            if student_acts:
                self.episodes.append(
                    {
                        "return": self._ep_return[f.env],
                        "success": f.true_success,  # the world's verifier: held out
                        "proxy_success": f.stats.success,  # the verdict the rewards read
                        "length": f.stats.steps,
                        "task": f.task.name,
                        "step": step,
                    }
                )
            self._ep_return[f.env] = 0.0
            self.episodes_total += 1
        self.history.start_rows(
            np.array([f.env for f in res.finished], dtype=np.int64), res.next_obs
        )

    def warm_start(self, model_state: dict[str, Any]) -> None:
        """Start from trained student weights (``--init-from``); the mode keeps copies of them.

        Raises:
            ValueError: the weights do not fit this student (sizes, level).
        """
        try:
            self.model.load_state_dict(model_state)
        except RuntimeError as e:
            raise ValueError(
                f"the --init-from weights do not fit this run's student ({e}); use a checkpoint "
                "of a run with the same --student.* sizes and level"
            ) from e
        self.learning.attach(self)

    def _account(self, mode: LearningMode, facts: np.ndarray) -> None:
        """Add the rollout's supervision bits (the mode's accounting) and words heard."""
        steps, t = self.n * self.cfg.rollout_steps, self.cfg.rollout_steps
        exchanges, right, episodes, entropy = facts
        per_episode = max(1, round(exchanges / episodes)) if episodes else 1
        f = RolloutFacts(
            p_right=float(right / exchanges) if exchanges else 0.0,
            exchanges_per_step=float(exchanges / steps),
            episodes_per_step=float(episodes / steps),
            exchanges_per_episode=per_episode,
            policy_bits=float(entropy / t),
        )
        for k, v in mode.supervision(self, f).items():
            self.bits[k] = self.bits.get(k, 0.0) + v * steps
        self.words_heard += float(self.buf["next_len"].float().sum())
        self.accounted_steps += steps

    def supervision_summary(self) -> dict[str, Any]:
        """Bits per step of external, action-dependent supervision, by kind and in total.

        ``measured_bits_per_step`` sums the measured kinds; ``bound_bits_per_step`` the kinds
        counted by an upper bound (:data:`~babyworld.agents.supervision.BOUND_KINDS`), kept apart.
        See :mod:`babyworld.agents.supervision`; ``words_heard`` (parent tokens heard per step,
        the world model's channel) is a separate column, not bits.
        """
        n = max(1, self.accounted_steps)
        kinds = {k: v / n for k, v in sorted(self.bits.items())}
        bound = sum(v for k, v in kinds.items() if k in supervision.BOUND_KINDS)
        return {
            "measured_bits_per_step": sum(kinds.values()) - bound,
            "bound_bits_per_step": bound,
            "bits_by_kind": kinds,
            "measured_bits_total": sum(
                v for k, v in self.bits.items() if k not in supervision.BOUND_KINDS
            ),
            "words_heard_per_step": self.words_heard / n,
            "steps": self.accounted_steps,
        }

    def update(self) -> dict[str, float]:
        """One PPO update on the collected rollout; returns the losses and diagnostics."""
        cfg, b = self.cfg, self.buf
        if cfg.anneal_lr:  # from the step count before this rollout, as CleanRL
            done = self.global_step - self.n * cfg.rollout_steps
            frac = max(0.0, 1.0 - done / self.total_steps)
            self.optimizer.param_groups[0]["lr"] = cfg.lr * frac
        adv_vec, ret_vec = losses.gae(
            b["reward"],
            b["value"],
            b["next_value"],
            b["terminated"],
            b["ended"],
            cfg.gamma,
            cfg.gae_lambda,
        )
        mode = self.active
        adv = mode.advantages(self, adv_vec, self.weights)
        flat = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
        win = Window(*(flat(x) for x in b["window"].as_tuple()))
        mask, act, logp_old = flat(b["mask"]), flat(b["action"]), flat(b["logp"])
        adv, ret = flat(adv), flat(ret_vec)
        nh, nl, np_ = flat(b["next_heard"]), flat(b["next_len"]), flat(b["next_percept"])
        self.flat = {k: flat(b[k]) for k in self.mode_fields}
        size = act.shape[0]
        mb = max(1, size // cfg.minibatches)
        self.model.train()
        task = flat(b["task"]) if "task" in b else None
        replayable = None  # this rollout's steps, as replay keeps them
        if "policy" in b:
            fields = [*win.as_tuple(), mask, flat(b["policy"])]
            replayable = dict(zip(StageReplay.FIELDS, fields, strict=True))
        self.keep.observe(self.model, self.curriculum.log(), replayable, task)
        log: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
        for _ in range(cfg.epochs):
            perm = torch.as_tensor(self.rng.permutation(size))
            for start in range(0, size, mb):
                idx = perm[start : start + mb]
                w = Window(*(x[idx] for x in win.as_tuple()))
                out = self.model(*w.as_tuple(), mask[idx])
                dist = torch.distributions.Categorical(logits=out.logits, validate_args=False)
                logp = dist.log_prob(act[idx])
                ent = dist.entropy().mean()
                terms = mode.policy_loss(
                    self,
                    MiniBatch(idx, out, w, mask[idx], act[idx], logp, logp_old[idx], ent, adv[idx]),
                )
                policy, pg, clipfrac, kl, distill = vars(terms).values()  # in field order
                v_loss = losses.value_loss(out.values, ret[idx])
                tok, per = self.model.predict_next(
                    out.mu, out.logvar, act[idx], sample=True, generator=self.gen
                )
                wm = losses.world_model_error(tok, nh[idx], nl[idx], per, np_[idx]).mean()
                lkl = losses.kl_standard_normal(out.mu, out.logvar).mean()
                loss = policy + cfg.vf_coef * v_loss + cfg.wm_coef * wm + cfg.mdl_coef * lkl
                kept = self.keep.loss(self.model, out, w.as_tuple(), mask[idx], task, idx, self.rng)
                loss = loss if kept is None else loss + kept
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                for k, v in zip(
                    log, (pg, v_loss, ent, kl, clipfrac, wm, lkl, distill), strict=True
                ):
                    log[k].append(float(v.detach()))
        self.updates += 1
        mode.after_update(self)
        values = losses.combine_components(flat(b["value"]), self.weights)
        returns = losses.combine_components(ret, self.weights)
        out = {k: float(np.mean(v)) for k, v in log.items()}
        out["explained_variance"] = losses.explained_variance(values, returns)
        out["phase"] = float(mode.phase_id)
        out.update(mode.update_metrics())
        out["lr"] = self.optimizer.param_groups[0]["lr"]
        for k, name in enumerate(self.reward_names):
            out[f"reward/{name}"] = float(b["reward"][..., k].mean())
        return out

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "global_step": self.global_step,
            "updates": self.updates,
            "episodes_total": self.episodes_total,
            "episodes": list(self.episodes),
            "ep_return": self._ep_return.copy(),
            "curriculum": self.curriculum.state_dict(),
            "runner": self.runner.state_dict(),
            "history": self.history.w.clone(),
            "keep": self.keep.state_dict(),
            "mode": self.learning.state_dict(),
            "supervision": {
                "bits": dict(self.bits),
                "words_heard": self.words_heard,
                "steps": self.accounted_steps,
            },
            "rng": {
                "numpy": self.rng.bit_generator.state,
                "torch": torch.get_rng_state(),
                "trainer_torch": self.gen.get_state(),
                "python": random.getstate(),
            },
            "envs": self.envs.env_states(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the envs and the model must have the same shapes)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.global_step, self.updates = state["global_step"], state["updates"]
        self.episodes_total = state["episodes_total"]
        self.episodes = deque(state["episodes"], maxlen=500)
        self._ep_return = state["ep_return"].copy()
        self.curriculum.load_state_dict(state["curriculum"])
        self.runner.load_state_dict(state["runner"])
        self.history.w = state["history"].clone()
        self.keep.load_state_dict(state.get("keep", {}), self.model)
        self.learning.load_state_dict(state["mode"])
        sup = state.get("supervision", {})
        self.bits = dict(sup.get("bits", {}))
        self.words_heard = float(sup.get("words_heard", 0.0))
        self.accounted_steps = int(sup.get("steps", 0))
        self.rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        self.gen.set_state(state["rng"]["trainer_torch"])
        random.setstate(state["rng"]["python"])
        if len(state["envs"]) != self.n:
            raise ValueError(f"checkpoint has {len(state['envs'])} envs, this run {self.n}")
        self.envs.load_env_states(state["envs"])


def success_rate(episodes: list[dict] | deque, last: int = 500, key: str = "success") -> float:
    """Mean per-episode success (fraction of right exchanges) over the last ``last`` episodes.

    ``key="success"`` is the world's verifier (true success); ``"proxy_success"`` the verdict the
    rewards read (the parent's, with ``reward_source="parent"``).
    """
    eps = list(episodes)[-last:]
    return float(np.mean([e.get(key, e["success"]) for e in eps])) if eps else math.nan
