"""``babyworld ablate CONFIG --ray [ADDRESS]``: an ablation's runs as Ray tasks on a cluster.

Every run the plan still needs becomes one Ray task asking for the config's ``threads`` CPUs (one
when ``threads`` is left to torch), and Ray runs as many at once as the cluster's CPUs allow. A
task decides what to do when it starts, from the run's directory as it is then
(``train_run`` in :mod:`~babyworld.experiments.ablation.ablate`): train, resume from the checkpoint,
or start again a run interrupted before its first one. So when a node dies, Ray starts its tasks
again elsewhere (up to :data:`MAX_RETRIES` times each) and each resumes from the last checkpoint
its first attempt wrote: nothing is lost but the updates since that checkpoint, and the run ends
as an uninterrupted one would (the same model; a test kills a node mid-ablation).

Results equal a local ablation of the same config: each task runs the same ``train()`` with the
same seeds and settings. Set ``threads`` in the config for equal arithmetic: a Ray worker gives
torch the task's CPUs, a local process all of the machine's.

On a real cluster every node needs babyworld and its dependencies at the versions of the driver
(Ray refuses other Ray or Python versions), the default parent's package where the parent is
``smollm2``, and the ablation's out directory at the same path (a shared filesystem, e.g. NFS).
Each node keeps its own parent answer store (``BABYWORLD_CACHE``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from babyworld.vector.cluster import connect, import_ray

if TYPE_CHECKING:  # pragma: no cover
    from babyworld.experiments.ablation.ablate import PlannedRun
    from babyworld.experiments.config import TrainConfig

#: How many times Ray starts a run again whose worker process or node died; a run that fails
#: for any other reason (an exception in ``train()``) is not started again.
MAX_RETRIES = 3


class ClusterError(RuntimeError):
    """A run of the ablation failed on the cluster; the message names it and says how to resume."""


def run_on_ray(
    runs: Sequence[PlannedRun],
    work: Callable[[TrainConfig], str],
    address: str,
    cpus: int,
) -> Iterator[tuple[PlannedRun, str]]:
    """Run ``work(run.config)`` for every run as a Ray task; yield each run and its result as it ends.

    Args:
        runs: the runs to bring to their budgets (their configs say where and how).
        work: what a task does with a run's config (a module-level function, which Ray's workers
            import by name): :func:`~babyworld.experiments.ablation.ablate.train_run`.
        address: ``"local"`` (a cluster started on this machine) or a running cluster's address.
        cpus: CPUs each task asks for.

    Raises:
        ClusterError: a run raised, or was lost more than :data:`MAX_RETRIES` times; the runs
            still going are cancelled (each keeps its last checkpoint: rerun to resume).
    """
    ray = import_ray()
    started = connect(address)
    try:
        task = ray.remote(work).options(num_cpus=cpus, max_retries=MAX_RETRIES)
        pending = {task.remote(run.config): run for run in runs}
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(ref)
            try:
                action = ray.get(ref)
            except ray.exceptions.RayError as e:
                for other in pending:
                    ray.cancel(other, force=True)
                raise ClusterError(
                    f"run {run.path} failed on the cluster ({type(e).__name__}: "
                    f"{str(e).strip().splitlines()[-1] if str(e).strip() else e!r}); the other "
                    "runs were stopped, each keeping its last checkpoint: rerun the same command "
                    "to resume them"
                ) from e
            yield run, action
    finally:
        if started:
            ray.shutdown()
