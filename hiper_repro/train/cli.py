"""`hiper-repro train --config FILE --out DIR [--set dotted.key=value ...] [--force] [--restart-stale]`.

Resumes from DIR's latest checkpoint when DIR holds this run, interrupted; refuses, naming the keys or the
input, when DIR holds a run trained under another config or before its inputs changed (`--restart-stale`
deletes that run and starts again, as the Snakemake rule does); keys that leave the trained iterations
as they were (`train.resume.SAFE_KEYS`, e.g. run.iterations) may change on resume with `--force`. A
finished run (DIR/done) is left alone unless `--force`. The model folder and the task files are checked
against the config before any model loads. One process per run folder: `DIR/.lock` is held for the run's
lifetime, and a second `train` into DIR stops at once naming the holder's process id (`train.lock`). Works under `accelerate launch` / `torchrun` (one process per
device); `hiper-repro --threads N` sets the CPU threads of all processes together.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.train.config import load_config, preset_names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro train", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--config", required=True, help=f"YAML config (may start from `preset:` {preset_names()})")
    p.add_argument("--out", required=True, help="run folder; rerunning with the same folder resumes")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. ppo.lr=1e-5"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="train again even if the run folder says done; continue under changed safe keys",
    )
    p.add_argument(
        "--restart-stale",
        action="store_true",
        help="delete a run trained under another config or before its inputs changed, and start again",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from hiper_repro.train.lock import run_lock
    from hiper_repro.train.resume import prepare_run, resume_point
    from hiper_repro.train.setup import check_inputs

    out = Path(args.out)
    rank = int(os.environ.get("RANK", "0"))
    with ExitStack() as held:  # the run folder's lock, held until training ends (train.lock)
        try:
            cfg = load_config(args.config, args.set)
            check_inputs(cfg)
            if rank == 0:  # the other ranks of a distributed launch are the same run
                stale = held.enter_context(run_lock(out))
                if stale is not None:
                    print(f"hiper-repro train: {out}: took over the lock of process {stale}, which has ended")
            state = prepare_run(out, cfg, force=args.force, restart_stale=args.restart_stale, rank=rank)
            if state == "resume":
                resume_point(out, cfg)  # lost traces or metrics stop the run here, before the model loads
        except (ValueError, OSError) as err:
            print(f"hiper-repro train: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        if state == "finished":
            print(f"hiper-repro train: {out} is finished (done marker); nothing to do", file=sys.stderr)
            return 0
        from hiper_repro.train.loop import train

        train(cfg, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
