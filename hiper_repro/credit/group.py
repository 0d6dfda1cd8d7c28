"""Critic-free group baselines: GRPO, RLOO and GiGPO share one group-statistics core."""

from __future__ import annotations

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
    episode_returns = check_float("episode_returns", episode_returns)
    if episode_returns.ndim != 1:
        raise ValueError(f"episode_returns must be 1-D (N,), got shape {tuple(episode_returns.shape)}")
    n = episode_returns.shape[0]
    group_ids = _check_groups("group_ids", group_ids, n, episode_returns.device)
    step_returns = check_float("step_returns", step_returns)
    if step_returns.ndim != 2 or step_returns.shape[0] != n:
        raise ValueError(f"step_returns must have shape ({n}, T), got {tuple(step_returns.shape)}")
    shape = tuple(step_returns.shape)
    mask = check_bool("mask", mask, shape)
    if (
        not isinstance(state_keys, torch.Tensor)
        or state_keys.dtype.is_floating_point
        or state_keys.dtype == torch.bool
    ):
        raise ValueError(
            f"state_keys must be an integer tensor, got {getattr(state_keys, 'dtype', state_keys)!r}"
        )
    if tuple(state_keys.shape) != shape:
        raise ValueError(f"state_keys must have shape {shape}, got {tuple(state_keys.shape)}")
    check_layout(mask, torch.zeros_like(mask))
    step_weight = float(step_weight)

    episode_adv = grpo(episode_returns, group_ids, normalize_std, eps)
    flat = mask.reshape(-1)
    rows = torch.arange(n, device=mask.device)[:, None].expand(shape).reshape(-1)[flat]
    anchors = torch.stack([group_ids[rows], state_keys.reshape(-1)[flat]], dim=1)
    _, anchor = torch.unique(anchors, dim=0, return_inverse=True)
    step_values = step_returns.reshape(-1)[flat]
    _, mean, std = group_stats(step_values, anchor)
    centred = step_values - mean
    step_adv = torch.zeros(shape[0] * shape[1], dtype=step_returns.dtype, device=step_returns.device)
    step_adv[flat] = normalise(centred, std, eps) if normalize_std else centred
    total = episode_adv[:, None] + step_weight * step_adv.reshape(shape)
    return zero_padding(total, mask)
