"""The `hiper-repro` command: a table of subcommands, each owned by the module that implements it.

Every module named here has `main(argv: list[str]) -> int` with its own argparse; it is imported only
when its subcommand runs, so `hiper-repro theory` never pays for loading transformers.

`hiper-repro --version` prints the installed version and the checkout's commit. Two options belong to every
command and may stand anywhere on the line:

- ``--threads N``: CPU threads (see `hiper_repro.threads` for the default). They are set here, before
  the command's module imports numpy or torch, which read the count once when they load.
- ``--debug``: show the traceback of an error. Without it an error is one line on stderr naming the file,
  key or value: exit code 2 for bad input (a wrong value, a missing or unreadable file, a missing extra),
  1 for anything else (a bug: rerun with --debug and report it).
"""

from __future__ import annotations

import importlib
import os
import sys

from hiper_repro.io import is_disk_full
from hiper_repro.threads import apply_threads, configure_threads

# Never let a hub lookup stall a run: this package works offline by design.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

COMMANDS: dict[str, tuple[str, str]] = {
    "tasks": ("hiper_repro.envs.cli", "write a deterministic task split to JSONL"),
    "model": ("hiper_repro.agent.cli_model", "build a base model and tokenizer"),
    "warmstart": ("hiper_repro.agent.warmstart", "supervised warm start on expert demonstrations"),
    "evaluate": ("hiper_repro.agent.evaluate", "evaluate a policy on a fixed task split"),
    "train": ("hiper_repro.train.cli", "train one run (resumes from its latest checkpoint)"),
    "theory": ("hiper_repro.theory.cli", "exact-gradient lab: bias and variance of estimators"),
    "aggregate": ("hiper_repro.traces.cli", "merge per-run traces into one dataset"),
    "validate": ("hiper_repro.traces.cli_validate", "check trace files against the schema"),
    "stats": ("hiper_repro.stats.cli", "statistical comparisons from merged traces"),
    "figures": ("hiper_repro.figures.cli", "draw every figure and table"),
    "paper": ("hiper_repro.paper", "fill the manuscript from pipeline outputs"),
    "import-verl": (
        "hiper_repro.external.cli",
        "read veRL training logs into netCDF runs and a merged dataset",
    ),
    "analyse-verl": (
        "hiper_repro.external.report",
        "the HiPER authors' runs re-analysed: claims, tables, figures",
    ),
    "bench": ("hiper_repro.bench", "benchmarks: credit, envs, rollout, train, threads"),
}

# Errors that mean the input was wrong, not the code: exit code 2. ImportError is a missing optional
# extra, whose message says what to install.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, ImportError)


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: hiper-repro [--version] [--threads N] [--debug] COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += [
        "",
        "`hiper-repro COMMAND --help` describes each command's options.",
        "--threads N: CPU threads (default: OMP_NUM_THREADS, else the idle cores); --debug: tracebacks.",
    ]
    return "\n".join(lines)


def version() -> str:
    """`hiper-repro VERSION (commit SHA)`: the installed version and the checkout's commit, as traces
    record them (`git_commit`: "-dirty" when tracked files changed, "unknown" outside a git checkout)."""
    from hiper_repro.traces.provenance import git_commit, package_version

    return f"hiper-repro {package_version()} (commit {git_commit()})"


def split_global_options(argv: list[str]) -> tuple[int | None, bool, list[str]]:
    """Take ``--threads N`` / ``--threads=N`` and ``--debug`` out of ``argv``, wherever they stand."""
    threads, debug, rest = None, False, []
    items = iter(argv)
    for item in items:
        if item == "--debug":
            debug = True
        elif item == "--threads" or item.startswith("--threads="):
            raw = item.partition("=")[2] if "=" in item else next(items, "")
            if not raw.strip().isdigit():
                raise ValueError(f"--threads expects a whole number >= 1, got {raw!r}")
            threads = int(raw)
        else:
            rest.append(item)
    return threads, debug, rest


def one_line(error: BaseException) -> str:
    """An error as one line: its message with layout whitespace collapsed (type name if it has none).

    An error that lists several problems (a `TraceSchemaError`: one per bad file or variable) keeps
    one line per problem, so no problem hides another."""
    problems = getattr(error, "problems", None)
    if isinstance(problems, list) and problems:
        head = str(error).splitlines()[0]
        return "\n".join([head, *(f"  - {' '.join(str(p).split())}" for p in problems)])
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        threads, debug, argv = split_global_options(argv)
        n_threads, _ = configure_threads(threads)
    except ValueError as err:
        print(f"hiper-repro: {err}", file=sys.stderr)
        return 2
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(version())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hiper-repro: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
        apply_threads(n_threads)  # torch is loaded now: size its pool as well
        return int(module.main(rest) or 0)
    except Exception as err:
        if debug:
            raise
        if isinstance(err, INPUT_ERRORS) or is_disk_full(err):  # a full disk, however a library words it
            print(f"hiper-repro {name}: {one_line(err)}", file=sys.stderr)
            return 2
        print(
            f"hiper-repro {name}: internal error {type(err).__name__}: {one_line(err)} "
            "(rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
