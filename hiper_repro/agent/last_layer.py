"""Hidden states at chosen positions only: the last decoder layer computed just where it is read.

Scoring a turn reads the final hidden states at the last prompt token and the response tokens, never at
the earlier prompt positions. Those positions still feed every read one, but only through the keys and
values they offer to attention: in the last layer their queries, attention output, MLP and final norm
change nothing that is read. `hidden_at` therefore runs layers 1..L-1 on the whole sequence as usual,
and the last layer as

    x = h_{L-1};  n = input_norm(x)
    K, V = RoPE(k_proj(n)), v_proj(n)                       over every position
    Q = RoPE(q_proj(n[keep]))                               only at the kept positions
    y = x[keep] + o_proj(softmax(Q K^T * scale + causal and padding mask) V)
    h = final_norm(y + mlp(post_norm(y)))

which is the layer's own arithmetic restricted to the kept rows (equal up to float rounding, tested).
For a tiny two-layer model whose prompts are ~95% of the tokens this skips about 40% of a scoring
forward and of its backward. Supported where that arithmetic is known to be the model's: Llama and Qwen2
decoders with full attention and no query/key norms (`supports`); any other model computes the whole
sequence and gathers, so callers never need to know.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Iterator

import torch
from torch import nn

SUPPORTED_TYPES = ("llama", "qwen2")


def supports(model: nn.Module) -> bool:
    """Whether `hidden_at` can skip the last layer's unread positions for this HF causal LM."""
    cfg = model.config
    if getattr(cfg, "model_type", None) not in SUPPORTED_TYPES:
        return False
    if getattr(cfg, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return False
    if any(t != "full_attention" for t in (getattr(cfg, "layer_types", None) or ["full_attention"])):
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    last = model.get_decoder().layers[-1]
    attn = last.self_attn
    return (
        not any(hasattr(attn, name) for name in ("q_norm", "k_norm")) and len(model.get_decoder().layers) >= 1
    )


@contextlib.contextmanager
def _without_last_layer(decoder: nn.Module) -> Iterator[None]:
    """Inside, the decoder runs its layers but the last and skips its final norm (its own forward, so
    masks, rotary embeddings and positions are built exactly as in a full pass)."""
    layers, norm = decoder.layers, decoder.norm
    decoder._modules["layers"] = nn.ModuleList(list(layers)[:-1])
    decoder._modules["norm"] = nn.Identity()
    try:
        yield
    finally:
        decoder._modules["layers"], decoder._modules["norm"] = layers, norm


def _rope(model: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The model's own rotary embedding applied to x (B, heads, S, d) with cos/sin (B, S, d)."""
    apply = sys.modules[type(model.get_decoder().layers[-1].self_attn).__module__].apply_rotary_pos_emb
    return apply(x, x, cos, sin)[0]


def hidden_at(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    keep: torch.Tensor,
    cache: object | None = None,
) -> tuple[torch.Tensor, object | None]:
    """Final hidden states (B, S, H) at positions `keep` (B, S) of padded sequences (right padding, or left
    padding as in a generation's prefill), and the KV cache; see the module docstring. Positions past a
    row's end may be kept (their rows are garbage, as in a padded pass).

    With `cache` (a prefill: an empty cache of the model's, or None for the model's own), every layer's
    keys and values of every position are written to it, the last layer's included, as a full pass with
    `use_cache=True` writes them; None returned when no cache was asked for.
    """
    decoder = model.get_decoder()
    use_cache = cache is not None
    kwargs = {"use_cache": True, cache_kwarg(decoder): cache} if use_cache else {}
    if not supports(model):
        out = decoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
        h = out.last_hidden_state
        return torch.gather(h, 1, keep[..., None].expand(-1, -1, h.shape[-1])), returned_cache(out, use_cache)
    with _without_last_layer(decoder):
        out = decoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
    x = out.last_hidden_state
    layer = decoder.layers[-1]
    attn = layer.self_attn
    b, length, hidden = x.shape
    s = keep.shape[1]
    d = attn.head_dim
    n = layer.input_layernorm(x)
    cos, sin = decoder.rotary_emb(x, position_ids=position_ids)
    k = attn.k_proj(n).view(b, length, -1, d).transpose(1, 2)
    v = attn.v_proj(n).view(b, length, -1, d).transpose(1, 2)
    k = _rope(model, k, cos, sin)
    if use_cache:  # what the layer's attention would have stored; later decoding steps attend to it
        cache = returned_cache(out, True)
        k, v = cache.update(k, v, attn.layer_idx)
    rows = keep[..., None]
    q = attn.q_proj(torch.gather(n, 1, rows.expand(-1, -1, hidden))).view(b, s, -1, d).transpose(1, 2)
    q = _rope(
        model, q, torch.gather(cos, 1, rows.expand(-1, -1, d)), torch.gather(sin, 1, rows.expand(-1, -1, d))
    )
    groups = q.shape[1] // k.shape[1]
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    # query at position p sees key j iff j <= p and j is a real token
    allowed = (
        torch.arange(length, device=x.device)[None, None, :] <= keep[..., None]
    ) & attention_mask.bool()[:, None, :]
    out_attn = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=allowed[:, None], scale=attn.scaling
    )
    y = torch.gather(x, 1, rows.expand(-1, -1, hidden)) + attn.o_proj(
        out_attn.transpose(1, 2).reshape(b, s, -1)
    )
    y = y + layer.mlp(layer.post_attention_layernorm(y))
    return decoder.norm(y), cache if use_cache else None


@functools.cache
def _cache_kwarg_for(cls: type) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def cache_kwarg(decoder: nn.Module) -> str:
    """The decoder's KV-cache argument: `cache` in newer transformers, else `past_key_values`."""
    return _cache_kwarg_for(type(decoder))


def returned_cache(out: object, use_cache: bool) -> object | None:
    """The cache a decoder pass returned: `cache` in newer transformers (reading `past_key_values` there
    logs a deprecation), else `past_key_values`; None without `use_cache`."""
    if not use_cache:
        return None
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)
