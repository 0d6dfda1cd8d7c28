"""Critic-free group baselines: GRPO, RLOO, GiGPO and HGiGPO share one group-statistics core."""

from __future__ import annotations

from typing import NamedTuple

import torch

from hiper_repro.credit._checks import check_bool, check_float, check_layout
from hiper_repro.credit.scan import zero_padding


def _check_groups(name: str, group_ids: object, n: int, device: torch.device) -> torch.Tensor:
    if not isinstance(group_ids, torch.Tensor) or group_ids.dtype.is_floating_point or group_ids.is_complex():
        raise ValueError(
            f"{name} must be an integer tensor, got {getattr(group_ids, 'dtype', type(group_ids))}"
        )
    if group_ids.dtype == torch.bool or tuple(group_ids.shape) != (n,):
        raise ValueError(f"{name} must be an integer tensor of shape ({n},), got {tuple(group_ids.shape)}")
    if group_ids.device != device:
        raise ValueError(f"{name} must be on {device}, got {group_ids.device}")
    return group_ids


def group_stats(x: torch.Tensor, group: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per element: size n_g, mean and unbiased std of its group (std 0 for singletons).

    `group` holds any integer labels; they are relabelled 0..G-1, then sums are index_add'ed: no loop.
    """
    _, label = torch.unique(group, return_inverse=True)
    n_groups = int(label.max()) + 1 if label.numel() else 0
    count = torch.zeros(n_groups, dtype=x.dtype, device=x.device).index_add_(0, label, torch.ones_like(x))
    total = torch.zeros_like(count).index_add_(0, label, x)
    mean = (total / count)[label]
    square = torch.zeros_like(count).index_add_(0, label, (x - mean) ** 2)
    n = count[label]
    std = torch.sqrt(square[label] / (n - 1).clamp(min=1))
    return n, mean, std


def normalise(centred: torch.Tensor, std: torch.Tensor, eps: float) -> torch.Tensor:
    """centred / (std + eps); 0 where the denominator is 0 (a singleton or constant group, eps = 0)."""
    scale = std + eps
    return torch.where(scale > 0, centred / torch.where(scale > 0, scale, 1.0), 0.0)


def grpo(
    returns: torch.Tensor, group_ids: torch.Tensor, normalize_std: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """GRPO (Shao et al. 2024): A_i = (R_i - mean_g R) / (std_g R + eps), or R_i - mean_g R.

    Args:
        returns: (N,) float, one return per episode.
        group_ids: (N,) int, episodes of the same group (same task, same iteration) share an id.
        normalize_std: divide by the group's unbiased standard deviation (Dr. GRPO drops it).
    Returns:
        (N,) advantages; a group of one gets 0 (no baseline can be formed from the others).
    """
    returns = check_float("returns", returns)
    if returns.ndim != 1:
        raise ValueError(f"returns must be 1-D (N,), got shape {tuple(returns.shape)}")
    group_ids = _check_groups("group_ids", group_ids, returns.shape[0], returns.device)
    _, mean, std = group_stats(returns, group_ids)
    centred = returns - mean
    return normalise(centred, std, eps) if normalize_std else centred


def rloo(returns: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """RLOO (Ahmadian et al. 2024): A_i = R_i - mean_{j in g, j != i} R_j = n/(n-1) (R_i - mean_g R).

    Args and return as `grpo`; a group of one gets 0.
    """
    returns = check_float("returns", returns)
    if returns.ndim != 1:
        raise ValueError(f"returns must be 1-D (N,), got shape {tuple(returns.shape)}")
    group_ids = _check_groups("group_ids", group_ids, returns.shape[0], returns.device)
    n, mean, _ = group_stats(returns, group_ids)
    return torch.where(n > 1, n / (n - 1).clamp(min=1) * (returns - mean), 0.0)


def _check_keys(name: str, keys: object, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(keys, torch.Tensor) or keys.dtype.is_floating_point or keys.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {getattr(keys, 'dtype', keys)!r}")
    if tuple(keys.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(keys.shape)}")
    return keys


def _check_grouped(
    episode_returns: object, group_ids: object, step_returns: object, mask: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The arguments GiGPO and HGiGPO share, checked: (N,) returns and groups, (N, T) step returns and mask."""
    episode_returns = check_float("episode_returns", episode_returns)
    if episode_returns.ndim != 1:
        raise ValueError(f"episode_returns must be 1-D (N,), got shape {tuple(episode_returns.shape)}")
    n = episode_returns.shape[0]
    group_ids = _check_groups("group_ids", group_ids, n, episode_returns.device)
    step_returns = check_float("step_returns", step_returns)
    if step_returns.ndim != 2 or step_returns.shape[0] != n:
        raise ValueError(f"step_returns must have shape ({n}, T), got {tuple(step_returns.shape)}")
    mask = check_bool("mask", mask, tuple(step_returns.shape))
    check_layout(mask, torch.zeros_like(mask))
    return episode_returns, group_ids, step_returns, mask


def anchor_advantage(
    values: torch.Tensor,
    where: torch.Tensor,
    keys: tuple[torch.Tensor, ...],
    normalize_std: bool,
    eps: float,
) -> torch.Tensor:
    """norm(x_{i,t}) over anchor groups: turns (i, t) with `where` True and equal `keys` columns.

        norm(x) = (x - mean x) / (std x + eps)   (unbiased std; a group of one gives 0)
                  x - mean x                      when normalize_std is False

    Args:
        values: (N, T) float, x_{i,t}; read only where `where` is True.
        where: (N, T) bool, the turns that take part (anchors never mix with the others).
        keys: (N, T) int tensors; two turns share an anchor group when every key is equal.
    Returns:
        (N, T), 0 where `where` is False. One torch.unique over the stacked keys: no loop.
    """
    shape = tuple(values.shape)
    flat = where.reshape(-1)
    columns = torch.stack([k.reshape(-1)[flat] for k in keys], dim=1)
    _, anchor = torch.unique(columns, dim=0, return_inverse=True)
    x = values.reshape(-1)[flat]
    _, mean, std = group_stats(x, anchor)
    centred = x - mean
    out = torch.zeros(shape[0] * shape[1], dtype=values.dtype, device=values.device)
    out[flat] = normalise(centred, std, eps) if normalize_std else centred
    return out.reshape(shape)


def _rows(n: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(N, T) episode index of every position."""
    return torch.arange(n, device=device)[:, None].expand(shape)


def gigpo(
    episode_returns: torch.Tensor,
    group_ids: torch.Tensor,
    step_returns: torch.Tensor,
    state_keys: torch.Tensor,
    mask: torch.Tensor,
    step_weight: float,
    normalize_std: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """GiGPO (Feng et al. 2025): episode-level group advantage plus a step-level one over anchor states.

        A_t = A_E(i) + step_weight * A_S(i, t)
        A_E(i)    = grpo(episode_returns, group_ids, normalize_std)            (per episode)
        A_S(i, t) = (R_{i,t} - mean R) / (std R + eps) over the real turns (j, u) with the same group
                    id and the same environment state (state_keys[j, u] == state_keys[i, t])

    Args:
        episode_returns: (N,) float, one return per episode.
        group_ids: (N,) int, group of each episode.
        step_returns: (N, T) float, R_{i,t}, e.g. the discounted return from turn t.
        state_keys: (N, T) int, an id per environment state (hash the observation text to an int).
        mask: (N, T) bool, real turns (a prefix of each row).
        step_weight: weight w of the step-level term (GiGPO's omega).
    Returns:
        (N, T) advantages, 0 on padding; an anchor group of one turn gets step advantage 0.
    """
    episode_returns, group_ids, step_returns, mask = _check_grouped(
        episode_returns, group_ids, step_returns, mask
    )
    shape = tuple(step_returns.shape)
    state_keys = _check_keys("state_keys", state_keys, shape)
    episode_adv = grpo(episode_returns, group_ids, normalize_std, eps)
    groups = group_ids[_rows(shape[0], shape, mask.device)]
    step_adv = anchor_advantage(step_returns, mask, (groups, state_keys), normalize_std, eps)
    return zero_padding(episode_adv[:, None] + float(step_weight) * step_adv, mask)


class HGiGPOResult(NamedTuple):
    """(N, T) advantages of the three Plan-Execute blocks, 0 where a block makes no decision."""

    action: torch.Tensor
    subgoal: torch.Tensor
    switch: torch.Tensor


def hgigpo(
    *,
    episode_returns: torch.Tensor,
    group_ids: torch.Tensor,
    step_returns: torch.Tensor,
    state_keys: torch.Tensor,
    subgoal_keys: torch.Tensor,
    switch: torch.Tensor,
    mask: torch.Tensor,
    step_weight: float,
    normalize_std: bool = True,
    eps: float = 1e-6,
) -> HGiGPOResult:
    """Hierarchical GiGPO: HAE's two levels with empirical group baselines in place of its critics.

    This package's construction, in the spirit of HiMAC's hierarchical relative advantage (arXiv
    2603.00977), not HiMAC itself. Every output is A_E(i) + w norm(R_{i,t}) (`anchor_advantage`), with
    A_E(i) = grpo(episode_returns, group_ids) and the anchor group of (i, t) drawn from the same group id:

        action   every real turn t; anchors: same state_t, same subgoal_t          (replaces V_low(s, g))
        subgoal  segment starts (t = 0 or switch); anchors: same state_t, among starts (replaces V_high(s))
        switch   real turns t >= 1; anchors: same state_t, same subgoal_{t-1}, among turns t >= 1
                 (SWITCH against KEEP from the same state under the same current subgoal)

    With every subgoal key equal, `action` is `gigpo` with the same arguments.

    Args:
        episode_returns: (N,) float, one return per episode.
        group_ids: (N,) int, group (task) of each episode.
        step_returns: (N, T) float, R_{i,t}, the return from turn t, discounted by the caller.
        state_keys: (N, T) int, an id of the observation text at turn t.
        subgoal_keys: (N, T) int, an id of the subgoal text active at turn t, after that turn's decision.
        switch: (N, T) bool, True where a new segment starts; turn 0 always starts one.
        mask: (N, T) bool, real turns (a prefix of each row).
        step_weight: weight w of the step-level term.
        normalize_std: divide by the anchor group's unbiased std (+ eps); False: centre only.
    Returns:
        HGiGPOResult(action, subgoal, switch), each (N, T), 0 on padding and where the block makes no
        decision; values on padding never change a result.
    """
    episode_returns, group_ids, step_returns, mask = _check_grouped(
        episode_returns, group_ids, step_returns, mask
    )
    shape = tuple(step_returns.shape)
    state_keys = _check_keys("state_keys", state_keys, shape)
    subgoal_keys = _check_keys("subgoal_keys", subgoal_keys, shape)
    switch = check_bool("switch", switch, shape)
    w = float(step_weight)

    episode_adv = grpo(episode_returns, group_ids, normalize_std, eps)[:, None]
    groups = group_ids[_rows(shape[0], shape, mask.device)]
    first = torch.zeros_like(mask)
    first[:, :1] = True
    starts = mask & (switch | first)
    decisions = mask & ~first
    # subgoal_{t-1}: the subgoal a turn t >= 1 keeps or replaces (column 0 is never read: not a decision)
    previous = torch.cat([subgoal_keys[:, :1], subgoal_keys[:, :-1]], dim=1)

    def level(where: torch.Tensor, *keys: torch.Tensor) -> torch.Tensor:
        step = anchor_advantage(step_returns, where, (groups, state_keys, *keys), normalize_std, eps)
        return zero_padding(episode_adv + w * step, where)

    return HGiGPOResult(level(mask, subgoal_keys), level(starts), level(decisions, previous))
