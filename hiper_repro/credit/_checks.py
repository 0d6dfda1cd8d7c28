"""Argument checks shared by the estimators: shapes, dtypes and the episode layout.

Every check raises ValueError naming the argument and what was seen. The layout check reduces to two
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

    Both tensors are (B, T) bool and already shape-checked. In uint8, last_t = m_t - m_{t+1}
    (m_T = 0) is 1 on the last real turn of a prefix row, 0 elsewhere, and wraps to 255 where a
    padded turn precedes a real one; terminated is valid iff it is 0 wherever last_t is 0. Byte
    arithmetic and two maxima read back in one transfer: no float conversion of the masks, and a
    CUDA caller pays one synchronisation.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (B, T), got shape {tuple(mask.shape)}")
    if mask.shape[1] == 0:
        raise ValueError(f"mask needs at least one turn (T >= 1), got shape {tuple(mask.shape)}")
    m8, t8 = mask.view(torch.uint8), terminated.view(torch.uint8)
    last = torch.empty(m8.shape, dtype=torch.uint8, device=m8.device)
    flat = m8.reshape(-1)  # contiguous 1-D differences are several times cheaper than strided ones;
    torch.sub(flat[:-1], flat[1:], out=last.view(-1)[:-1])  # entries at t = T - 1 crossed rows:
    last[:, -1] = m8[:, -1]  # overwritten here
    stray = t8 & ~last  # 1 where terminated sits on a turn that is not the last real one
    gap, bad_term = torch.stack([last.max(), stray.max()]).tolist() if last.numel() else (0, 0)
    if gap > 1:
        row = int((last > 1).any(1).nonzero()[0, 0])
        raise ValueError(f"mask must mark a prefix of each row (real turns first), row {row} is not")
    if bad_term:
        row = int(stray.any(1).nonzero()[0, 0])
        raise ValueError(
            f"terminated may be True only on the last real turn of a row, row {row} has it elsewhere"
        )
    length = m8.sum(1)
    ended = t8.gather(1, (length - 1).clamp_(min=0)[:, None])[:, 0].view(torch.bool)
    return Layout(length=length, ended=ended)
