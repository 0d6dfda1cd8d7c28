"""Numbers of the exact-gradient lab (``hiper-repro theory``'s dataset) that the paper quotes.

The lab measures each gradient estimator's variance on tabular hierarchical MDPs with K subtasks. Per
replicate MDP the ratio of two estimators' variances is paired (same episodes)::

    ratio[K, lam, replicate] = variance[hae] / variance[gae]      at gamma = max, critic noise = min

summarised over replicates by its median and interquartile range. :func:`horizon_trend` says how the
ratio moves from the smallest to the largest K: ``rises`` when the largest K's lower quartile lies above
the smallest K's upper quartile, ``falls`` in the mirror case, ``level`` when the ranges overlap. A ratio
that rises towards 1 means HAE's variance advantage over flat GAE shrinks as the horizon grows.

The crossover (with the lab's critic-quality sweep, ``theory.lab``): the error of a mean gradient over a
batch of n episodes is its squared bias plus its variance over n,

    error = bias_sq + variance / n        (n = ``BATCH``, the studies' episodes per update)

and, per replicate, ratio = error[HAE] / error[flat GAE] (paired: same episodes and critic). Along the
sweep the critic's explained variance (measured as the runs measure theirs) falls; :func:`lab_crossover`
gives per (lam_boundary, K, level) the medians over replicates, and :func:`crossover_points` the
explained variance at which the median ratio crosses 1 (log ratio linear in the explained variance between
adjacent levels): status ``crosses``, above it HAE's gradient is the more accurate, below it flat GAE's
(``reversed``: the other way round); ``hae_better_throughout`` and ``gae_better_throughout`` say the
sweep never crossed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

# Episodes per policy update whose mean gradient the crossover's error is of: the quick and horizons
# studies' rollout.episodes (24).
BATCH = 24


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


def lab_crossover(ds: xr.Dataset, batch: int = BATCH, head: str = "low") -> pd.DataFrame:
    """Per (lam_boundary, K, critic_ev): the measured explained variance of value head ``head`` and the
    HAE / flat GAE error ratio, medians (ratio also q25, q75) over replicates (module docstring)."""
    missing = {"sweep_bias_sq", "sweep_variance", "sweep_explained_variance"} - set(ds.data_vars)
    if missing:
        raise ValueError(
            f"the lab dataset has no critic-quality sweep (Grid.critic_ev): missing {sorted(missing)}"
        )
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if head not in ds["head"].values:
        raise ValueError(f"head must be one of {list(ds['head'].values)}, got {head!r}")
    error = ds["sweep_bias_sq"] + ds["sweep_variance"] / batch
    ratio = error.sel(sweep_estimator="hae") / error.sel(sweep_estimator="gae")
    ev = ds["sweep_explained_variance"].sel(head=head)
    q = ratio.quantile([0.25, 0.5, 0.75], dim="replicate")
    rows = []
    for lb in ds["lam_boundary"].values:
        for k in ds["K"].values:
            for c in ds["critic_ev"].values:
                at = {"lam_boundary": lb, "K": k, "critic_ev": c}
                rows.append(
                    {
                        "lam_boundary": float(lb),
                        "K": int(k),
                        "critic_ev": float(c),
                        "explained_variance": float(ev.sel(K=k, critic_ev=c).median("replicate")),
                        "error_hae": float(error.sel(at | {"sweep_estimator": "hae"}).median("replicate")),
                        "error_gae": float(error.sel(at | {"sweep_estimator": "gae"}).median("replicate")),
                        "ratio": float(q.sel(at | {"quantile": 0.5})),
                        "ratio_q25": float(q.sel(at | {"quantile": 0.25})),
                        "ratio_q75": float(q.sel(at | {"quantile": 0.75})),
                        "batch": batch,
                        "head": head,
                    }
                )
    return pd.DataFrame(rows)


def crossover_points(table: pd.DataFrame) -> pd.DataFrame:
    """Per (lam_boundary, K): the explained variance where the median ratio first crosses 1 going from the
    best critic to the worst (log ratio linear in the explained variance between the two levels around
    it), the status (module docstring), and the sweep's measured range ev_low..ev_high."""
    rows = []
    for (lb, k), g in table.groupby(["lam_boundary", "K"], sort=True):
        g = g.sort_values("explained_variance", ascending=False)
        ev, ratio = g["explained_variance"].to_numpy(), g["ratio"].to_numpy()
        above = ratio > 1.0
        crossing = np.nan
        if above.all():
            status = "gae_better_throughout"
        elif not above.any():
            status = "hae_better_throughout"
        else:
            # crosses: HAE better with the best critic, GAE from some level down (the expected pattern);
            # reversed: the other way round. The first change of sign from the best critic is reported.
            status = "reversed" if above[0] else "crosses"
            i = int(np.argmax(above != above[0]))
            x0, x1, y0, y1 = ev[i - 1], ev[i], np.log(ratio[i - 1]), np.log(ratio[i])
            crossing = float(x0 + (x1 - x0) * (0.0 - y0) / (y1 - y0))
        rows.append(
            {
                "lam_boundary": float(lb),
                "K": int(k),
                "crossover_ev": crossing,
                "status": status,
                "ev_low": float(ev.min()),
                "ev_high": float(ev.max()),
            }
        )
    return pd.DataFrame(rows)
