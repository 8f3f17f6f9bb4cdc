"""The statistics of an ablation report: pure functions, each tested against hand-computed values.

- **Final success**: the interquartile mean (IQM) over seeds with a 95% stratified bootstrap CI
  (rliable: :func:`iqm_with_ci`; across levels, seeds are resampled within each level).
- **Steps to a threshold**: the first evaluation step where greedy success reached it
  (:func:`steps_to_threshold`). A run that never reached it is *right-censored*: all we know is
  that it needs more than its budget. It counts as ``inf``, so the median over seeds
  (:func:`censored_median`) is finite only when more than half of the seeds got there, and no
  censored run is ever averaged as if it had; the report gives the fraction of seeds that got
  there beside it. Its interval is a seeded percentile bootstrap over seeds
  (:func:`percentile_bootstrap`; rliable's bootstrap interpolates between percentiles, which
  ``inf`` breaks, so this one takes order statistics).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np


def steps_to_threshold(
    rows: Sequence[Mapping[str, float]], threshold: float, key: str = "greedy_success"
) -> int | None:
    """Env steps of the first row whose ``key`` is at least ``threshold`` (``None``: never).

    Args:
        rows: a run's evaluations in step order (``eval.csv``: ``step``, ``greedy_success``...).
        threshold: the success level.
        key: the column compared with ``threshold``.
    """
    for row in rows:
        if row[key] >= threshold:
            return int(row["step"])
    return None


def censored(values: Sequence[int | float | None]) -> np.ndarray:
    """Steps to a threshold as floats, a run that never got there (``None``) as ``inf``."""
    return np.array([math.inf if v is None else float(v) for v in values], dtype=np.float64)


def censored_median(values: Sequence[int | float | None]) -> float:
    """Median over seeds, a seed that never reached the threshold (``None``) counting as ``inf``.

    ``inf`` when half of the seeds or more never got there (with an even count, the median of
    the middle pair ``(x, inf)`` is ``inf``); ``nan`` for no value.
    """
    if not values:
        return math.nan
    return float(np.median(censored(values)))


def median_last_axis(x: np.ndarray) -> np.ndarray:
    """``np.median`` over the last axis (the default statistic of :func:`percentile_bootstrap`)."""
    return np.median(x, axis=-1)


def bootstrap_indices(n: int, reps: int, seed: int) -> np.ndarray:
    """``[reps, n]`` resample indices, each drawn uniformly from ``0..n-1`` with replacement.

    Drawn by ``numpy.random.default_rng(seed).integers``: the same ``(n, reps, seed)`` gives the
    same resamples on every machine.
    """
    if n < 1 or reps < 1:
        raise ValueError(f"need n >= 1 and reps >= 1, got n={n}, reps={reps}")
    return np.random.default_rng(seed).integers(0, n, size=(reps, n))


def percentile_interval(stats: np.ndarray, size: float = 0.95) -> tuple[float, float]:
    """The central ``size`` interval of bootstrap statistics by order statistics.

    With ``R`` statistics sorted ascending as ``s[0..R-1]`` and ``a = (1 - size) / 2``: ``low =
    s[floor(a R)]`` and ``high = s[ceil((1 - a) R) - 1]`` (no interpolation, so ``inf`` values are
    kept as they are). E.g. ``R = 40``, ``size = 0.95``: ``low = s[1]``, ``high = s[38]``.
    """
    if not 0 < size < 1:
        raise ValueError(f"size must be in (0, 1), got {size}")
    s = np.sort(np.asarray(stats, dtype=np.float64).ravel())
    if s.size == 0 or np.isnan(s).any():
        raise ValueError("need at least one statistic and no NaN")
    a = (1.0 - size) / 2.0
    r = s.size
    lo = min(int(math.floor(a * r + 1e-9)), r - 1)
    hi = max(int(math.ceil((1.0 - a) * r - 1e-9)) - 1, 0)
    return float(s[lo]), float(s[hi])


def percentile_bootstrap(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], np.ndarray] = median_last_axis,
    reps: int = 10_000,
    seed: int = 0,
    size: float = 0.95,
) -> tuple[float, float, float]:
    """``(point, low, high)``: ``statistic`` of ``values`` and its percentile bootstrap interval.

    Resamples the values (seeds) with replacement ``reps`` times (:func:`bootstrap_indices`),
    applies ``statistic`` to each resample and takes :func:`percentile_interval`. ``inf`` values
    (censored runs) are allowed.

    Args:
        values: one value per seed, ``[n]``, ``n >= 2``.
        statistic: maps ``[..., n]`` to ``[...]`` (over the last axis).
        reps: resamples.
        seed: seeds the resampling.
        size: the interval's coverage.

    Raises:
        ValueError: fewer than 2 values (no interval), or a NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 values (seeds), got {x.size}")
    if np.isnan(x).any():
        raise ValueError("values must not be NaN (a censored run is inf)")
    point = float(statistic(x))
    low, high = percentile_interval(statistic(x[bootstrap_indices(x.size, reps, seed)]), size)
    return point, low, high


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over every run and task (rliable's ``aggregate_iqm``)."""
    from rliable import metrics

    return float(metrics.aggregate_iqm(np.asarray(scores, dtype=np.float64)))


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (rliable's resampling draws from it), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_with_ci(
    score_dict: Mapping[str, np.ndarray], reps: int = 10_000, seed: int = 0, size: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """IQM and its stratified bootstrap CI per key: ``(iqm, low, high)``.

    ``rliable.library.get_interval_estimates`` with ``rliable.metrics.aggregate_iqm``, percentile
    method, resampling runs (seeds) within each task (level); reproducible for a ``seed``.

    Args:
        score_dict: per key, scores ``[n_seeds, n_levels]``.
        reps: bootstrap resamples.
        seed: seeds numpy's global generator for the resampling (restored afterwards).
        size: the interval's coverage.
    """
    from rliable import library, metrics

    with _numpy_seed(seed):
        points, intervals = library.get_interval_estimates(
            dict(score_dict),
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps,
            confidence_interval_size=size,
        )
    return {
        k: (float(points[k][0]), float(intervals[k][0, 0]), float(intervals[k][1, 0]))
        for k in score_dict
    }


def iqm_curve_with_ci(
    curves: np.ndarray, reps: int = 2000, seed: int = 0, size: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM across seeds at every point of ``curves`` (``[n_seeds, n_points]``) and its CI band.

    One stratified bootstrap (rliable) over seeds for all points at once: the same seeds are
    resampled at every point. Returns ``(iqm, low, high)``, each ``[n_points]``.
    """
    import scipy.stats
    from rliable import library

    def per_point(x: np.ndarray) -> np.ndarray:  # x: [n_seeds, 1, n_points]
        return scipy.stats.trim_mean(x.reshape(x.shape[0], -1), 0.25, axis=0)

    with _numpy_seed(seed):
        points, intervals = library.get_interval_estimates(
            {"c": np.asarray(curves, float)[:, None, :]},
            per_point,
            reps=reps,
            confidence_interval_size=size,
        )
    return points["c"], intervals["c"][0], intervals["c"][1]


def bootstrap_inputs(
    finals: Mapping[str, Mapping[str, Mapping[int, float]]], levels: Sequence[str]
) -> dict[str, np.ndarray]:
    """Score matrices for rliable: per label, ``(n_seeds, n_levels)`` final scores.

    Args:
        finals: ``finals[label][level][seed]``, the final score of each finished run.
        levels: the levels (columns, the bootstrap's strata), in order.

    Returns:
        Per label, the scores of the seeds that finished on every one of ``levels`` (rows in
        seed order); labels with no such seed are left out.
    """
    out = {}
    for label, by_level in finals.items():
        seeds = sorted(set.intersection(*(set(by_level.get(lv, {})) for lv in levels)))
        if seeds:
            out[label] = np.array([[by_level[lv][s] for lv in levels] for s in seeds], float)
    return out
