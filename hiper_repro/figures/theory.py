"""Figure of the exact-gradient lab: variance and bias of each estimator against the horizon K.

Input: the dataset of `hiper_repro.theory.lab.run_grid` (``theory.nc``). Three panels at one (lambda,
gamma, critic noise) cell, defaulting to lambda = max, gamma = max, noise = min (the unbiased setting):
variance per estimator against K, relative bias against K (with the sampling floor bias_se / ||g*|| dashed),
and the paired variance ratio HAE / flat GAE against K for every lambda. Lines are medians over
replicates, bands span the replicates' min-max. Saving is the caller's job.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from hiper_repro import methods_registry

# The lab's own estimators by their lab names; a group method's estimator (named as the method) takes the
# method's registry label.
LABELS = {
    "reinforce": "REINFORCE",
    "gae": "flat GAE",
    "hae": "HAE (paper switch)",
    "hae_code": "HAE (code switch)",
} | {s.estimator: s.label for s in methods_registry.specs() if s.is_group and not s.is_variant}


def _pick(ds: xr.Dataset, lam, gamma, critic_noise) -> dict[str, float]:
    sel = {
        "lam": float(ds["lam"].max()) if lam is None else lam,
        "gamma": float(ds["gamma"].max()) if gamma is None else gamma,
        "critic_noise": float(ds["critic_noise"].min()) if critic_noise is None else critic_noise,
    }
    for dim, value in sel.items():
        if not np.isclose(ds[dim].values, value).any():
            raise ValueError(
                f"{dim}={value!r} is not in the dataset's {dim} values {ds[dim].values.tolist()}"
            )
    return sel


def _band(ax, x, da: xr.DataArray, label: str, **kw) -> None:
    med, lo, hi = (da.reduce(f, dim="replicate") for f in (np.nanmedian, np.nanmin, np.nanmax))
    (line,) = ax.plot(x, med, marker="o", label=label, **kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)


def plot_theory(
    ds: xr.Dataset, *, lam: float | None = None, gamma: float | None = None, critic_noise: float | None = None
) -> Figure:
    """Variance, relative bias and HAE / GAE variance ratio against K (module docstring)."""
    missing = {"variance", "relative_bias", "bias_se", "grad_norm"} - set(ds.data_vars)
    if missing:
        raise ValueError(f"ds is not a theory dataset: missing variables {sorted(missing)}")
    sel = _pick(ds, lam, gamma, critic_noise)
    cell = ds.sel(sel, method="nearest")
    k = ds["K"].values
    fig, (ax_var, ax_bias, ax_ratio) = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")

    for name in ds["estimator"].values:
        c = cell.sel(estimator=name)
        _band(ax_var, k, c["variance"], LABELS.get(str(name), str(name)))
        _band(ax_bias, k, c["relative_bias"], LABELS.get(str(name), str(name)))
    floor = (cell["bias_se"].sel(estimator="hae") / cell["grad_norm"]).median("replicate")
    ax_bias.plot(k, floor, "k--", linewidth=1, label="sampling floor (HAE)")
    ax_var.set(yscale="log", xlabel="subtasks K", ylabel="tr Cov (per episode)", title="variance")
    ax_bias.set(yscale="log", xlabel="subtasks K", ylabel="||E g - g*|| / ||g*||", title="relative bias")
    ax_var.legend(fontsize=7)

    at = {d: sel[d] for d in ("gamma", "critic_noise")}
    v = ds["variance"].sel(at, method="nearest")
    for lam_value in ds["lam"].values:
        ratio = v.sel(estimator="hae", lam=lam_value) / v.sel(estimator="gae", lam=lam_value)
        _band(ax_ratio, k, ratio, f"lambda={lam_value:g}")
    ax_ratio.axhline(1.0, color="k", linewidth=0.8)
    ax_ratio.set(xlabel="subtasks K", ylabel="var HAE / var flat GAE", title="variance ratio")
    ax_ratio.legend(fontsize=7)
    for ax in (ax_var, ax_bias, ax_ratio):
        ax.set_xticks(k)
    lams = ", ".join(f"{v:g}" for v in ds["lam"].values)
    fig.suptitle(
        f"exact-gradient lab at gamma={sel['gamma']:g}, critic noise={sel['critic_noise']:g}: variance and bias "
        f"at lambda={sel['lam']:g}; variance ratio at every lambda ({lams})",
        fontsize=10,
    )
    return fig
