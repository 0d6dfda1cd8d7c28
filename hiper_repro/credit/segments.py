"""Segments: the runs of turns between SWITCH decisions (docs/METHOD.md section 2)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from hiper_repro.credit._checks import check_bool, check_layout


class Bounds(NamedTuple):
    """Index arithmetic behind `segments_from_switch`, all (B, T)."""

    start: torch.Tensor  # bool, real turn t begins a segment (t = 0 always, else switch)
    raw_id: torch.Tensor  # int32, k(t); padding keeps the last id, empty rows 0
    current: torch.Tensor  # int32, b_k of t's segment
    following: torch.Tensor  # int32, b_{k+1}, or L_b after the last segment


def segment_bounds(switch: torch.Tensor, mask: torch.Tensor, length: torch.Tensor) -> Bounds:
    """Segment starts, ids and the first turns of each turn's segment and of the next one.

    Starts are scattered into a (B, T + 1) table indexed by segment id, then read back by gather:
    a few batched ops instead of a scan over time. `length` is (B,) long, L_b.
    """
    start = switch.clone()
    start[:, 0] = True
    start &= mask
    batch, n_turns = start.shape
    # int32 index arithmetic: several times cheaper than int64 on CPU; gather accepts int32 indices.
    is_start = start.view(torch.uint8).to(torch.int32)
    raw_id = is_start.cumsum(1, dtype=torch.int32).sub_(1).clamp_(min=0)
    table = (
        length.to(torch.int32)[:, None].expand(batch, n_turns + 1).contiguous()
    )  # unwritten: "after the end"
    turn = torch.arange(n_turns, dtype=torch.int32, device=start.device).expand(batch, n_turns)
    # Starts write b_k to column k; other turns write to column T, which is never read
    # (ids + 1 <= K, and K = T leaves no other turns).
    slot = (raw_id - n_turns).mul_(is_start).add_(n_turns)
    table.scatter_(1, slot.long(), turn)
    return Bounds(start, raw_id, table.gather(1, raw_id), table.gather(1, raw_id + 1))


def segments_from_switch(
    switch: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Segment structure of a padded batch of episodes.

    SWITCH turns split episode b (real turns 0 .. L_b - 1) into segments k = 0 .. K_b - 1 with starts
    0 = b_0 < b_1 < ... < b_{K-1}; segment k covers b_k .. e_k, e_k = b_{k+1} - 1 (L_b - 1 for the last),
    length d_k = e_k - b_k + 1. switch[:, 0] is treated as True; switch on padded turns is ignored.

    Args:
        switch: (B, T) bool, q_t = SWITCH.
        mask: (B, T) bool, real turns (a prefix of each row).

    Returns:
        segment_start: (B, T) bool, True at b_k.
        segment_id: (B, T) long, k on the real turns of segment k, -1 on padding.
        segment_length: (B, T) long, d_k on every real turn of segment k, 0 on padding.
    """
    if not isinstance(mask, torch.Tensor) or mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D (B, T) bool tensor, got {getattr(mask, 'shape', mask)!r}")
    mask = check_bool("mask", mask, tuple(mask.shape))
    switch = check_bool("switch", switch, tuple(mask.shape))
    layout = check_layout(mask, torch.zeros_like(mask))
    bounds = segment_bounds(switch, mask, layout.length)
    return bounds.start, *ids_and_lengths(bounds, mask)


def ids_and_lengths(bounds: Bounds, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """segment_id (-1 on padding) and segment_length (0 on padding) from the bounds."""
    real = mask.view(torch.uint8).to(torch.int32)
    segment_id = (bounds.raw_id + 1).mul_(real).sub_(1).long()
    return segment_id, (bounds.following - bounds.current).mul_(real).long()
