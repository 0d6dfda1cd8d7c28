"""`hiper-repro theory --out DIR [--grid quick|horizons|full] [--seed 0]`: run the lab, write DIR/theory.nc.

Prints, per K, the variance ratio HAE / flat GAE over the grid's other cells (lambda, gamma, critic
noise, replicates): median, interquartile range and range; with the grid's critic-quality sweep, per
lam_boundary and K, the median gradient-error ratio HAE / flat GAE (squared bias + variance over 24
episodes) at each level, beside the critic's measured explained variance (V_low).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from hiper_repro.cli_help import DefaultsFormatter


def _parser() -> argparse.ArgumentParser:
    from hiper_repro.theory.lab import GRIDS

    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro theory", description=__doc__.splitlines()[0]
    )
    p.add_argument("--out", required=True, type=Path, help="output folder; the dataset goes to OUT/theory.nc")
    p.add_argument("--grid", default="quick", choices=sorted(GRIDS), help="which grid (default: quick)")
    p.add_argument("--seed", default=0, type=int, help="base seed of MDPs, policies, episodes, critic noise")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def ratio_summary(ds) -> list[str]:
    """One line per K: HAE / flat GAE variance ratio, median [IQR] (min-max) over all other cells."""
    from hiper_repro.theory.lab import variance_ratio

    ratio = variance_ratio(ds)
    lines = []
    for k in ratio["K"].values:
        x = ratio.sel(K=k).values.ravel()
        x = x[np.isfinite(x)]
        q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
        lines.append(
            f"K={int(k)}: var(HAE)/var(GAE) median {med:.3f} IQR [{q1:.3f}, {q3:.3f}] "
            f"range [{x.min():.3f}, {x.max():.3f}] over {x.size} cells"
        )
    return lines


def sweep_summary(ds, batch: int = 24) -> list[str]:
    """One line per (lam_boundary, K): median error ratio HAE / GAE and measured EV at each sweep level."""
    if "sweep_bias_sq" not in ds:
        return []
    error = ds["sweep_bias_sq"] + ds["sweep_variance"] / batch
    ratio = (error.sel(sweep_estimator="hae") / error.sel(sweep_estimator="gae")).median("replicate")
    ev = ds["sweep_explained_variance"].sel(head="low").median("replicate")
    lines = []
    for lb in ds["lam_boundary"].values:
        for k in ds["K"].values:
            cells = ", ".join(
                f"EV {float(ev.sel(K=k, critic_ev=c)):+.2f}: {float(ratio.sel(lam_boundary=lb, K=k, critic_ev=c)):.2f}"
                for c in ds["critic_ev"].values
            )
            lines.append(f"lam_boundary={lb:g} K={int(k)}: error(HAE)/error(GAE) by critic EV: {cells}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hiper_repro.theory.lab import GRIDS, run_grid, write_dataset

    start = time.perf_counter()
    log = None if args.quiet else (lambda msg: print(f"theory: {msg}", file=sys.stderr, flush=True))
    ds = run_grid(GRIDS[args.grid], seed=args.seed, progress=log)
    path = write_dataset(ds, args.out / "theory.nc")
    print(f"wrote {path} ({args.grid} grid, seed {args.seed}) in {time.perf_counter() - start:.1f} s")
    for line in ratio_summary(ds) + sweep_summary(ds):
        print(line)
    return 0
