"""The `hiper-repro` command: a table of subcommands, each owned by the module that implements it.

Every module named here has `main(argv: list[str]) -> int` with its own argparse; it is imported only
when its subcommand runs, so `hiper-repro theory` never pays for loading transformers.
"""

from __future__ import annotations

import importlib
import os
import sys

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
    "bench": ("hiper_repro.bench", "benchmarks: credit, envs, rollout, train"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: hiper-repro COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`hiper-repro COMMAND --help` describes each command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hiper-repro: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
