"""Hierarchical advantage estimation (HAE), docs/METHOD.md section 3: low level inside segments, high level
over segments as macro-steps."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from hiper_repro.credit._checks import check_bool, check_float, check_layout, check_same, check_unit
from hiper_repro.credit.gae import bootstrap_values
from hiper_repro.credit.scan import (
    add_at_last_turn,
    discount_matrix,
    discounted_suffix_sum,
    keep_bits,
    reverse_scan,
    shift_left,
    zero_padding,
)
from hiper_repro.credit.segments import ids_and_lengths, segment_bounds


class HAEResult(NamedTuple):
    """HAE outputs, all (B, T) and 0 (-1 for segment_id) on padding."""

    adv_low: torch.Tensor  # A_low_t on every real turn (action tokens)
    ret_low: torch.Tensor  # R_low_t = A_low_t + V_low(s_t), target of the low value head
    adv_high: torch.Tensor  # A_high_k at t = b_k, 0 elsewhere (subgoal tokens)
    ret_high: torch.Tensor  # R_high_k at t = b_k, 0 elsewhere, target of the high value head
    segment_start: torch.Tensor  # bool, True at b_k
    segment_id: torch.Tensor  # long, k
    segment_length: torch.Tensor  # long, d_k on every turn of segment k


def segment_suffix(
    x: torch.Tensor, discount: float, following: torch.Tensor, at_following: torch.Tensor | None = None
) -> torch.Tensor:
    """y_t = sum_{s=t}^{e(t)} discount^(s - t) x_s + discount^(f(t) - t) * z_{f(t)}: a discounted sum
    that stops at the end e(t) of t's segment, optionally plus a value z read at f(t) = e(t) + 1.

    With U = x @ G (one unsegmented matrix product), sum_{s=t}^{e} c^(s-t) x_s = U_t - c^(f-t) U_f; no
    division, so valid for every c in [0, 1] with rounding error below eps * sum_s |x_s|. `at_following`
    is z as a (B, T + 1) table over turn indices (column T stands for "after the last turn"); x must
    be 0 on padding.
    """
    unsegmented = discounted_suffix_sum(x, discount)
    table = torch.nn.functional.pad(unsegmented, (0, 1))
    sign = -1.0
    if at_following is not None:
        table, sign = at_following - table, 1.0  # y = U + w (z_f - U_f)
    # f(t) - t >= 1 on real turns; padding (f = L_b <= t) is clamped so no power overflows there.
    turn = torch.arange(x.shape[1], dtype=x.dtype, device=x.device)
    steps = following.to(x.dtype).sub_(turn).clamp_(min=1.0)
    weight = steps.mul_(math.log(discount)).exp_() if discount > 0 else steps.zero_()
    return torch.addcmul(unsegmented, weight, table.gather(1, following), value=sign)


def segment_rewards(
    rewards: torch.Tensor, switch: torch.Tensor, mask: torch.Tensor, gamma: float
) -> torch.Tensor:
    """rtilde_k = sum_{t=b_k}^{e_k} gamma^(t - b_k) r_t, each segment's discounted reward (HAE's macro-step
    reward, docs/METHOD.md section 3), stored at the segment's start t = b_k; 0 elsewhere and on padding.

    Segments as in `segments_from_switch`; one `segment_suffix` of the rewards, read at the starts.

    Args:
        rewards: (B, T) float, r_t; switch, mask: (B, T) bool; gamma in [0, 1].
    """
    rewards = check_float("rewards", rewards)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be 2-D (B, T), got shape {tuple(rewards.shape)}")
    switch = check_bool("switch", switch, tuple(rewards.shape))
    mask = check_bool("mask", mask, tuple(rewards.shape))
    gamma = check_unit("gamma", gamma)
    layout = check_layout(mask, torch.zeros_like(mask))
    bounds = segment_bounds(switch, mask, layout.length)
    return zero_padding(segment_suffix(zero_padding(rewards, mask), gamma, bounds.following), bounds.start)


def hae(
    rewards: torch.Tensor,
    values_low: torch.Tensor,
    values_high: torch.Tensor,
    switch: torch.Tensor,
    mask: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    lam_low: float,
    lam_high: float,
    last_value_low: torch.Tensor | None = None,
    last_value_high: torch.Tensor | None = None,
    lam_boundary: float = 0.0,
) -> HAEResult:
    """Hierarchical advantage estimation (Peng et al. 2026, arXiv 2602.16165, docs/METHOD.md section 3).

    Row b has real turns t = 0 .. L_b - 1 (`mask`), split by SWITCH turns into segments k with
    starts b_k and ends e_k (`segments_from_switch`; switch[:, 0] is treated as True). Arguments are
    indexed by the turn t at which they are observed; V_high is read only at segment starts.

    Low level (GAE that never crosses a segment end, boundary-aware bootstrap):

        next_t   = V_low(s_{t+1})          if t < e_k
                 = V_high(s_{b_{k+1}}) + lam_boundary * A_high_{k+1}
                                           if t = e_k and segment k+1 exists
                 = 0                       if t = L_b - 1 and the row terminated (discount 0)
                 = last_value_low[b] or 0  if t = L_b - 1 and the row was truncated
        delta_t  = r_t + gamma * next_t - V_low(s_t)
        A_low_t  = delta_t + gamma * lam_low * A_low_{t+1},   A_low_{e_k + 1} := 0
        R_low_t  = A_low_t + V_low(s_t)

    High level (segments as macro-steps, semi-MDP GAE), stored at t = b_k:

        rtilde_k = sum_{t=b_k}^{e_k} gamma^(t - b_k) r_t,     gtilde_k = gamma^(d_k)
        V'_{k+1} = V_high(s_{b_{k+1}}); 0 after the last segment if the row terminated,
                   last_value_high[b] (or 0) if it was truncated
        delta_k  = rtilde_k + gtilde_k * V'_{k+1} - V_high(s_{b_k})
        A_high_k = delta_k + gtilde_k * lam_high * A_high_{k+1},   A_high_K := 0
        R_high_k = A_high_k + V_high(s_{b_k})

    Evaluation: the low level is one segment-stopped discounted sum of delta (`segment_suffix`). The
    high level runs in turn time: W_t = r_t + gamma * [(1 - lam_high) V_high(s_{t+1}) + lam_high
    W_{t+1}] at segment ends, r_t + gamma W_{t+1} inside, so W_{b_k} = R_high_k; with
    P_t = lam_high^k(t), W_t = P_t^-1 sum_{s>=t} gamma^(s-t) P_s d_s is one matrix product. When
    lam_high^(T-1) would underflow, a time loop does the same recursion. Both levels written as one
    `reverse_scan` with `torch.where` masks read closer to the equations above, but measured 1.35-1.5x
    slower in `hiper-repro bench credit` (B=1024, T=50), 1.2-1.26x with these masks kept.

    Args:
        rewards: (B, T) float, r_t.
        values_low: (B, T) float, V_low(s_t, o_t) on real turns.
        values_high: (B, T) float, V_high(s_t); read only where a segment starts (NaN elsewhere is fine).
        switch: (B, T) bool, q_t = SWITCH.
        mask: (B, T) bool, real turns (a prefix of each row).
        terminated: (B, T) bool, True only on the last real turn of a row whose episode ended.
        gamma, lam_low, lam_high: discount and the two trace parameters, each in [0, 1].
        lam_boundary: in [0, 1]; 0 (default) is the paper's boundary bootstrap V_high(s_{b_{k+1}}). With
            l > 0 the low level bootstraps from (1 - l) V_high + l R_high_{k+1} (R_high the high level's
            lambda-return), so an observed outcome reaches earlier segments even while V_high is
            untrained; l = 1 with lam_high = 1 makes that bootstrap the observed discounted return.
        last_value_low, last_value_high: optional (B,) float, V_low and V_high of the state after the last
            real turn for truncated rows (ignored on terminated rows); without them, 0.

    Returns:
        HAEResult; padded inputs never change a result.
    """
    rewards = check_float("rewards", rewards)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be 2-D (B, T), got shape {tuple(rewards.shape)}")
    shape = tuple(rewards.shape)
    values_low = check_float("values_low", values_low, shape)
    values_high = check_float("values_high", values_high, shape)
    switch = check_bool("switch", switch, shape)
    mask = check_bool("mask", mask, shape)
    terminated = check_bool("terminated", terminated, shape)
    if last_value_low is not None:
        last_value_low = check_float("last_value_low", last_value_low, shape[:1])
    if last_value_high is not None:
        last_value_high = check_float("last_value_high", last_value_high, shape[:1])
    check_same(
        "rewards",
        rewards,
        values_low=values_low,
        values_high=values_high,
        last_value_low=last_value_low,
        last_value_high=last_value_high,
    )
    gamma = check_unit("gamma", gamma)
    lam_low, lam_high = check_unit("lam_low", lam_low), check_unit("lam_high", lam_high)
    lam_boundary = check_unit("lam_boundary", lam_boundary)
    layout = check_layout(mask, terminated)

    bounds = segment_bounds(switch, mask, layout.length)
    start, n_turns = bounds.start, shape[1]
    real, at_start = keep_bits(mask, rewards.dtype), keep_bits(start, rewards.dtype)
    r = zero_padding(rewards, real)
    v_low = zero_padding(values_low, real)
    v_high = zero_padding(values_high, at_start)  # V_high(s_{b_k}) at starts, 0 elsewhere

    # High level in turn time (see the docstring): d_t carries the (1 - lam_high) share of the next
    # start's value and the truncation bootstrap; the lam_high share flows through the recursion.
    boot_high = bootstrap_values(layout.ended, last_value_high, rewards)
    d = r.clone()
    d[:, :-1].add_(v_high[:, 1:], alpha=gamma * (1.0 - lam_high))
    add_at_last_turn(d, layout.length, gamma * boot_high)
    if lam_high == 1.0:
        w = discounted_suffix_sum(d, gamma)
    elif lam_high > 0.0 and lam_high ** (n_turns - 1) >= torch.finfo(r.dtype).tiny ** 0.5:
        scale = bounds.raw_id.to(r.dtype).mul_(math.log(lam_high)).exp_()  # P_t = lam_high^k(t) <= 1
        w = d.mul_(scale).matmul(discount_matrix(gamma, n_turns, r.dtype, r.device)).div_(scale)
    else:
        inside = torch.full_like(r, gamma)
        coef = torch.where(shift_left(start), inside * lam_high, inside)
        w = reverse_scan(d, coef)
    ret_high = zero_padding(w, at_start)

    adv_high = ret_high - v_high

    # Low level: bootstrap from V_low inside a segment, from V_high (+ lam_boundary A_high) across a
    # boundary; delta is built in place on one fresh tensor (the last real turn reads the zeroed
    # padding, then its bootstrap).
    bootstrap = zero_padding(v_low, ~at_start).add_(v_high)
    if lam_boundary > 0.0:
        bootstrap.add_(adv_high, alpha=lam_boundary)  # adv_high is 0 off segment starts
    delta = r - v_low
    delta[:, :-1].add_(bootstrap[:, 1:], alpha=gamma)
    boot_low = bootstrap_values(layout.ended, last_value_low, rewards)
    add_at_last_turn(delta, layout.length, gamma * boot_low)
    adv_low = segment_suffix(delta, gamma * lam_low, bounds.following)

    segment_id, segment_length = ids_and_lengths(bounds, mask)
    return HAEResult(
        adv_low=adv_low,
        ret_low=adv_low + v_low,
        adv_high=adv_high,
        ret_high=ret_high,
        segment_start=start,
        segment_id=segment_id,
        segment_length=segment_length,
    )
