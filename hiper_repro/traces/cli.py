"""`hiper-repro aggregate --runs DIR [DIR ...] --out merged.nc`: merge per-run traces into one file.

With ``--evaluation-out evaluation.nc`` it also writes the merged root and /evaluation group alone: the
fixed-task evaluations every success statistic is computed from, small enough to ship with a study.

Each DIR is a run directory holding ``traces.nc``, a ``.nc`` file, or a folder searched recursively for
``traces.nc`` (e.g. ``results/quick/runs``). Every run is validated first; all problems are reported together.
Prints one line per run with its storage size per iteration, then the merged file's size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.traces.merge import evaluation_only, open_runs
from hiper_repro.traces.schema import TraceSchemaError
from hiper_repro.traces.store import TRACES_FILE, trace_path, write_tree
from hiper_repro.traces.writer import storage_size


def find_runs(paths: list[str], exclude: Path | None = None) -> list[Path]:
    """Trace files named by `paths` (run dirs, ``.nc`` files, or folders searched for ``traces.nc``),
    without `exclude` (the output: ``results/quick/merged/traces.nc`` lies below ``results/quick/``)."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if trace_path(p).is_file():
            files.append(trace_path(p))
        elif p.is_dir():
            found = sorted(
                f for f in p.rglob(TRACES_FILE) if exclude is None or f.resolve() != exclude.resolve()
            )
            if not found:
                raise FileNotFoundError(f"--runs {raw}: no {TRACES_FILE} in or below this folder")
            files += found
        else:
            raise FileNotFoundError(f"--runs {raw}: neither a trace file nor a folder")
    return files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro aggregate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", nargs="+", required=True, help="run dirs, trace files or folders to search")
    parser.add_argument("--out", required=True, type=Path, help="merged netCDF file to write (atomically)")
    parser.add_argument(
        "--evaluation-out", type=Path, default=None, help="also write the root and /evaluation group here"
    )
    parser.add_argument("--created", default=None, help="UTC ISO time to stamp (default: now)")
    args = parser.parse_args(argv)
    try:
        files = find_runs(args.runs, exclude=args.out)
        merged = open_runs(files, created=args.created)
    except (FileNotFoundError, TraceSchemaError, ValueError) as exc:
        print(f"hiper-repro aggregate: {exc}", file=sys.stderr)
        return 2
    for file in files:
        size = storage_size(file)
        print(
            f"{file}: {size['iterations']:.0f} iterations, {size['bytes'] / 1e6:.2f} MB, "
            f"{size['bytes_per_iteration'] / 1e3:.1f} kB/iteration"
        )
    nbytes = write_tree(merged, args.out)
    print(f"{args.out}: {len(files)} runs, {nbytes / 1e6:.2f} MB")
    if args.evaluation_out is not None:
        nbytes = write_tree(evaluation_only(merged), args.evaluation_out)
        print(f"{args.evaluation_out}: the evaluation group of {len(files)} runs, {nbytes / 1e6:.2f} MB")
    return 0
