"""`hiper-repro train --config FILE --out DIR [--set dotted.key=value ...] [--threads N]`.

Resumes from DIR's latest checkpoint when there is one; a finished run (DIR/done) is left alone unless
`--force`. Works under `accelerate launch` / `torchrun` (one process per device).
"""

from __future__ import annotations

import argparse
import os
import sys
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
    p.add_argument("--force", action="store_true", help="train again even if the run folder says done")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per process (default: torch's, i.e. $OMP_NUM_THREADS or every core); "
        "give 1 when several runs share a small machine, or they oversubscribe it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        cfg = load_config(args.config, args.set)
    except (ValueError, OSError) as err:
        print(f"hiper-repro train: {err}", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print(f"hiper-repro train: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if (out / "done").is_file() and not args.force:
        print(f"hiper-repro train: {out} is finished (done marker); nothing to do", file=sys.stderr)
        return 0
    import torch

    from hiper_repro.train.loop import train

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    train(cfg, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
