"""Analytic FLOP counts of the policy's passes, for `hiper-repro bench train`'s roofline line.

A decoder layer's dense work is 2 x (its parameters) FLOPs per token (one multiply-add per weight), and
attention adds, per layer, 4 x H FLOPs for every (query, key) pair it scores (2H for q.k, 2H for the
weighted sum of values). For a row whose `c` real tokens end with `n` new ones (a prefill has n = c, a
decoding step n = 1 on top of a cache), causal attention scores n*c - n(n-1)/2 pairs. The output
projection adds 2 x H x V per position whose logits are computed (padding included in both counts). A backward pass costs twice its forward
(gradients with respect to activations and to weights).

Two counts: `useful` counts real tokens only; `executed` counts what the padded tensors make the kernels
do (every row of a batch padded to its longest, full L x L attention). Their ratio is the padding waste.

Counting is off unless a `FlopCounter` is active (`with FlopCounter() as c:`); the policy calls
`count_forward` / `count_logits` on every pass, which cost a mask sum when counting and nothing otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

_ACTIVE: list[FlopCounter] = []


@dataclass
class FlopCounter:
    """Accumulates FLOPs of the policy's passes while active; `take()` returns and resets them."""

    useful: float = 0.0
    executed: float = 0.0
    tokens: int = 0
    _per_model: dict[int, tuple[int, int, int]] = field(default_factory=dict, repr=False)

    def __enter__(self) -> FlopCounter:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)

    def take(self) -> dict[str, float]:
        """{"gflop": useful, "gflop_executed": executed, "tokens": real tokens} since the last take."""
        out = {
            "gflop": self.useful / 1e9,
            "gflop_executed": self.executed / 1e9,
            "tokens": float(self.tokens),
        }
        self.useful = self.executed = 0.0
        self.tokens = 0
        return out


def _dims(model: torch.nn.Module) -> tuple[int, int, int, int]:
    """(dense parameters of the decoder layers, of the last layer's key and value projections, layers,
    hidden size) of an HF causal LM."""
    cfg = model.config
    layers = getattr(model.get_decoder(), "layers", None)
    dense = sum(p.numel() for p in layers.parameters() if p.dim() >= 2) if layers is not None else 0
    attn = getattr(layers[-1], "self_attn", None) if layers is not None else None
    kv = sum(getattr(attn, n).weight.numel() for n in ("k_proj", "v_proj") if hasattr(attn, n))
    return dense, kv, int(cfg.num_hidden_layers), int(cfg.hidden_size)


def _counter_and_dims(model: torch.nn.Module) -> tuple[FlopCounter, tuple[int, int, int, int], float]:
    counter = _ACTIVE[-1]
    key = id(model)
    if key not in counter._per_model:
        counter._per_model[key] = _dims(model)
    backward = 3.0 if torch.is_grad_enabled() and any(p.requires_grad for p in model.parameters()) else 1.0
    return counter, counter._per_model[key], backward


def count_forward(model: torch.nn.Module, attention_mask: torch.Tensor, n_new: int) -> None:
    """Count one decoder pass of `n_new` positions per row over `attention_mask` (B, L: cache + new)."""
    if not _ACTIVE:
        return
    counter, (dense, _, layers, hidden), backward = _counter_and_dims(model)
    real = attention_mask.long()
    context = real.sum(-1).double()  # c per row
    new = real[:, -n_new:].sum(-1).double()  # n per row
    pairs = float((new * context - new * (new - 1) / 2).sum())
    useful = 2.0 * dense * float(new.sum()) + 4.0 * hidden * layers * pairs
    rows, width = attention_mask.shape
    executed = 2.0 * dense * rows * n_new + 4.0 * hidden * layers * rows * n_new * width
    counter.useful += backward * useful
    counter.executed += backward * executed
    counter.tokens += int(new.sum())


def count_forward_at(model: torch.nn.Module, attention_mask: torch.Tensor, keep: torch.Tensor) -> None:
    """Count a pass whose last layer computes only the positions `keep` (B, S) beyond its keys and values
    (`agent.last_layer.hidden_at`): the other layers and the last one's key/value projections run on
    every position, its queries, output projection and MLP on the kept ones."""
    if not _ACTIVE:
        return
    counter, (dense, kv, layers, hidden), backward = _counter_and_dims(model)
    real = attention_mask.long()
    tokens = float(real.sum())
    last = dense // layers  # the layers are alike
    kept = torch.gather(real, 1, keep).bool()
    context = real.sum(-1).double()
    pairs_lower = float((context * (context + 1) / 2).sum())
    pairs_kept = float(((keep + 1).double() * kept).sum())
    useful = 2.0 * (dense - last + kv) * tokens + 2.0 * (last - kv) * float(kept.sum())
    useful += 4.0 * hidden * ((layers - 1) * pairs_lower + pairs_kept)
    rows, width = attention_mask.shape
    s = keep.shape[1]
    executed = 2.0 * (dense - last + kv) * rows * width + 2.0 * (last - kv) * rows * s
    executed += 4.0 * hidden * rows * width * ((layers - 1) * width + s)
    counter.useful += backward * useful
    counter.executed += backward * executed
    counter.tokens += int(tokens)


def count_logits(model: torch.nn.Module, positions: int) -> None:
    """Count the output projection at `positions` positions (H x V multiply-adds each)."""
    if not _ACTIVE:
        return
    emb = model.get_output_embeddings()
    if emb is None:
        return
    backward = 3.0 if torch.is_grad_enabled() and emb.weight.requires_grad else 1.0
    flops = backward * 2.0 * emb.weight.numel() * positions
    _ACTIVE[-1].useful += flops
    _ACTIVE[-1].executed += flops


def matmul_peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    """This CPU's measured float32 matmul throughput (GFLOP/s) at the current thread count: the best of
    `repeats` products of two size x size matrices, after two warm-up products."""
    import time

    a = torch.randn(size, size)
    b = torch.randn(size, size)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def take_active() -> dict[str, float] | None:
    """The innermost active counter's counts since its last take (None when no counter is active)."""
    return _ACTIVE[-1].take() if _ACTIVE else None
