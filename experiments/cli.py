"""The ``babyworld`` command line (tyro subcommands)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import tyro

from babyworld.agents.checkpoint import CheckpointError
from babyworld.experiments.ablation.cluster import ClusterError
from babyworld.experiments.benchmarks.config import BenchConfig
from babyworld.experiments.config import LEVEL_NAMES, Level, TrainConfig
from babyworld.experiments.serve import ServeConfig
from babyworld.parent import DEFAULT_PARENT
from babyworld.parent.served import ParentServerError
from babyworld.vector.cluster import LOCAL
from babyworld.vector.distributed import RayWorkerError


def demo(
    parent: str = DEFAULT_PARENT,
    levels: tuple[Level, ...] = ("Point", "Name"),
    steps: int = 4,
    seed: int = 0,
) -> None:
    """Show a few exchanges: what the parent says, what a random baby does, every reward component.

    Args:
        parent: parent spec: 'smollm2' (default LLM), 'ct2' (the same by CTranslate2), 'ct2:<dir>',
            'hf:<hub id or dir>', 'openai:<url>#<model>' or 'scripted'.
        levels: levels to show.
        steps: exchanges per level.
        seed: env and baby seed.
    """
    from babyworld.experiments.demo import run_demo

    run_demo(parent=parent, levels=levels, steps=steps, seed=seed)


def parent_eval(
    parent: Annotated[str, tyro.conf.arg(aliases=["-p"])] = DEFAULT_PARENT,
    in_env: bool = False,
    levels: tuple[Level, ...] = LEVEL_NAMES,
    situations: int = 500,
    seed: int = 0,
    json: Path | None = None,
    against: str | None = None,
    distractors: int | None = None,
    fidelity: bool = False,
    measures: tuple[str, ...] = (),
) -> None:
    """Measure a parent as a judge: the labelled probe set, or (--in-env) real env situations.

    Args:
        parent: parent spec: 'smollm2' (default LLM), 'ct2' (the same by CTranslate2), 'ct2:<dir>',
            'hf:<hub id or dir>', 'openai:<url>#<model>' or 'scripted'.
        in_env: measure the judge in the env, over every allowed act of real situations (top-1,
            AUC, mean reward of right and wrong acts, other-attribute mass on Name; on Chat
            against its held-out reference, with the echo acceptance).
        levels: with --in-env, the levels to measure.
        situations: with --in-env, situations per level (env resets with seeds seed, seed+1, ...).
        seed: with --in-env, the first reset seed.
        json: also write the results to this JSON file.
        against: with --in-env, a reference parent spec (e.g. 'smollm2?dtype=float32'): judge
            the same situations with both and report how often their choices agree.
        distractors: with --in-env on Chat, the number of other situations' lines the reply is
            compared with (the env's default: all 7).
        fidelity: measure how faithful the parent's words are to its world (its reactions
            against its verdict and the scene, its requests, questions and lines; diversity) over
            --situations real situations per level.
        measures: with --fidelity, show only these measures in the table (the JSON keeps
            every measure of the levels).
    """
    from babyworld.experiments.parent_eval import run_agreement, run_judge_eval, run_parent_eval

    if fidelity:
        if in_env or against is not None:
            raise ValueError("--fidelity is a measurement of its own: drop --in-env and --against")
        from babyworld.experiments.parent_eval import run_fidelity

        run_fidelity(parent, levels, situations, seed, json, measures)
    elif against is not None:
        if not in_env:
            raise ValueError("--against compares in-env judge decisions: add --in-env")
        run_agreement(parent, against, levels, situations, seed, json)
    elif in_env:
        chat = {} if distractors is None else {"distractors": distractors}
        run_judge_eval(parent, levels, situations, seed, json, chat)
    else:
        run_parent_eval(parent, json)


def train(cfg: Annotated[TrainConfig, tyro.conf.arg(name="")]) -> None:
    """Train the from-scratch student (PPO + world-model + latent-KL losses) on one level."""
    from babyworld.experiments.train import train as run_train

    run = run_train(cfg)
    print(f"run directory: {run}")
    print(f"TensorBoard:   tensorboard --logdir {run}")
    print(f"curve:         {run / 'curve.png'}")
    print(f"summary:       {(run / 'summary.json').read_text().strip()}")


def eval_run(
    run: tyro.conf.Positional[Path],
    level: str | None = None,
    parent: str | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    num_envs: int | None = None,
    split: Literal["all", "train", "held_out"] | None = None,
    out: Path | None = None,
) -> None:
    """Evaluate a trained baby on held-out episodes, greedy and sampled (JSON on stdout).

    With no option it plays the run's own evaluation again and prints its last eval.csv row's
    figures; --level and --parent evaluate it elsewhere (e.g. a baby raised by the scripted
    parent with the real one).

    Args:
        run: the run directory (written by babyworld train).
        level: a task to play instead of the run's, e.g. 'Name' or 'Request[max_words=2]' (a
            ladder run plays it on the ladder's envs); its spaces must fit the baby.
        parent: parent spec instead of the run's: 'smollm2', 'ct2', 'scripted', ...
        episodes: held-out episodes (default: the run's --eval.episodes).
        seed: seeds the sampled acts (default: the run's seed, as its own evaluation).
        num_envs: episodes played together (default: the run's --eval.num-envs).
        split: play only scenes of this split: 'held_out' (toys training with --env.split train
            never showed), 'train' or 'all' (default: the run's; a run trained on the 'train'
            split also reports held_out_* figures).
        out: also write the JSON to this file.
    """
    import json

    from babyworld.agents.checkpoint import write_text_atomic
    from babyworld.experiments.play import evaluate_run

    result = evaluate_run(run, level, parent, episodes, seed, num_envs, split)
    text = json.dumps(result, indent=1)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(text + "\n", out)
    print(text)


def play(
    run: tyro.conf.Positional[Path],
    parent: str | None = None,
    you: bool = False,
    level: str | None = None,
    episodes: int = 1,
    seed: int = 0,
    sampled: bool = False,
    pause: bool = True,
) -> None:
    """Watch a trained baby play its level with the parent, or be the parent yourself (--you).

    Args:
        run: the run directory (written by babyworld train).
        parent: parent spec (default: the run's); with --you, the parent that judges.
        you: type every line the parent says; the baby answers, the parent still judges.
        level: a task to play, e.g. 'Name' (default: the run's first task).
        episodes: episodes to play.
        seed: episode j is reset with the held-out seed 2**32 + seed + j.
        sampled: sample the baby's acts (default: its most probable act).
        pause: wait for Enter after each exchange (--no-pause runs through; q quits).
    """
    from babyworld.experiments.play import format_success
    from babyworld.experiments.play import play as run_play

    success = run_play(run, parent, you, level, episodes, seed, sampled, pause)
    print(format_success(success))


def export(run: tyro.conf.Positional[Path], out: tyro.conf.Positional[Path]) -> None:
    """Write a trained baby as model.safetensors + config.json (babyworld.load reads the folder).

    Args:
        run: the run directory (written by babyworld train).
        out: a new (or empty) directory to write.
    """
    from babyworld.experiments.rundir import export as run_export

    print(f"exported: {run_export(run, out)}")


def bench(cfg: Annotated[BenchConfig, tyro.conf.arg(name="")]) -> None:
    """Measure the parent, the envs and the trainer on this machine (writes bench.json, bench.md)."""
    from babyworld.experiments.benchmarks.bench import bench as run_bench

    out = run_bench(cfg)
    print()
    print((out / "bench.md").read_text())
    print(f"written: {out / 'bench.json'}, {out / 'bench.md'}")


def ablate(
    config: tyro.conf.Positional[Path],
    out: Path | None = None,
    max_runs: int | None = None,
    levels: list[str] | None = None,
    shard: str | None = None,
    dry_run: bool = False,
    progress: bool = True,
    ray: str | None = None,
) -> None:
    """Run every (level, mode, seed) of an ablation config, resumably (see docs/ablation.md).

    Args:
        config: the ablation's TOML file (e.g. experiments/configs/headline.toml).
        out: output directory instead of the config's 'out'.
        max_runs: train at most this many runs in this call (finished runs are skipped free).
        levels: train only these levels of the config (e.g. one process per level, each with
            '--levels LEVEL'; they share the out directory).
        shard: 'K/N': train only every N-th run from the K-th of those selected, so that N
            processes ('--shard 1/2', '--shard 2/2') share the runs without running one twice.
        dry_run: validate the config and print the plan (new / partial / done runs), and the
            runs --levels and --shard select for this call; run nothing.
        progress: show the overall progress bar.
        ray: run the runs as Ray tasks, as many at once as the cluster's CPUs allow, each asking
            for the config's threads (1 if unset); '--ray' alone starts a Ray cluster on this
            machine, '--ray ADDRESS' joins a running one (HOST:PORT, ray://HOST:PORT or auto;
            every node must see the out directory at the same path). A run lost with its node is
            started again elsewhere and resumes from its checkpoint.
    """
    from babyworld.experiments.ablation.ablate import (
        describe_plan,
        load_config,
        parse_shard,
        plan_runs,
        run_ablation,
        select_runs,
    )

    parts = parse_shard(shard) if shard is not None else None
    cfg = load_config(config, out=out)
    plan = plan_runs(cfg)
    print(f"{cfg.out}: {describe_plan(plan)}")
    if dry_run:
        mine = select_runs(cfg, plan, levels, parts)
        if len(mine) < len(plan):
            print(f"this call's runs (--levels, --shard): {describe_plan(mine)}")
        for r in mine:
            print(f"  {r.status:8} {r.path}")
        return
    if max_runs is not None and max_runs < 1:
        raise ValueError(f"--max-runs must be >= 1, got {max_runs}")
    records = run_ablation(
        cfg, progress=progress, max_runs=max_runs, levels=levels, shard=parts, ray=ray
    )
    counts = {a: sum(r.action == a for r in records) for a in ("trained", "resumed", "skipped")}
    print(", ".join(f"{n} {a}" for a, n in counts.items()) + f" of {len(plan)} runs")
    print(f"report:  babyworld report {cfg.out}")


def report(
    run_dir: tyro.conf.Positional[Path | None] = None,
    threshold: float | None = None,
    reps: int = 10_000,
    curve_reps: int = 2000,
    seed: int = 0,
    intervals: bool = True,
    from_csv: Path | None = None,
    out: Path | None = None,
    levels: tuple[str, ...] = (),
) -> None:
    """Write report.md, per_seed.csv and PNG plots for an ablation made by `babyworld ablate`.

    Args:
        run_dir: the ablation's output directory (holds ablation.json).
        threshold: greedy success that counts as reached, in (0, 1] (default 0.9; with
            --from-csv: the CSV's).
        reps: bootstrap resamples of the tables' confidence intervals.
        curve_reps: bootstrap resamples of the curves' bands.
        seed: seeds the bootstraps.
        intervals: confidence intervals (need at least 2 finished seeds per cell);
            --no-intervals reports point estimates only.
        from_csv: make the tables from this per_seed.csv alone instead of an ablation directory.
        out: with --from-csv, the Markdown file to write (default: report_from_csv.md beside it).
        levels: report only these of the ablation's levels, e.g. while the others still run
            (default: all).
    """
    from babyworld.experiments.ablation.report import write_report, write_report_from_csv

    if threshold is not None and not 0 < threshold <= 1:
        raise ValueError(f"--threshold must be in (0, 1], got {threshold}")
    for name, value in (("reps", reps), ("curve-reps", curve_reps)):
        if value < 1:
            raise ValueError(f"--{name} must be >= 1, got {value}")
    if (run_dir is None) == (from_csv is None):
        raise ValueError(
            "give an ablation directory (babyworld report OUT) or --from-csv PER_SEED_CSV, one of them"
        )
    if from_csv is not None:
        if levels:
            raise ValueError("--levels goes with an ablation directory, not with --from-csv")
        path = write_report_from_csv(
            from_csv, out, threshold=threshold, reps=reps, seed=seed, intervals=intervals
        )
    else:
        if out is not None:
            raise ValueError("--out goes with --from-csv; the report of OUT is OUT/report.md")
        path = write_report(
            run_dir,
            threshold=0.9 if threshold is None else threshold,
            reps=reps,
            curve_reps=curve_reps,
            seed=seed,
            intervals=intervals,
            levels=levels,
        )
    print(f"report: {path}")


def serve_parent(cfg: Annotated[ServeConfig, tyro.conf.arg(name="")]) -> None:
    """Serve the default parent with vLLM's OpenAI-compatible server (or print the command)."""
    from babyworld.experiments.serve import serve_parent as run_serve

    run_serve(cfg)


def cache(
    action: tyro.conf.Positional[Literal["info", "clear"]],
    model: str | None = None,
    path: Path | None = None,
) -> None:
    """Show (info) or empty (clear) the parent's persistent answer store.

    Args:
        action: 'info' prints the store's file, size and answers per model key; 'clear'
            deletes every answer (or removes an unusable file).
        model: with 'clear', delete only this model key's answers (a key or a unique prefix,
            as 'info' prints them).
        path: the store's file (default: $BABYWORLD_STORE, else ~/.cache/babyworld/answers.sqlite3).
    """
    from babyworld.experiments.cache import cache_clear, cache_info

    if action == "info":
        if model is not None:
            raise ValueError("--model goes with 'clear'; 'info' lists every model key")
        print(cache_info(path))
    else:
        print(cache_clear(path, model))


def transcript(
    run: tyro.conf.Positional[Path],
    stage: str | None = None,
    last: int | None = None,
) -> None:
    """Print the dialogues a training run sampled (what the parent and the baby said, rewards).

    Args:
        run: the run directory (written by babyworld train).
        stage: only this stage (a task name such as 'Request' or 'Name[attributes=shape]').
        last: only the last N dialogues.
    """
    from babyworld.experiments.transcript import load_transcripts, print_transcripts

    print_transcripts(load_transcripts(run, stage, last))


def _ray_flag(argv: list[str]) -> list[str]:
    """``train --ray`` / ``ablate --ray`` without an address mean a local cluster: ``--ray local``."""
    if not argv or argv[0] not in ("train", "ablate"):
        return argv
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(LOCAL)
    return out


@contextlib.contextmanager
def _config_errors_in_one_line() -> Iterator[None]:
    """A config check that fails while tyro builds a config exits with one line, as others do.

    tyro draws a multi-line box around a ``ValueError`` raised in a config's ``__post_init__``;
    its parse-error hook (``tyro._errors.on_parse_error``, pinned in constraints.txt) lets the
    message through as a ``ValueError`` instead, which :func:`main` prints as one line. Errors
    of the command line itself (an unknown flag, a missing value) keep tyro's help box. A tyro
    without the hook keeps its box for every error.
    """
    hooks = getattr(tyro, "_errors", None)
    if hooks is None or not hasattr(hooks, "on_parse_error"):
        yield
        return

    def one_line(event: object) -> None:
        if isinstance(event, hooks.InstantiationFailure):
            raise ValueError(str(event.message).strip())

    with hooks.on_parse_error(one_line):
        yield


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``babyworld`` command."""
    argv = _ray_flag(list(sys.argv[1:] if argv is None else argv))
    try:
        with _config_errors_in_one_line():
            tyro.extras.subcommand_cli_from_dict(
                {
                    "demo": demo,
                    "parent-eval": parent_eval,
                    "train": train,
                    "eval": eval_run,
                    "play": play,
                    "export": export,
                    "bench": bench,
                    "ablate": ablate,
                    "report": report,
                    "serve-parent": serve_parent,
                    "cache": cache,
                    "transcript": transcript,
                },
                prog="babyworld",
                description="babyworld: a frozen LLM parent raises a from-scratch baby.",
                args=argv,
            )
    except (
        ValueError,
        TypeError,
        OSError,
        ImportError,
        CheckpointError,
        ParentServerError,
        RayWorkerError,
        ClusterError,
    ) as e:
        print(f"babyworld: error: {e}", file=sys.stderr)
        raise SystemExit(2) from e
