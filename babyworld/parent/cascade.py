"""Cascade attention: every row of a batch attends to one shared prompt prefix and to its own suffix.

The envs' prompts are few-shot scripts that all begin alike (:mod:`babyworld.parent.prefix`). The
plain way to reuse a stored prefix is to expand its keys/values to the batch and let the model's
attention run over ``prefix + suffix`` per row: the cache then copies the prefix once per row, and
for grouped-query attention transformers' SDPA path repeats it once per query head, on every layer
of every forward pass. On the CPU those copies, not the matrix products, were most of a
generation's time (a torch profile of 64 reactions: ``copy_`` 38%, the attention kernel 29%,
matrix products 23%).

Here the prefix's keys/values stay at batch 1 and are read in place: the scores of all rows'
queries against the prefix are one matrix product per key/value head, the scores against each
row's own suffix (which the cache holds, masked as usual) another, and the two softmax parts are
merged exactly (log-sum-exp). Products and the softmax run in float32, as SDPA's CPU kernel
accumulates.

:func:`install` registers the function with transformers' attention interface under
:data:`NAME` and switches a model to it; the model then behaves exactly as with SDPA unless a
forward pass is given ``shared_prefix=`` (per layer ``(keys, values)``, each
``[1, kv_heads, prefix_length, head_dim]``, positions already rotated).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

#: the name the attention function is registered under in transformers
NAME = "babyworld_cascade"


def cascade_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    prefix_key: torch.Tensor,
    prefix_value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float,
) -> torch.Tensor:
    """Attention of ``query`` over a shared prefix and each row's own keys/values.

    Args:
        query: ``[B, H, Q, D]``.
        key: ``[B, K, S, D]``, the rows' own (suffix) keys; ``H`` a multiple of ``K``
            (grouped-query attention: query head ``h`` reads key/value head ``h // (H/K)``).
        value: ``[B, K, S, D]``, the rows' own values.
        prefix_key: ``[1, K, P, D]``, keys seen by every query of every row.
        prefix_value: ``[1, K, P, D]``, their values.
        mask: which suffix positions each query sees, ``[B, 1, Q, S]`` booleans (or an additive
            float mask); ``None``: causal, the queries being the last ``Q`` of the ``S``.
        scaling: the factor on the query-key products.

    Returns:
        ``[B, Q, H, D]`` in ``query``'s dtype (the layout transformers' attention functions return).
    """
    b, h, q, d = query.shape
    k, s = key.shape[1], key.shape[2]
    g = h // k
    if h != g * k or prefix_key.shape[1] != k:
        raise ValueError(f"{h} query heads do not group over {k} key/value heads")
    qf = query.float().reshape(b, k, g * q, d) * scaling  # grouped: [B, K, G*Q, D]
    # prefix part: all rows' queries at once against the batch-1 prefix, per key/value head
    q_rows = qf.transpose(0, 1).reshape(k, b * g * q, d)
    s_pre = torch.matmul(q_rows, prefix_key[0].float().transpose(-1, -2))  # [K, B*G*Q, P]
    # suffix part: each row against its own keys
    s_own = torch.matmul(qf, key.float().transpose(-1, -2)).view(b, k, g, q, s)
    if mask is None:
        mask = torch.ones(q, s, dtype=torch.bool, device=query.device).tril(s - q)[None, None]
    if mask.dtype == torch.bool:
        s_own = s_own.masked_fill(~mask[:, :, None], float("-inf"))
    else:
        s_own = s_own + mask[:, :, None].float()
    s_own = s_own.view(b, k, g * q, s)
    top = torch.maximum(
        s_pre.amax(-1).view(k, b, g * q).transpose(0, 1), s_own.amax(-1)
    )  # [B, K, G*Q], finite: the prefix is seen by every query
    e_pre = torch.exp(s_pre - top.transpose(0, 1).reshape(k, b * g * q, 1))
    e_own = torch.exp(s_own - top[..., None])
    total = e_pre.sum(-1).view(k, b, g * q).transpose(0, 1) + e_own.sum(-1)
    out = torch.matmul(e_pre, prefix_value[0].float()).view(k, b, g * q, d).transpose(0, 1)
    out = (out + torch.matmul(e_own, value.float())) / total[..., None]
    return out.view(b, k, g, q, d).reshape(b, h, q, d).transpose(1, 2).to(query.dtype)


def _attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    shared_prefix: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Entry for transformers' attention interface: cascade with ``shared_prefix=``, else SDPA."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    pk, pv = shared_prefix[module.layer_idx]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return cascade_attention(query, key, value, pk, pv, attention_mask, scale), None


def register() -> None:
    """Register :data:`NAME` with transformers' attention and mask interfaces (idempotent).

    A model switched to cascade attention needs the name registered in the process that runs
    it, including one that unpickled the model.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)


