"""Rollout workers as Ray actors: a vector env whose envs live in K worker processes.

:class:`RayVectorEnv` splits the run's N envs into K contiguous shards; each shard is one Ray actor
(:class:`~babyworld.vector.shard.ShardWorker`) holding a native
:class:`~babyworld.vector.local.ParentBatchVectorEnv` and its own parent built from the run's
parent spec. ``reset`` and ``step`` go out to every actor at
once and their results come back concatenated in env order, with the same infos (reward vectors
included), the same per-env seeds (env ``i`` gets ``seed + i``) and the same reset options
(``task``, ``reset_mask``) as the local env, so a learner and a curriculum in the driver run
unchanged on it: with a deterministic parent a run gives exactly the local run's results.

Worker failures are recovered, never waited on forever: a worker that dies (or does not answer
within ``call_timeout`` seconds) is replaced by a new actor holding the same envs, freshly reset
with their current tasks and seeds derived from their original ones; at the next ``step`` those
envs report ``truncated`` (reward 0, their last observation, ``info["worker_lost"]``), and a
warning names the worker and the envs it moved. Ray is imported only when this env is built.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from babyworld.task import Task
from babyworld.validation import check_float, check_int, check_seeds
from babyworld.vector.cluster import connect, import_ray
from babyworld.vector.local import reset_options
from babyworld.vector.shard import ShardWorker

log = logging.getLogger(__name__)


class RayWorkerError(RuntimeError):
    """Ray rollout workers could not be started or replaced."""


@dataclass
class _Worker:
    """The driver's record of one shard."""

    index: int
    start: int
    stop: int
    actor: Any = None
    pid: int = 0
    node: str = ""
    generation: int = 0
    lost: bool = False
    """replaced since the last step: its envs report ``truncated`` at the next step"""
    fresh: tuple[dict, list] | None = None
    """the replacement's reset observations and infos (``SAME_STEP``: the next episodes)"""
    stats: dict[str, float] = field(default_factory=dict)
    note: str = ""
    """what happened to the replaced actor (``info["worker_lost"]``)"""

    @property
    def envs(self) -> slice:
        return slice(self.start, self.stop)

    def describe(self) -> str:
        return f"worker {self.index} (pid {self.pid} on {self.node}, envs {self.start}-{self.stop - 1})"


