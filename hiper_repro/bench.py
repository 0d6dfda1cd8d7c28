"""`hiper-repro bench TARGET`: dispatch to the benchmark that each part owns.

Each target module has `main(argv) -> int` and is imported only when asked for, so `bench credit`
never loads transformers.
"""

from __future__ import annotations

import importlib
import sys

TARGETS: dict[str, tuple[str, str]] = {
    "credit": ("hiper_repro.credit.bench", "gae and hae, vectorised vs a per-episode Python loop"),
    "envs": ("hiper_repro.envs.bench", "environment steps per second"),
    "rollout": ("hiper_repro.agent.bench", "rollout throughput"),
    "train": ("hiper_repro.train.bench", "training iteration time"),
    "threads": ("hiper_repro.threads_bench", "default thread count vs one thread beside a busy process"),
}


def _usage() -> str:
    lines = ["usage: hiper-repro bench TARGET [options]", "", "targets:"]
    lines += [f"  {name:<8}  {help_}" for name, (_, help_) in TARGETS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in TARGETS:
        print(f"hiper-repro bench: unknown target {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = TARGETS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:  # a dependency inside the module is missing: let it surface
            raise
        print(
            f"hiper-repro bench: target {name!r} needs {module_name}, which is not installed", file=sys.stderr
        )
        return 2
    return int(module.main(rest) or 0)
