"""`hiper-repro validate FILE [FILE ...]`: check trace files (runs or merged) against the schema.

Each argument is a ``.nc`` file or a run folder holding ``traces.nc``. Every file is read and checked,
so one bad file does not hide another: every variable is read and its checksum checked, then the schema;
prints ``FILE: ok`` (with a note for a file written without checksums) or ``FILE: N problems`` with one
line per problem, and exits 0 when all are valid, 2 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from hiper_repro.traces.merge import not_traces
from hiper_repro.traces.store import UnreadableTraceFile, read_tree, trace_path
from hiper_repro.traces.validate import is_merged, schema_problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hiper-repro validate", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="trace files (.nc) or run folders holding traces.nc")
    args = parser.parse_args(argv)
    n_bad = 0
    for raw in args.paths:
        file = trace_path(raw)
        notes: list[str] = []
        try:
            tree = read_tree(file, notes)
        except FileNotFoundError:
            problems = [f"{file} does not exist"]
        except UnreadableTraceFile as err:
            problems = [str(err).removeprefix(f"{file}: ")]
        else:
            try:
                not_traces(tree, file)
            except ValueError as err:  # another netCDF file: say what it is, not 20 missing attrs
                problems = [str(err).removeprefix(f"{file} ")]
            else:
                problems = schema_problems(tree)
        if problems:
            n_bad += 1
            print(f"{file}: {len(problems)} problems", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
        else:
            note = "".join(f"; note: {n}" for n in notes)
            print(f"{file}: ok ({'merged' if is_merged(tree) else 'run'}){note}")
    if n_bad:
        print(
            f"hiper-repro validate: {n_bad} of {len(args.paths)} files break the trace schema",
            file=sys.stderr,
        )
        return 2
    return 0
