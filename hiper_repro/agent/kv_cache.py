"""A KV cache that writes into preallocated buffers instead of growing by concatenation.

transformers' default ``DynamicCache`` appends each step's keys and values with ``torch.cat``, which
copies the whole cache of every layer on every generated token. For the tiny models this package trains
on CPU that copy is ~12% of a batched rollout. :func:`preallocated_cache` gives a cache of the same
semantics (keys/values of shape (B, heads, n, head_dim), n = tokens fed so far) whose layers write into a
(B, heads, capacity, head_dim) buffer and hand attention a view of its first n positions: outputs are
bit-identical to the dynamic cache (tests/agent/test_kv_cache.py).

It is used only where it is equivalent: every layer is plain full attention (no sliding window, chunked
attention, KV sharing or linear-attention layers) and transformers has the layer-based cache API
(``transformers.cache_utils.Cache(layers=...)``, 4.56+). Otherwise :func:`preallocated_cache` returns
None and the model builds its default cache.
"""

from __future__ import annotations

import torch

try:  # the layer-based cache API (transformers >= 4.56)
    from transformers.cache_utils import Cache, DynamicLayer
except ImportError:  # pragma: no cover - exercised only with old transformers
    Cache = DynamicLayer = None


if DynamicLayer is not None:

    class PreallocatedLayer(DynamicLayer):
        """One layer's keys and values in a buffer of ``capacity`` positions (doubled if outgrown)."""

        def __init__(self, capacity: int):
            super().__init__()
            if capacity < 1:
                raise ValueError(f"capacity must be >= 1, got {capacity}")
            self.capacity = capacity

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            self.device = key_states.device
            self._key_buf = key_states.new_empty((*key_states.shape[:2], self.capacity, key_states.shape[-1]))
            self._value_buf = value_states.new_empty(
                (*value_states.shape[:2], self.capacity, value_states.shape[-1])
            )
            self.keys, self.values = self._key_buf[:, :, :0], self._value_buf[:, :, :0]
            self.is_initialized = True

        def _grow(self, needed: int) -> None:
            capacity, length = max(needed, 2 * self.capacity), self.get_seq_length()
            for name in ("_key_buf", "_value_buf"):
                old = getattr(self, name)
                new = old.new_empty((*old.shape[:2], capacity, old.shape[-1]))
                new[:, :, :length] = old[:, :, :length]
                setattr(self, name, new)
            self.capacity = capacity

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            start = self.get_seq_length()  # the views' length (DynamicLayer's own count)
            end = start + key_states.shape[-2]
            if end > self.capacity:
                self._grow(end)
            self._key_buf[:, :, start:end] = key_states
            self._value_buf[:, :, start:end] = value_states
            self.keys, self.values = self._key_buf[:, :, :end], self._value_buf[:, :, :end]
            return self.keys, self.values

        def _unsupported(self, *args, **kwargs) -> None:
            raise NotImplementedError(
                "PreallocatedLayer only appends (batched sampling); cropping, reordering and batch "
                "selection need transformers' DynamicCache"
            )

        crop = reorder_cache = batch_repeat_interleave = batch_select_indices = _unsupported


def _text_config(config):
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


def _full_attention_only(config) -> bool:
    """True when every decoder layer is plain full attention (the only case the buffers reproduce)."""
    text = _text_config(config)
    if getattr(text, "kv_sharing_modes", None) is not None:
        return False
    layer_types = getattr(text, "layer_types", None)
    if layer_types is not None:
        return all(t == "full_attention" for t in layer_types)
    uses_window = getattr(text, "use_sliding_window", True) and getattr(text, "sliding_window", None)
    return not uses_window and getattr(text, "attention_chunk_size", None) is None


def preallocated_cache(model, capacity: int):
    """A cache for ``model`` (an HF causal LM or its decoder) holding ``capacity`` positions per layer.

    Returns None where the preallocated layers would not reproduce the model's own cache (see the module
    docstring); callers then pass no cache and the model builds its default one.
    """
    if Cache is None or not _full_attention_only(model.config):
        return None
    n_layers = _text_config(model.config).num_hidden_layers
    return Cache(layers=[PreallocatedLayer(capacity) for _ in range(n_layers)])


__all__ = ["preallocated_cache"]
