"""Numbers of the exact-gradient lab (``hiper-repro theory``'s dataset) that the paper quotes.

The lab measures each gradient estimator's variance on tabular hierarchical MDPs with K subtasks. Per
replicate MDP the ratio of two estimators' variances is paired (same episodes)::

    ratio[K, lam, replicate] = variance[hae] / variance[gae]      at gamma = max, critic noise = min

summarised over replicates by its median and interquartile range. :func:`horizon_trend` says how the
ratio moves from the smallest to the largest K: ``rises`` when the largest K's lower quartile lies above
the smallest K's upper quartile, ``falls`` in the mirror case, ``level`` when the ranges overlap. A ratio
that rises towards 1 means HAE's variance advantage over flat GAE shrinks as the horizon grows.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr


def lab_ratios(ds: xr.Dataset, numerator: str = "hae", denominator: str = "gae") -> pd.DataFrame:
    """Per (lam, K): median, q25, q75 and n of the paired variance ratio over replicates, at the lab's
    largest gamma and smallest critic noise (the unbiased setting the theory figure draws)."""
    missing = {"variance", "estimator", "K", "lam", "replicate"} - set(ds.variables)
    if missing:
        raise ValueError(f"not a theory-lab dataset: missing {sorted(missing)}")
    for name in (numerator, denominator):
        if name not in ds["estimator"].values:
            raise ValueError(f"estimator {name!r} not in the lab dataset: {list(ds['estimator'].values)}")
    at = {"gamma": float(ds["gamma"].max()), "critic_noise": float(ds["critic_noise"].min())}
    v = ds["variance"].sel(at)
    ratio = v.sel(estimator=numerator) / v.sel(estimator=denominator)
    q = ratio.quantile([0.25, 0.5, 0.75], dim="replicate")
    rows = [
        {
            "lam": float(lam),
            "K": int(k),
            "median": float(q.sel(quantile=0.5, lam=lam, K=k)),
            "q25": float(q.sel(quantile=0.25, lam=lam, K=k)),
            "q75": float(q.sel(quantile=0.75, lam=lam, K=k)),
            "n": int(ratio.sel(lam=lam, K=k).notnull().sum()),
            **at,
        }
        for lam in ds["lam"].values
        for k in ds["K"].values
    ]
    return pd.DataFrame(rows)


def horizon_trend(ratios: pd.DataFrame, lam: float) -> dict[str, object]:
    """The ratio at the smallest and largest K for one lambda, and its direction (module docstring)."""
    r = ratios[ratios["lam"] == lam].sort_values("K")
    if len(r) < 2:
        raise ValueError(f"lambda {lam}: the lab has fewer than two K values")
    first, last = r.iloc[0], r.iloc[-1]
    if last["q25"] > first["q75"]:
        direction = "rises"
    elif last["q75"] < first["q25"]:
        direction = "falls"
    else:
        direction = "level"
    return {
        "lam": lam,
        "k_first": int(first["K"]),
        "k_last": int(last["K"]),
        "first": float(first["median"]),
        "last": float(last["median"]),
        "direction": direction,
    }
