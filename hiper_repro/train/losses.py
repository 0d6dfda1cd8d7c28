"""Token-level PPO losses as pure functions of tensors (docs/METHOD.md section 4).

Every function takes per-token tensors of one shape (N tokens, or any shape) and a boolean `mask` of the
tokens that carry loss, and returns a scalar *sum* divided by `denom`. Token-mean aggregation over the
minibatch is `denom = mask.sum()`; under data parallelism the caller passes the global token count divided
by the number of processes, so that DDP's gradient average gives exactly the one-process token mean.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(name: str, x: Tensor, ref: Tensor) -> None:
    if x.shape != ref.shape:
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {tuple(ref.shape)} like mask")


def _denom(mask: Tensor, denom: float | Tensor | None) -> Tensor:
    if denom is None:
        denom = mask.sum()
    return torch.as_tensor(denom, dtype=torch.float32, device=mask.device).clamp_min(1.0)


def _clean(x: Tensor, mask: Tensor) -> Tensor:
    """Zero the entries outside the mask *before* any arithmetic, so NaN there never reaches a gradient."""
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


def masked_sum(x: Tensor, mask: Tensor) -> Tensor:
    """Sum of x over mask (NaN/inf outside the mask never leak in)."""
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum()


def ppo_clip_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip: float = 0.2,
    denom: float | Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """PPO-clip surrogate, token mean.

    rho = exp(logp - logp_old);  L = -min(rho * A, clip(rho, 1 - eps, 1 + eps) * A).

    Returns (loss, clip_fraction, drift_k1) where clip_fraction is the share of masked tokens whose
    clipped term was the active one and drift_k1 = mean(logp_old - logp), the k1 estimate of
    KL(pi_old || pi_theta) (detached diagnostics; the metric of that name).
    """
    for name, x in (("logprobs", logprobs), ("old_logprobs", old_logprobs), ("advantages", advantages)):
        _check(name, x, mask)
    d = _denom(mask, denom)
    logprobs, old_logprobs, advantages = (_clean(x, mask) for x in (logprobs, old_logprobs, advantages))
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages
    loss = masked_sum(-torch.minimum(unclipped, clipped), mask) / d
    with torch.no_grad():
        n = mask.sum().clamp_min(1)
        clip_frac = masked_sum((clipped < unclipped).float(), mask) / n
        approx_kl = masked_sum(old_logprobs - logprobs, mask) / n
    return loss, clip_frac, approx_kl


def kl_k3(
    logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor, denom: float | Tensor | None = None
) -> Tensor:
    """k3 ("low-variance") estimator of KL(pi_theta || pi_ref) per sampled token, token mean.

    With x = logp_ref - logp_theta:  k3 = exp(x) - x - 1  >= 0 (Schulman 2020, "Approximating KL").
    Computed as expm1(x) - x, clamped at 0: `exp(x) - x - 1` in float32 rounds to small negative numbers
    when the policies nearly agree (-4e-11 was seen in a trace), which is not a KL.
    """
    _check("logprobs", logprobs, mask)
    _check("ref_logprobs", ref_logprobs, mask)
    x = (_clean(ref_logprobs, mask) - _clean(logprobs, mask)).clamp(
        -20.0, 20.0
    )  # exp overflow guard; ratios past e^20 are bugs anyway
    return masked_sum(k3_terms(x), mask) / _denom(mask, denom)


def k3_terms(x: Tensor) -> Tensor:
    """Per-element k3 term expm1(x) - x, never negative (x = log ratio of the two policies)."""
    return (torch.expm1(x) - x).clamp_min(0.0)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the categorical distribution at each position: H = -sum_v p_v log p_v, shape logits[..., 0]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def token_mean(x: Tensor, mask: Tensor, denom: float | Tensor | None = None) -> Tensor:
    """sum(x over mask) / denom (default: number of masked tokens)."""
    _check("x", x, mask)
    return masked_sum(_clean(x, mask), mask) / _denom(mask, denom)


def clipped_value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    clip: float = 0.5,
    denom: float | Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Clipped value loss of one head, mean over masked entries (one entry per turn, not per token).

    v_clip = v_old + clip(v - v_old, -c, c);  L = 0.5 * max((v - R)^2, (v_clip - R)^2)   (as in veRL/PPO2).

    Returns (loss, clip_fraction).
    """
    for name, x in (("values", values), ("old_values", old_values), ("returns", returns)):
        _check(name, x, mask)
    values, old_values, returns = (_clean(x, mask) for x in (values, old_values, returns))
    v_clip = old_values + (values - old_values).clamp(-clip, clip)
    err = torch.maximum((values - returns) ** 2, (v_clip - returns) ** 2)
    loss = 0.5 * masked_sum(err, mask) / _denom(mask, denom)
    with torch.no_grad():
        frac = masked_sum(((v_clip - returns) ** 2 > (values - returns) ** 2).float(), mask)
        frac = frac / mask.sum().clamp_min(1)
    return loss, frac
