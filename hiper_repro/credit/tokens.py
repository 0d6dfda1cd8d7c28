"""From turns to tokens: whitening over real entries and broadcasting turn advantages onto tokens."""

from __future__ import annotations

import torch

from hiper_repro.credit._checks import check_bool, check_float
from hiper_repro.credit.scan import zero_padding


def _masked_moments(
    x: torch.Tensor, mask: torch.Tensor, who: str, with_var: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Checked (x, mask) and the mean and unbiased variance (None without `with_var`) of x over the
    entries where mask is True; `who` names the caller in the error when there are fewer than two."""
    x = check_float("x", x)
    mask = check_bool("mask", mask, tuple(x.shape))
    n = int(mask.view(torch.uint8).sum(dtype=torch.int64)) if mask.numel() else 0
    if n < 2:
        raise ValueError(f"{who} needs at least two entries where mask is True, got {n}")
    mean = zero_padding(x, mask).sum() / n
    var = zero_padding((x - mean) ** 2, mask).sum() / (n - 1) if with_var else None
    return x, mask, mean, var


def masked_std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased standard deviation of x over the entries where mask is True (a 0-d tensor; needs two)."""
    return _masked_moments(x, mask, "a standard deviation")[3].sqrt()


def whiten(
    x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8, std: torch.Tensor | float | None = None
) -> torch.Tensor:
    """(x - mean) / sqrt(s^2 + eps) over the entries where mask is True; 0 elsewhere.

    mean and the unbiased std s are taken over real entries only, each counted once (pass per-turn
    advantages, not per-token copies). Needs at least two real entries. With `std` given, s is that
    value instead of x's own (several advantage types divided by one common scale).
    """
    x, mask, mean, var = _masked_moments(x, mask, "whiten", with_var=std is None)
    if std is not None:
        var = torch.as_tensor(std, dtype=x.dtype, device=x.device) ** 2
    return zero_padding((x - mean) * torch.rsqrt(var + eps), mask)


def whiten_applicable(
    x: torch.Tensor, applies: torch.Tensor, eps: float = 1e-8, std: torch.Tensor | float | None = None
) -> torch.Tensor:
    """`whiten` for a per-turn quantity that is NaN where it does not apply: whitened over the entries
    where `applies` (a NaN there counts as 0), NaN elsewhere. Fewer than two entries are returned as
    they are: one entry has no spread to divide by. `std` as in `whiten` (a common scale).
    """
    x = check_float("x", x)
    applies = check_bool("applies", applies, tuple(x.shape))
    nan = torch.full_like(x, float("nan"))
    if int(applies.sum()) < 2:
        return torch.where(applies, x, nan)
    return torch.where(applies, whiten(torch.nan_to_num(x), applies, eps, std=std), nan)


def broadcast_to_tokens(
    turn_values: torch.Tensor, turn_index: torch.Tensor, token_mask: torch.Tensor
) -> torch.Tensor:
    """out[b, l] = turn_values[b, turn_index[b, l]] where token_mask[b, l], else 0.

    Args:
        turn_values: (B, T) float, e.g. per-turn advantages.
        turn_index: (B, L) int, the turn each token belongs to (any value where token_mask is False).
        token_mask: (B, L) bool, tokens that take a value (e.g. the action block).
    Returns:
        (B, L) tensor of turn_values' dtype.
    """
    turn_values = check_float("turn_values", turn_values)
    if turn_values.ndim != 2:
        raise ValueError(f"turn_values must be 2-D (B, T), got shape {tuple(turn_values.shape)}")
    if (
        not isinstance(turn_index, torch.Tensor)
        or turn_index.dtype.is_floating_point
        or turn_index.dtype == torch.bool
    ):
        raise ValueError(
            f"turn_index must be an integer tensor, got {getattr(turn_index, 'dtype', turn_index)!r}"
        )
    if turn_index.ndim != 2 or turn_index.shape[0] != turn_values.shape[0]:
        raise ValueError(
            f"turn_index must have shape ({turn_values.shape[0]}, L), got {tuple(turn_index.shape)}"
        )
    token_mask = check_bool("token_mask", token_mask, tuple(turn_index.shape))
    n_turns = turn_values.shape[1]
    index = torch.where(token_mask, turn_index.long(), 0)
    if index.numel() and bool(((index < 0) | (index >= n_turns)).any()):
        raise ValueError(f"turn_index must lie in [0, {n_turns}) where token_mask is True")
    return zero_padding(turn_values.gather(1, index), token_mask)
