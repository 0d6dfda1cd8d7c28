"""Argument checks shared by the estimators: shapes, dtypes and the episode layout.

Every check raises ValueError naming the argument and what was seen. The layout checks reduce to a few
uint8 maxima read back in one transfer, so a CUDA caller pays one synchronisation, not one per check.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


def check_float(name: str, x: object, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """A floating-point tensor, of `shape` when given."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    return x


def check_bool(name: str, x: object, shape: tuple[int, ...]) -> torch.Tensor:
    """A bool tensor of `shape`."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor, got dtype {x.dtype}")
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    return x


def check_unit(name: str, x: object) -> float:
    """A discount or trace parameter: a real number in [0, 1]."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{name} must be a float in [0, 1], got {x!r}")
    if not 0.0 <= float(x) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {x!r}")
    return float(x)


def check_same(ref_name: str, ref: torch.Tensor, **others: torch.Tensor | None) -> None:
    """Tensors that enter the same arithmetic share dtype and device."""
    for name, x in others.items():
        if x is None:
            continue
        if x.dtype != ref.dtype or x.device != ref.device:
            raise ValueError(
                f"{name} must match {ref_name} in dtype and device ({ref.dtype}, {ref.device}), "
                f"got ({x.dtype}, {x.device})"
            )


class Layout(NamedTuple):
    """Per-row facts of a valid (B, T) episode layout."""

    length: torch.Tensor  # (B,) long, L_b = number of real turns
    ended: torch.Tensor  # (B,) bool, the row terminated (on its last real turn)


def check_layout(mask: torch.Tensor, terminated: torch.Tensor) -> Layout:
    """`mask` rows are prefixes; `terminated` is True only on the last real turn of a row.

    Both tensors are (B, T) bool and already shape-checked. With n_b = sum_t m_bt and
    s_b = sum_t t m_bt (one small matrix product for both tensors), a row of m is a prefix iff
    s_b = n_b (n_b - 1) / 2, the unique minimum for n_b ones; terminated is valid iff it has at
    most one True, at t = L_b - 1. Integers stay exact in float64 far beyond any T in use.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (B, T), got shape {tuple(mask.shape)}")
    horizon = mask.shape[1]
    if horizon == 0:
        raise ValueError(f"mask needs at least one turn (T >= 1), got shape {tuple(mask.shape)}")
    flags = torch.stack([mask.view(torch.uint8), terminated.view(torch.uint8)]).to(torch.float64)
    turn = torch.arange(horizon, dtype=torch.float64, device=mask.device)
    moments = flags @ torch.stack([torch.ones_like(turn), turn], dim=1)  # (2, B, 2): count, sum of t
    length, turn_sum = moments[0, :, 0], moments[0, :, 1]
    n_term, t_term = moments[1, :, 0], moments[1, :, 1]
    gap = turn_sum != length * (length - 1) / 2
    stray = (n_term > 1) | ((n_term == 1) & (t_term != length - 1))
    bad_gap, bad_term = torch.stack([gap.any(), stray.any()]).tolist()
    if bad_gap:
        row = int(gap.nonzero()[0, 0])
        raise ValueError(f"mask must mark a prefix of each row (real turns first), row {row} is not")
    if bad_term:
        row = int(stray.nonzero()[0, 0])
        raise ValueError(
            f"terminated may be True only on the last real turn of a row, row {row} has it elsewhere"
        )
    return Layout(length=length.long(), ended=n_term > 0)