def install(model: torch.nn.Module, cache_kwarg: str = "past_key_values") -> bool:
    """Switch ``model`` to cascade attention if it runs SDPA and cascade gives its answers.

    The switch is kept only if a self-check passes: on a short random sequence, the logits of
    its last tokens given its first tokens' keys/values read in place must equal the plain
    forward pass's (to the tolerance of the model's dtype). That catches what the cascade
    function cannot see for itself: models whose cache holds something other than per-head
    keys/values (multi-head latent attention), attention terms it does not compute (sinks,
    position biases, soft-capping), and transformers versions that do not pass forward keyword
    arguments through to the attention. Returns whether the model now uses cascade attention; a
    model on another implementation, or one that fails the check, is left on its own.

    Args:
        model: a transformers causal LM.
        cache_kwarg: the name its forward pass takes the key/value cache by.
    """
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    register()
    if current == NAME:
        return True
    if current != "sdpa" or not hasattr(model, "set_attn_implementation"):
        return False
    model.set_attn_implementation(NAME)
    try:
        ok = config._attn_implementation == NAME and _self_check(model, cache_kwarg)
    except Exception:  # any architecture the check cannot run on keeps SDPA
        ok = False
    if not ok:
        model.set_attn_implementation(current)
    return ok


@torch.inference_mode()
def _self_check(model: torch.nn.Module, cache_kwarg: str, prefix: int = 6, rest: int = 4) -> bool:
    """Whether cascade attention over a stored prefix reproduces the plain forward pass."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    vocab = model.get_input_embeddings().weight.shape[0]
    ids = torch.randint(0, vocab, (1, prefix + rest), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    plain = model(input_ids=ids).logits[:, prefix:].float()
    past = DynamicCache()
    model(input_ids=ids[:, :prefix], use_cache=True, **{cache_kwarg: past})
    kv = [(layer.keys, layer.values) for layer in past.layers]
    pos = torch.arange(prefix, prefix + rest, device=device)[None]
    fast = model(
        input_ids=ids[:, prefix:], position_ids=pos, use_cache=False, shared_prefix=kv
    ).logits.float()
    tol = 1e-3 if model.dtype == torch.float32 else 5e-2
    scale = plain.abs().max().clamp(min=1.0)
    return bool(((plain - fast).abs().max() / scale) < tol)


def cache_kwarg(model: torch.nn.Module) -> str:
    """The name under which ``model`` takes its key/value cache.

    transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name warns); older versions
    and some architectures take only ``past_key_values``. ``generate`` takes the same name.
    """
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def plain_dynamic_cache(model: torch.nn.Module) -> bool:
    """Whether ``model`` keeps a plain full-attention ``DynamicCache`` (prefix reuse is exact)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    config = getattr(model, "config", None)
    if config is None:
        return False
    try:
        cache = DynamicCache(config=config)
    except Exception:  # configs of unusual architectures
        return False
    return all(type(layer) is DynamicLayer for layer in cache.layers)
