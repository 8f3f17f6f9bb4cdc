"""Extract the fenced code blocks of the README and docs/, shrink them, run them (tests/test_docs.py).

The rules (also in docs/reliability.md, "How the documentation is tested"):

- ``python`` blocks and ``bash``/``sh``/``shell`` blocks run, in file order; other blocks (output,
  TOML, layouts) are not code to run. A block right after ``<!-- not-run: reason -->`` is not run:
  it is counted and reported with its reason.
- Each Markdown file runs in a fresh temporary directory holding links to the repository's
  ``examples/`` and ``experiments/configs/`` and an empty ``experiments/results/``, so the
  blocks' relative paths work and nothing in the repository is written.
- Every block runs with the scripted parent at a tiny size, substituted as follows (`shrink`):
  the spec ``smollm2`` (``"smollm2"`` in Python, ``--parent smollm2``, ``-p smollm2``) becomes
  ``scripted``, and a ``babyworld train``/``demo``/``parent-eval`` line that names no parent (and
  resumes no run) gets one; ``--steps N`` of ``babyworld train`` becomes ``512 * max(1,
  round(N / 40960))`` (one rollout of the default 8 envs x 64 steps per 40,960 steps, so a
  resume's larger budget stays larger); ``--total-timesteps N`` and the Python keywords
  ``total_timesteps=N`` / ``steps=N`` become 512; ``--situations N`` becomes 8; ``babyworld
  ablate`` without ``--dry-run`` gets ``--max-runs 4`` (two seeds of two labels: the fewest runs a
  report with intervals accepts).
- A shell line ``babyworld ...`` runs in this process through the CLI's ``main`` (so torch is
  imported once); ``python examples/NAME.py ...`` runs in a subprocess; any other command fails
  (its block must be marked not-run, with the reason).

Run as ``python tests/docs_blocks.py OUT.json FILE.md ...``: it writes one record per block.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_LANGS = {"python": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.+?)\s*-->")
TINY = 512


@dataclass
class Block:
    """One fenced code block: where it is, its language, its code, why it is not run (if so)."""

    file: str
    line: int
    lang: str
    code: str
    not_run: str | None = None


def extract(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their ``not-run`` markers."""
    lines = path.read_text().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(2).lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        marker = NOT_RUN.search(prev)
        code = "\n".join(ln[len(m.group(1)) :] for ln in lines[start + 1 : j])
        blocks.append(
            Block(
                str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
                start + 1,
                lang,
                code,
                marker and marker.group(1),
            )
        )
        i = j + 1
    return blocks


def shrink_python(code: str) -> str:
    """The Python substitutions: the scripted parent, 512 training steps."""
    code = code.replace('"smollm2"', '"scripted"').replace("'smollm2'", "'scripted'")
    return re.sub(r"\b(total_timesteps|steps)\s*=\s*\d[\d_]*", rf"\1={TINY}", code)


def _set(argv: list[str], flag: str, value: str) -> None:
    argv[argv.index(flag) + 1] = value


def shrink_babyworld(argv: list[str]) -> list[str]:
    """The substitutions of one ``babyworld`` command line (``argv`` without ``babyworld``)."""
    argv = list(argv)
    cmd = argv[0] if argv else ""
    for flag in ("--parent", "-p"):
        if flag in argv and argv[argv.index(flag) + 1] == "smollm2":
            _set(argv, flag, "scripted")
    if cmd in ("train", "demo") and "--parent" not in argv and "--resume" not in argv:
        argv += ["--parent", "scripted"]
    if cmd == "parent-eval" and "-p" not in argv and "--parent" not in argv:
        argv += ["-p", "scripted"]
    if cmd == "train" and "--steps" in argv:
        steps = int(argv[argv.index("--steps") + 1].replace("_", ""))
        _set(argv, "--steps", str(TINY * max(1, round(steps / 40960))))
    if "--situations" in argv:
        _set(argv, "--situations", "8")
    if cmd == "ablate" and "--dry-run" not in argv and "--max-runs" not in argv:
        argv += ["--max-runs", "4"]
    return argv


def shrink_example(argv: list[str]) -> list[str]:
    """The substitutions of ``python examples/NAME.py ...``."""
    argv = list(argv)
    for flag, value in (("--total-timesteps", str(TINY)), ("--steps", str(TINY))):
        if flag in argv:
            _set(argv, flag, value)
    for flag in ("--parent", "-p"):
        if flag in argv and argv[argv.index(flag) + 1] == "smollm2":
            _set(argv, flag, "scripted")
    return argv


def shell_commands(code: str) -> list[list[str]]:
    """A shell block's commands: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [argv for line in joined.split("\n") if (argv := shlex.split(line, comments=True))]


def run_shell(code: str) -> None:
    """Run a shell block's commands; raise on the first failure."""
    from babyworld.experiments.cli import main

    for argv in shell_commands(code):
        if argv[0] == "babyworld":
            args = shrink_babyworld(argv[1:])
            try:
                main(args)
            except SystemExit as e:
                if e.code not in (0, None):
                    raise RuntimeError(f"babyworld {shlex.join(args)} exited {e.code}") from e
        elif argv[0] == "python" and len(argv) > 1 and argv[1].startswith("examples/"):
            args = [sys.executable, *shrink_example(argv[1:])]
            out = subprocess.run(args, capture_output=True, text=True, timeout=600)
            print(out.stdout, end="")
            if out.returncode != 0:
                raise RuntimeError(f"{shlex.join(args)} exited {out.returncode}:\n{out.stderr}")
        else:
            raise RuntimeError(
                f"cannot run {shlex.join(argv)!r} in the test: mark its block "
                "<!-- not-run: reason --> or use a babyworld or examples/ command"
            )


def workdir() -> Path:
    """A fresh directory with the repository's examples and configs linked in."""
    tmp = Path(tempfile.mkdtemp(prefix="babyworld-docs-"))
    (tmp / "examples").symlink_to(ROOT / "examples")
    (tmp / "experiments" / "results").mkdir(parents=True)
    (tmp / "experiments" / "configs").symlink_to(ROOT / "experiments" / "configs")
    return tmp


def run_file(path: Path) -> list[dict]:
    """Run the runnable blocks of one Markdown file in a fresh directory; one record per block."""
    records, cwd, home = [], None, os.getcwd()
    for block in extract(path):
        if block.lang not in RUN_LANGS:
            continue
        record = {**asdict(block), "status": "not-run" if block.not_run else "ok", "output": ""}
        if not block.not_run:
            cwd = cwd or workdir()
            os.chdir(cwd)
            out, start = io.StringIO(), time.time()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    if RUN_LANGS[block.lang] == "python":
                        code = shrink_python(block.code)
                        exec(compile(code, f"{block.file}:{block.line}", "exec"), {})
                    else:
                        run_shell(block.code)
            except BaseException:  # a block that raises anything, SystemExit included, fails
                record["status"] = "failed"
                out.write(traceback.format_exc())
            record["output"] = out.getvalue()[-4000:]
            record["seconds"] = round(time.time() - start, 1)
        records.append(record)
        os.chdir(home)
    return records


def main() -> None:
    """``python tests/docs_blocks.py OUT.json FILE.md ...``."""
    out, *files = sys.argv[1:]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    records = [r for f in files for r in run_file(Path(f).resolve())]
    Path(out).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
