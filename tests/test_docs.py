"""The documentation: the site builds with ``mkdocs build --strict`` and its code blocks run.

``make test`` (hence ``.ci/run``) runs this file with the rest of the suite. The code blocks of
README.md and docs/ run at tiny sizes with the scripted parent, by the rules in
tests/docs_blocks.py (and docs/reliability.md); blocks marked ``<!-- not-run: reason -->`` are
counted and reported, and a runnable block that fails fails the test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_blocks import (  # noqa: E402
    ROOT,
    extract,
    run_file,
    shell_commands,
    shrink_babyworld,
    shrink_example,
    shrink_python,
)

DOCS = sorted((ROOT / "docs").rglob("*.md"))
MARKDOWN = [ROOT / "README.md", *DOCS]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip(
        "mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", **__import__("os").environ},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    # the API pages were generated from the docstrings
    assert "make_parent" in (site / "api" / "parent" / "index.html").read_text()
    # the committed figures are published beside the pages
    assert (site / "experiments" / "results" / "point_parent_smollm2_seed0.png").exists()


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in DOCS}
    pages |= {
        f"experiments/results/{p}.md"
        for p in (
            "headline/report",
            "headline_v2/report",
            "bench",
            "avx2_2026-12-07/bench",
            "avx2_2026-12-07/README",
            "judge_sweep/sweep",
            "keep_ladder/keep",
            "keep_ladder/cost",
            "words_channel/report",
            "words_channel/by_truth",
            "words_channel/world_model",
            "words_channel_smollm2/report",
            "words_channel_smollm2/by_truth",
            "words_channel_smollm2/world_model",
            "sd_hindsight/report",
            "sd_hindsight_warm/report",
            "race_search/search",
            "race_search/report",
            "race/report",
        )  # fmt: skip
    }
    assert pages == set(re.findall(r":\s*(\S+\.md)\s*$", nav, flags=re.M))


def test_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 260
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_readme_anchors_exist():
    toc = pytest.importorskip("markdown.extensions.toc", reason="markdown comes with mkdocs")
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)#([^)]+)\)", text)
    assert links
    for page, anchor in links:
        headings = re.findall(r"^#+ (.+)$", (ROOT / page).read_text(), flags=re.M)
        slugs = {toc.slugify(h.replace("`", ""), "-") for h in headings}
        assert anchor in slugs, (page, anchor)


def test_extract_finds_blocks_and_markers(tmp_path):
    md = tmp_path / "probe.md"
    md.write_text(
        "x\n\n<!-- not-run: needs a GPU -->\n```bash\nbabyworld train\n```\n\n"
        "```python\nprint(1)\n```\n\n```\nlayout\n```\n"
    )
    blocks = extract(md)
    assert [(b.line, b.lang, b.code, b.not_run) for b in blocks] == [
        (4, "bash", "babyworld train", "needs a GPU"),
        (8, "python", "print(1)", None),
        (12, "", "layout", None),
    ]


def test_a_failing_block_or_an_unknown_command_is_reported_failed(tmp_path):
    md = tmp_path / "probe.md"
    md.write_text(
        "```python\nprint('hi')\n```\n\n```python\nraise ValueError('boom')\n```\n\n"
        "```bash\nls -l\n```\n\n<!-- not-run: a server -->\n```bash\nls -l\n```\n"
    )
    home = Path.cwd()
    records = run_file(md)
    assert [r["status"] for r in records] == ["ok", "failed", "failed", "not-run"]
    assert records[0]["output"] == "hi\n"
    assert "ValueError: boom" in records[1]["output"]
    assert "cannot run 'ls -l' in the test" in records[2]["output"]
    assert records[3]["not_run"] == "a server"
    assert Path.cwd() == home  # the caller's directory is restored


def test_shrink_rules():
    assert shrink_babyworld(
        ["train", "--level", "Point", "--parent", "smollm2", "--steps", "81920", "--out", "r"]
    ) == ["train", "--level", "Point", "--parent", "scripted", "--steps", "1024", "--out", "r"]
    assert shrink_babyworld(["train", "--level", "Point", "--steps", "40000"]) == [
        *("train", "--level", "Point", "--steps", "512", "--parent", "scripted"),
    ]
    assert shrink_babyworld(["train", "--resume", "runs/p0", "--steps", "80000"]) == [
        *("train", "--resume", "runs/p0", "--steps", "1024"),
    ]
    assert shrink_babyworld(["parent-eval", "--in-env", "--situations", "500"]) == [
        *("parent-eval", "--in-env", "--situations", "8", "-p", "scripted"),
    ]
    assert shrink_babyworld(["ablate", "c.toml"]) == ["ablate", "c.toml", "--max-runs", "4"]
    assert shrink_babyworld(["ablate", "c.toml", "--dry-run"]) == ["ablate", "c.toml", "--dry-run"]
    assert shrink_example(["examples/x.py", "--total-timesteps", "20480"]) == [
        *("examples/x.py", "--total-timesteps", "512"),
    ]
    assert shrink_python('p = "smollm2"\nm.learn(total_timesteps=20_480)\nn_steps=64') == (
        'p = "scripted"\nm.learn(total_timesteps=512)\nn_steps=64'
    )
    assert shell_commands("babyworld a \\\n  --b 1  # c\n\n# d\nbabyworld e") == [
        ["babyworld", "a", "--b", "1"],
        ["babyworld", "e"],
    ]


def test_code_blocks_run(tmp_path, capsys):
    """Every runnable block of the README and docs/ runs (one interpreter for all of them)."""
    out = tmp_path / "blocks.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "docs_blocks.py"), str(out), *map(str, MARKDOWN)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = json.loads(out.read_text())
    ran = [r for r in records if r["status"] != "not-run"]
    skipped = [r for r in records if r["status"] == "not-run"]
    failed = [r for r in records if r["status"] == "failed"]
    with capsys.disabled():
        print(f"\ndocs code blocks: {len(ran)} run, {len(failed)} failed, {len(skipped)} not run:")
        for r in skipped:
            print(f"  not run: {r['file']}:{r['line']}: {r['not_run']}")
    assert not failed, "\n\n".join(
        f"{r['file']}:{r['line']} failed:\n{r['code']}\n--- output:\n{r['output']}" for r in failed
    )
    assert len(ran) >= 10
    readme = [r for r in ran if r["file"] == "README.md"]
    assert len(readme) >= 5  # the three paths: two blocks each for (a) and (b), one for (c)
