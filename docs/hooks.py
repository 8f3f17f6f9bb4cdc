"""MkDocs hook: publish the committed results (``experiments/results/``) beside the pages.

The pages link figures and summaries by their repository path (``experiments/results/...``), so
every figure on the site is the committed file the text names. MarkDown files there (the headline
ablation's ``report.md``) become pages too, outside the navigation.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = "experiments/results"


def on_files(files: Files, config) -> Files:
    """Add every file under ``experiments/results`` with its repository path as its URI."""
    for path in sorted((ROOT / RESULTS).rglob("*")):
        if path.is_file():
            uri = path.relative_to(ROOT).as_posix()
            files.append(
                File(
                    uri,
                    src_dir=str(ROOT),
                    dest_dir=config["site_dir"],
                    use_directory_urls=config["use_directory_urls"],
                )
            )
    return files
