"""Turn-level generalised advantage estimation (flat GAE, the PPO baseline) and discounted returns."""

from __future__ import annotations

import torch

from hiper_repro.credit._checks import check_bool, check_float, check_layout, check_same, check_unit
from hiper_repro.credit.scan import add_at_last_turn, discounted_suffix_sum, keep_bits, zero_padding


def bootstrap_values(
    ended: torch.Tensor, last_value: torch.Tensor | None, like: torch.Tensor
) -> torch.Tensor:
    """Per-row value of the state after the last real turn: 0 if the row terminated, else last_value or 0.

    Termination is a discount of 0; truncation is not termination and bootstraps when a value is given.
    """
    zero = torch.zeros((), dtype=like.dtype, device=like.device)
    if last_value is None:
        return zero.expand(like.shape[0])
    return torch.where(ended, zero, last_value)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    lam: float,
    last_value: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat turn-level GAE (Schulman et al. 2016) over a padded batch; docs/METHOD.md section 3 with one
    segment.

    Row b has L_b real turns t = 0 .. L_b - 1 (the prefix marked by `mask`); every argument is indexed
    by the turn t at which it is observed:

        next_t  = V(s_{t+1})                 for t < L_b - 1
                = 0                          at t = L_b - 1 if terminated there (discount 0)
                = last_value[b] (else 0)     at t = L_b - 1 otherwise (truncation: bootstrap)
        delta_t = r_t + gamma * next_t - V(s_t)
        A_t     = delta_t + gamma * lam * A_{t+1},   A_{L_b} = 0
        R_t     = A_t + V(s_t)                       (value target)

    Args:
        rewards: (B, T) float, r_t on turns [0, L_b).
        values: (B, T) float, V(s_t) on turns [0, L_b).
        mask: (B, T) bool, real turns; a prefix of each row.
        terminated: (B, T) bool, True only on the last real turn of a row whose episode ended.
        gamma, lam: discount and trace parameter in [0, 1].
        last_value: optional (B,) float, V(s_{L_b}) for rows that stop without terminating; ignored
            (may be NaN) on terminated rows. Without it, truncated rows bootstrap from 0.

    Returns:
        (advantages, returns), each (B, T), 0 at padding. Padded inputs never change a result.
        The recursion is evaluated as A = delta @ G with G[s, t] = (gamma lam)^(s - t) (scan.py).
    """
    rewards = check_float("rewards", rewards)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be 2-D (B, T), got shape {tuple(rewards.shape)}")
    shape = tuple(rewards.shape)
    values = check_float("values", values, shape)
    mask = check_bool("mask", mask, shape)
    terminated = check_bool("terminated", terminated, shape)
    if last_value is not None:
        last_value = check_float("last_value", last_value, shape[:1])
    check_same("rewards", rewards, values=values, last_value=last_value)
    gamma, lam = check_unit("gamma", gamma), check_unit("lam", lam)
    layout = check_layout(mask, terminated)

    real = keep_bits(mask, rewards.dtype)
    v = zero_padding(values, real)
    # delta = r - V(s_t) + gamma V(s_{t+1}), in place on one fresh tensor: 0 on padding, and the
    # last real turn reads the zeroed padding (or nothing at t = T - 1) before its bootstrap is added.
    delta = zero_padding(rewards, real).sub_(v)
    delta[:, :-1].add_(v[:, 1:], alpha=gamma)
    boot = bootstrap_values(layout.ended, last_value, rewards)
    add_at_last_turn(delta, layout.length, gamma * boot)
    advantages = discounted_suffix_sum(delta, gamma * lam)
    return advantages, advantages + v


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = sum_{s=t}^{L_b - 1} gamma^(s - t) r_s over each row's real turns, 0 at padding.

    Built from the shared core: `gae` with lam = 1 and zero values, whose advantages are exactly these
    returns (rlax builds its discounted returns from lambda returns the same way). Nothing is
    bootstrapped, so no row needs a `terminated` flag.
    """
    rewards = check_float("rewards", rewards)
    mask = check_bool("mask", mask, tuple(rewards.shape))
    advantages, _ = gae(rewards, torch.zeros_like(rewards), mask, torch.zeros_like(mask), gamma, 1.0)
    return advantages