class RayVectorEnv(VectorEnv):
    """N envs of one babyworld level on K Ray actors, one native vector env per actor.

    Args:
        level: the level's name (e.g. ``"Point"``, ``"Ladder"``).
        num_envs: N, split into K contiguous shards (sizes differ by at most one).
        parent: parent spec string; every worker builds its own parent from it.
        workers: K, between 1 and N.
        autoreset_mode: ``SAME_STEP`` or ``DISABLED``, as the native env.
        address: Ray cluster address; ``None`` or ``"local"`` starts a local cluster (if Ray is
            not initialised yet in this process).
        call_timeout: seconds a worker may take to answer one call before it is replaced.
        start_timeout: seconds a worker may take to start and build its parent.
        **env_kwargs: keyword arguments of every env.

    Raises:
        ValueError: ``workers`` is below 1 or above ``num_envs``, or ``parent`` is not a string.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    #: ``reset(options={"task": [...]})`` takes one task per env (the curriculum runner's cue).
    tasks_per_env = True

    def __init__(
        self,
        level: str,
        num_envs: int,
        parent: str = "smollm2",
        workers: int = 2,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        address: str | None = None,
        call_timeout: float = 600.0,
        start_timeout: float = 900.0,
        **env_kwargs: Any,
    ) -> None:
        num_envs = check_int("num_envs", num_envs, 1)
        check_float("call_timeout", call_timeout, 0, low_open=True)
        check_float("start_timeout", start_timeout, 0, low_open=True)
        check_workers(workers, num_envs)
        if not isinstance(parent, str):
            raise ValueError(
                f"Ray workers build their own parent from a spec string, got {parent!r}"
            )
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
            raise ValueError(f"autoreset_mode must be SAME_STEP or DISABLED, got {mode}")
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.level, self.num_envs, self.parent_spec = level, num_envs, parent
        self.call_timeout, self.start_timeout = float(call_timeout), float(start_timeout)
        self._env_kwargs = dict(env_kwargs)
        self._ray = import_ray()
        self._started_ray = connect(address)
        self._errors = importlib.import_module("ray.exceptions")
        total = float(self._ray.cluster_resources().get("CPU", 0.0))
        if total <= 0:
            raise RayWorkerError("the Ray cluster has no CPUs to run rollout workers on")
        # Workers share the cluster's CPUs: K workers on 2 cores get a fraction each (Ray's CPU
        # count is a scheduling label, not a limit), at most one CPU each on a bigger cluster.
        self._cpus = min(1.0, int(total / workers * 1e4) / 1e4)
        self._actor_cls = self._ray.remote(ShardWorker)
        bounds = np.linspace(0, num_envs, workers + 1).round().astype(int)
        self.workers = [
            _Worker(k, int(a), int(b))
            for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]
        try:
            infos = self._start(list(self.workers))
        except BaseException:
            self.close()
            raise
        self.level_info = infos[0]["level_info"]
        self.parent_label, self.parent_runtime = infos[0]["parent"]
        self.single_observation_space = infos[0]["single_observation_space"]
        self.single_action_space = infos[0]["single_action_space"]
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.reward_names = self.level_info.reward_names
        self._obs: dict | None = None
        self._seeds: list[int | None] = [None] * num_envs
        self._tasks: list[Task | None] = [None] * num_envs
        self._retired_stats: dict[str, float] = {}

    # ------------------------------------------------------------------------------- workers
    def _start(self, workers: list[_Worker]) -> list[dict]:
        """Start (or restart) ``workers``' actors and build their envs; returns their setup."""
        for w in workers:
            w.actor = self._actor_cls.options(num_cpus=self._cpus, max_restarts=0).remote()
        refs = [
            w.actor.setup.remote(
                self.level,
                w.stop - w.start,
                self.parent_spec,
                self.autoreset_mode.value,
                self._env_kwargs,
            )
            for w in workers
        ]
        try:
            out = self._ray.get(refs, timeout=self.start_timeout)
        except self._errors.GetTimeoutError as e:
            raise RayWorkerError(
                f"Ray workers did not start within {self.start_timeout:.0f} s (building the "
                f"parent {self.parent_spec!r} included); the cluster may lack free CPUs "
                f"({self._cpus} per worker) or memory: check 'ray status'"
            ) from e
        except self._errors.RayTaskError as e:
            raise _cause(e) from None
        for w, info in zip(workers, out, strict=True):
            w.pid, w.node = info["pid"], info["node"]
        return out

    def _get(self, refs: dict[int, Any]) -> tuple[dict[int, Any], list[int]]:
        """Each worker's answer; workers that died or timed out are replaced (listed second)."""
        out, failed = {}, []
        for k, ref in refs.items():
            try:
                out[k] = self._ray.get(ref, timeout=self.call_timeout)
            except self._errors.RayTaskError as e:
                raise _cause(e) from None
            except self._errors.RayActorError as e:
                self._replace(self.workers[k], f"died ({type(e).__name__})")
                failed.append(k)
            except self._errors.GetTimeoutError:
                self._replace(self.workers[k], f"did not answer within {self.call_timeout:.0f} s")
                failed.append(k)
        return out, failed

    def _replace(self, w: _Worker, why: str) -> None:
        """Re-host ``w``'s envs on a new actor, reset with their tasks and derived seeds."""
        old = w.describe()
        try:
            self._ray.kill(w.actor, no_restart=True)
        except Exception:  # noqa: BLE001, S110 - already gone is fine
            pass
        for k, v in w.stats.items():
            self._retired_stats[k] = self._retired_stats.get(k, 0) + v
        w.stats, w.generation = {}, w.generation + 1
        try:
            self._start([w])
            seeds = [_derived_seed(s, w.generation) for s in self._seeds[w.envs]]
            w.fresh = self._ray.get(
                w.actor.reset.remote(seeds, None, self._tasks[w.envs]), timeout=self.call_timeout
            )
        except Exception as e:
            raise RayWorkerError(
                f"Ray {old} {why} and a replacement could not be started: {e}"
            ) from e
        w.lost, w.note = True, f"{old} {why}"
        log.warning(
            "Ray %s %s; its envs %s now run on a new worker (pid %s on %s); their episodes in "
            "flight end as truncated at the next step",
            old,
            why,
            list(range(w.start, w.stop)),
            w.pid,
            w.node,
        )

    # ------------------------------------------------------------------------------- reset
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict, dict]:
        """Reset every env (env ``i`` seeded ``seed + i``); options as the native vector env."""
        n = self.num_envs
        seeds = check_seeds(seed, n)
        mask, task_list = reset_options(options, n)
        tasks = np.empty(n, dtype=object)
        tasks[:] = task_list
        if mask is not None and self._obs is None and not mask.all():
            raise RuntimeError("reset all envs once before a partial reset with 'reset_mask'")
        full = np.ones(n, dtype=np.bool_) if mask is None else mask
        todo = [w for w in self.workers if full[w.envs].any()]
        checks = {
            w.index: w.actor.check_reset.remote(full[w.envs], list(tasks[w.envs]))
            for w in todo
            if mask is not None or any(t is not None for t in tasks[w.envs])
        }
        self._get(checks)  # all or nothing: every shard accepts before any env moves
        for i in np.flatnonzero(full):
            if seeds[i] is not None:
                self._seeds[i] = seeds[i]
            if tasks[i] is not None:
                self._tasks[i] = tasks[i]
        if seeds[0] is not None and full.all():
            self._np_random, self._np_random_seed = np.random.default_rng(seeds[0]), seeds[0]
        results = self._reset_shards(todo, seeds, full, tasks)
        parts, infos = [], {}
        for w in self.workers:
            if w.index in results:
                obs, raw = results[w.index]
                for i, info in raw:
                    infos = self._add_info(infos, info, w.start + i)
                if full[w.envs].all():
                    w.lost, w.fresh = False, None  # the caller started new episodes anyway
                parts.append(obs)
            else:
                parts.append(_rows(self._obs, w.envs))
        self._obs = _concat(parts)
        return self._obs, infos

    def _reset_shards(
        self, todo: list[_Worker], seeds: list, full: np.ndarray, tasks: list
    ) -> dict[int, Any]:
        def refs(ws: list[_Worker]) -> dict[int, Any]:
            return {
                w.index: w.actor.reset.remote(
                    seeds[w.envs],
                    None if full[w.envs].all() else full[w.envs],
                    list(tasks[w.envs]),
                )
                for w in ws
            }

        out, failed = self._get(refs(todo))
        if failed:  # replaced workers were reset once: run the requested reset on them
            again, failed = self._get(refs([self.workers[k] for k in failed]))
            out.update(again)
            if failed:
                raise RuntimeError(f"Ray workers {failed} failed twice in a row during reset")
        return out

    # ------------------------------------------------------------------------------- step
    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env on its worker; envs of a replaced worker report ``truncated``."""
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        live = [w for w in self.workers if not w.lost]
        # all or nothing: every shard accepts its actions before any env moves
        self._get(
            {w.index: w.actor.call.remote("check_actions", (actions[w.envs],), {}) for w in live}
        )
        live = [w for w in self.workers if not w.lost]
        results, _ = self._get({w.index: w.actor.step.remote(actions[w.envs]) for w in live})
        obs_parts, rewards, terms, truncs, infos = [], [], [], [], {}
        for w in self.workers:
            if w.index in results:
                obs, rew, term, trunc, raw = results[w.index]
                for i, info in raw:
                    infos = self._add_info(infos, info, w.start + i)
            else:  # replaced: its episodes end here, truncated
                obs, rew, term, trunc = self._lost_step(w)
                for i in range(w.start, w.stop):
                    infos = self._add_info(infos, self._lost_info(w, i), i)
                w.lost, w.fresh = False, None
            obs_parts.append(obs)
            rewards.append(rew)
            terms.append(term)
            truncs.append(trunc)
        self._obs = _concat(obs_parts)
        return (
            self._obs,
            np.concatenate(rewards),
            np.concatenate(terms),
            np.concatenate(truncs),
            infos,
        )

    def _lost_step(self, w: _Worker) -> tuple[Any, ...]:
        n = w.stop - w.start
        shape = (n, len(self.reward_names)) if self.level_info.vector_reward else (n,)
        last = _rows(self._obs, w.envs)
        obs = last
        if self.autoreset_mode == AutoresetMode.SAME_STEP and w.fresh is not None:
            obs = w.fresh[0]  # the new episodes, already reset on the replacement
        return obs, np.zeros(shape), np.zeros(n, dtype=np.bool_), np.ones(n, dtype=np.bool_)

    def _lost_info(self, w: _Worker, i: int) -> dict[str, Any]:
        info: dict[str, Any] = {
            "worker_lost": w.note,
            "success": False,
            "exchange_end": False,
            "invalid_action": False,
            "reward_vector": np.zeros(len(self.reward_names), dtype=np.float32),
            "parent_feedback": "",
        }
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            final = dict(info)
            info = {
                "final_obs": _rows(self._obs, slice(i, i + 1), squeeze=True),
                "final_info": final,
            }
            if w.fresh is not None:
                info.update(dict(w.fresh[1]).get(i - w.start, {}))
        return info

    # ------------------------------------------------------------------------------- the rest
    def _fan_out(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Call a method of every shard's vector env; a replaced worker is asked again."""
        out, failed = self._get(
            {w.index: w.actor.call.remote(name, args, kwargs) for w in self.workers}
        )
        if failed:
            again, failed = self._get(
                {k: self.workers[k].actor.call.remote(name, args, kwargs) for k in failed}
            )
            out.update(again)
            if failed:
                raise RuntimeError(f"Ray workers {failed} failed twice in a row in {name}()")
        return [out[w.index] for w in self.workers]

    def action_masks(self) -> np.ndarray:
        """``[N, A]`` masks of the actions allowed now."""
        return np.concatenate(self._fan_out("action_masks"))

    def teacher_logprobs(self) -> np.ndarray:
        """Every env's teacher log-distribution, ``[N, A]`` (one batched parent call per worker)."""
        return np.concatenate(self._fan_out("teacher_logprobs"))

    def right_actions(self) -> np.ndarray:
        """``[N]`` the verifier's right act in every env now."""
        return np.concatenate(self._fan_out("right_actions"))

    def env_states(self) -> list[dict[str, Any]]:
        """Every env's ``state_dict()``, in env order."""
        return [s for part in self._fan_out("env_states") for s in part]

    def load_env_states(self, states: Sequence[dict[str, Any]]) -> None:
        """Restore :meth:`env_states` on every worker's shard."""
        if len(states) != self.num_envs:
            raise ValueError(f"got {len(states)} env states for {self.num_envs} envs")
        refs = {
            w.index: w.actor.call.remote("load_env_states", (list(states[w.envs]),), {})
            for w in self.workers
        }
        _, failed = self._get(refs)
        if failed:
            raise RuntimeError(f"Ray workers {failed} were replaced while restoring; load again")

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call a method (or read an attribute) of every env, as ``SyncVectorEnv.call``."""
        return tuple(x for part in self._fan_out("call", name, *args, **kwargs) for x in part)

    def parent_stats(self) -> dict[str, float]:
        """The summed ``ParentStats`` fields of every worker's parent (replaced ones included)."""
        out, _ = self._get({w.index: w.actor.parent_stats.remote() for w in self.workers})
        total = dict(self._retired_stats)
        for k, stats in out.items():
            self.workers[k].stats = stats
        for w in self.workers:
            for key, v in w.stats.items():
                total[key] = total.get(key, 0) + v
        return total

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the workers (and Ray, if this env started it)."""
        for w in getattr(self, "workers", []):
            if w.actor is not None:
                try:
                    self._ray.kill(w.actor, no_restart=True)
                except Exception:  # noqa: BLE001, S110 - already gone is fine
                    pass
        if getattr(self, "_started_ray", False):
            self._ray.shutdown()


def check_workers(workers: Any, num_envs: int) -> None:
    """``ValueError`` unless ``1 <= workers <= num_envs``."""
    if not isinstance(workers, int | np.integer) or isinstance(workers, bool) or workers < 1:
        raise ValueError(
            f"--workers must be an integer >= 1, got {workers!r} (for {num_envs} envs)"
        )
    if workers > num_envs:
        raise ValueError(
            f"--workers {workers} is more than the {num_envs} envs (--num-envs): each worker "
            f"holds at least one env; use --workers <= {num_envs} or raise --num-envs"
        )


def _derived_seed(seed: int | None, generation: int) -> int | None:
    """A new seed for an env re-hosted for the ``generation``-th time (``None`` stays unseeded)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), generation]).generate_state(1)[0])


def _cause(e: Exception) -> BaseException:
    """The exception a worker raised, unwrapped from Ray's ``RayTaskError``."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def _rows(obs: dict | None, rows: slice, squeeze: bool = False) -> dict:
    assert obs is not None
    return {k: (v[rows.start] if squeeze else v[rows]).copy() for k, v in obs.items()}


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
