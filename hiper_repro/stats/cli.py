"""``hiper-repro stats --merged merged.nc --out DIR``: tidy CSVs and ``numbers.json`` from merged traces.

Writes ``DIR/<table>.csv`` for every table of :func:`hiper_repro.stats.report.compute` and
``DIR/numbers.json`` (flat dotted keys, documented in :mod:`hiper_repro.stats.report`), with the
exact-gradient lab's numbers too when ``--theory theory.nc`` is given. Run it where the training ran:
the model folders the traces name (``model_id``) are read, when present, for the models' names and sizes. The folder
is built beside ``DIR`` and renamed into place, so a crash never leaves half a file, and a reader never sees
new CSVs beside an old ``numbers.json``; ``DIR`` must hold nothing else.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import xarray as xr

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.io import atomic_dir
from hiper_repro.stats.report import Options, compute
from hiper_repro.stats.trend import parse_contrasts
from hiper_repro.traces.merge import open_merged


def owns(name: str) -> bool:
    """Whether ``stats`` writes a file of this name into its folder."""
    return name.endswith(".csv") or name == "numbers.json"


def run(tree: xr.DataTree, out: Path, opts: Options, theory: xr.Dataset | None = None) -> dict:
    """Compute every table and number for ``tree`` (and the lab dataset ``theory``) and write them into
    ``out`` as one folder, replaced whole (``io.atomic_dir``); returns the numbers."""
    with atomic_dir(out, owns=owns) as tmp:  # checks what `out` holds before the long computation
        tables, numbers = compute(tree, opts, theory)
        for name, df in tables.items():
            (tmp / f"{name}.csv").write_text(df.to_csv(index=False))
        text = json.dumps(numbers, indent=1, sort_keys=True, allow_nan=False) + "\n"
        (tmp / "numbers.json").write_text(text)
    return numbers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro stats", description=__doc__.splitlines()[0]
    )
    p.add_argument("--merged", required=True, help="merged traces (hiper-repro aggregate output)")
    p.add_argument("--out", required=True, help="output folder for CSVs and numbers.json")
    p.add_argument("--theory", type=Path, help="exact-gradient lab dataset (hiper-repro theory output)")
    p.add_argument("--reference", default=Options.reference, help="method compared against all others")
    p.add_argument("--k", type=int, default=Options.k, help="last-k evaluations averaged in the last_k score")
    p.add_argument(
        "--threshold",
        type=float,
        default=Options.threshold,
        help="success rate for sample efficiency (paper: 0.8)",
    )
    p.add_argument(
        "--reps", type=int, default=Options.reps, help="bootstrap replicates of run-level statistics"
    )
    p.add_argument(
        "--curve-reps",
        type=int,
        default=Options.curve_reps,
        help="bootstrap replicates per point of the learning and switch-rate curves",
    )
    p.add_argument(
        "--variance-reps",
        type=int,
        default=Options.variance_reps,
        help="hierarchical bootstrap replicates for advantage variance",
    )
    p.add_argument(
        "--contrasts",
        nargs="*",
        default=list(Options.contrasts),
        metavar="A:B",
        help="method pairs whose change difference is reported per cell and fitted over the horizons "
        "(where both ran), besides the reference against every other method",
    )
    p.add_argument("--ci", type=float, default=Options.ci, help="confidence level")
    p.add_argument("--seed", type=int, default=Options.seed, help="seed of every bootstrap")
    a = p.parse_args(argv)
    if min(a.reps, a.curve_reps, a.variance_reps) < 1:
        p.error(
            f"--reps, --curve-reps and --variance-reps must be >= 1, saw {a.reps}, {a.curve_reps} and "
            f"{a.variance_reps}"
        )
    if not 0 < a.ci < 1:
        p.error(f"--ci must be in (0, 1), saw {a.ci}")
    try:
        parse_contrasts(a.contrasts)
    except ValueError as err:
        p.error(f"--contrasts: {err}")
    opts = Options(
        reference=a.reference,
        contrasts=tuple(a.contrasts),
        k=a.k,
        threshold=a.threshold,
        reps=a.reps,
        curve_reps=a.curve_reps,
        variance_reps=a.variance_reps,
        ci=a.ci,
        seed=a.seed,
    )
    if not Path(a.merged).is_file():
        raise ValueError(f"--merged: no such file {a.merged!r}")
    if a.theory is not None and not a.theory.is_file():
        raise ValueError(f"--theory: no such file {str(a.theory)!r}")
    theory = xr.load_dataset(a.theory, engine="h5netcdf") if a.theory is not None else None
    numbers = run(open_merged(a.merged), Path(a.out), opts, theory)
    for name in sorted({k.split(".")[1] for k in numbers if k.startswith("claims.")}):
        print(f"{name}: {numbers[f'claims.{name}.verdict']}")
    return 0
