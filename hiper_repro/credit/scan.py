"""The shared core: discounted sums that run backwards in time, over a (B, T) batch at once.

Every estimator here reduces to a backward linear recurrence A_t = x_t + c_t * A_{t+1} with A_T = 0.
When c_t is one constant c (turn-level GAE, HAE's low level inside a segment, a discounted return),
its solution A_t = sum_{s >= t} c^(s - t) x_s is one matrix product with the (T, T) triangular
matrix of powers of c: a single large op instead of T small ones, valid for any c in [0, 1] (no
division, no underflow) and the same code on CPU and CUDA. A time loop stays as the general fallback
for varying coefficients where no closed form is numerically safe.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=64)
def discount_matrix(discount: float, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, n) matrix G with G[s, t] = discount^(s - t) for s >= t and 0 below, so (x @ G)_t = sum_{s>=t}.

    Powers are formed in float64 and cast once; 0^0 = 1 keeps the diagonal for discount 0. Cached:
    the same few matrices serve every call of a run (callers never write to it).
    """
    k = torch.arange(n, device=device, dtype=torch.float64)
    lag = k[:, None] - k[None, :]  # s - t, rows s, columns t
    powers = torch.pow(torch.tensor(discount, dtype=torch.float64, device=device), lag.clamp(min=0))
    return torch.where(lag >= 0, powers, 0.0).to(dtype)


def discounted_suffix_sum(x: torch.Tensor, discount: float) -> torch.Tensor:
    """A_t = sum_{s=t}^{T-1} discount^(s - t) x_s along dim 1 of a (B, T) tensor (A_t = x_t + c A_{t+1})."""
    return x @ discount_matrix(discount, x.shape[1], x.dtype, x.device)


def reverse_scan(x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """A_t = x_t + coef_t * A_{t+1}, A_T = 0, along dim 1 of (B, T) tensors: the general time loop.

    Used where the coefficients vary and no closed form is numerically safe; loops over time, never
    over episodes. Runs in place on a time-major copy of x, so each step updates one contiguous row.
    """
    out = x.t().contiguous()
    rows, coefs = out.unbind(), coef.t().contiguous().unbind()
    for t in range(len(rows) - 2, -1, -1):
        rows[t].addcmul_(coefs[t], rows[t + 1])
    return out.t()


def shift_left(x: torch.Tensor) -> torch.Tensor:
    """y_t = x_{t+1}, y_{T-1} = 0: the next turn's value on every turn."""
    out = torch.zeros_like(x)
    out[:, :-1] = x[:, 1:]
    return out


_SAME_WIDTH_INT = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


def keep_bits(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An integer mask for `zero_padding`: all bits set where keep, none elsewhere."""
    return keep.view(torch.uint8).to(_SAME_WIDTH_INT[dtype]).neg_()


def zero_padding(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """x where keep, else exactly 0.0; NaN or inf outside `keep` cannot leak into a result.

    `keep` is a bool tensor or a `keep_bits` mask. The float bits are ANDed with the mask: the same
    result as torch.where(keep, x, 0), several times faster on CPU, and reusable across tensors. With
    torch.where for every mask, `hiper-repro bench credit` (B=1024, T=50, one thread) measured gae
    1.4x and hae 1.35-1.5x slower, so the estimators keep this form.
    """
    if keep.dtype == torch.bool:
        keep = keep_bits(keep, x.dtype)
    return (x.view(keep.dtype) & keep).view(x.dtype)


def add_at_last_turn(x: torch.Tensor, length: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """x[b, L_b - 1] += value[b], in place; rows without real turns are left unchanged.

    Only that one entry sees `value`, so a NaN bootstrap on one row cannot reach another position.
    """
    value = torch.where(length > 0, value, torch.zeros((), dtype=value.dtype, device=value.device))
    return x.scatter_add_(1, (length - 1).clamp(min=0)[:, None], value[:, None])
