"""Bias and variance of a set of per-episode gradient estimates against the exact gradient.

For N i.i.d. estimates g_1..g_N of dimension P, mean g_bar and exact gradient g*:

    bias_norm        = ||g_bar - g*||
    bias_se          = sqrt(tr(Sigma_hat) / N)    RMS of ||g_bar - g*|| from sampling alone (zero bias)
    bias_sq_debiased = ||g_bar - g*||^2 - tr(Sigma_hat) / N   (unbiased for the squared bias ||E g - g*||^2)
    relative_bias    = bias_norm / ||g*||
    variance         = tr(Sigma_hat)               per-sample covariance trace (ddof 1), also per block
    cosine           = <g_bar, g*> / (||g_bar|| ||g*||)

``projection_z`` is the scalar check the tests use: the deviation along a direction u in standard errors,
u.(g_bar - g*) / sqrt(u' Sigma_hat u / N).
"""

from __future__ import annotations

import torch


def _check(samples: torch.Tensor, exact: torch.Tensor) -> None:
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ValueError(f"samples must be (N >= 2, P), got shape {tuple(samples.shape)}")
    if exact.shape != samples.shape[1:]:
        raise ValueError(f"exact must have shape ({samples.shape[1]},), got {tuple(exact.shape)}")


def gradient_moments(
    samples: torch.Tensor, exact: torch.Tensor, blocks: dict[str, slice] | None = None
) -> dict[str, float]:
    """Bias and variance summaries (module docstring); ``variance_<block>`` for each named block."""
    _check(samples, exact)
    n = samples.shape[0]
    mean = samples.mean(0)
    var = samples.var(0, unbiased=True)
    trace = float(var.sum())
    err = float((mean - exact).norm())
    norm_exact, norm_mean = float(exact.norm()), float(mean.norm())
    out = {
        "bias_norm": err,
        "bias_se": (trace / n) ** 0.5,
        "bias_sq_debiased": err**2 - trace / n,
        "relative_bias": err / norm_exact if norm_exact > 0 else float("nan"),
        "variance": trace,
        "cosine": float(mean @ exact) / (norm_mean * norm_exact)
        if norm_mean * norm_exact > 0
        else float("nan"),
    }
    for name, sl in (blocks or {}).items():
        out[f"variance_{name}"] = float(var[sl].sum())
    return out


def projection_z(samples: torch.Tensor, exact: torch.Tensor, direction: torch.Tensor) -> float:
    """u.(g_bar - g*) in standard errors of u.g_bar; NaN when the estimates do not vary along u."""
    _check(samples, exact)
    if direction.shape != exact.shape:
        raise ValueError(f"direction must have shape {tuple(exact.shape)}, got {tuple(direction.shape)}")
    proj = samples @ direction
    se = float(proj.std(unbiased=True)) / samples.shape[0] ** 0.5
    dev = float(proj.mean() - exact @ direction)
    return dev / se if se > 0 else float("nan")
