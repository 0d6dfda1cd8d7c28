"""``hiper-repro tasks``: write one deterministic task split to JSONL."""

from __future__ import annotations

import argparse

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.envs.protocol import ENV_NAMES, SPLITS
from hiper_repro.envs.tasks import make_tasks, save_tasks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro tasks", description=__doc__
    )
    parser.add_argument("--env", required=True, choices=ENV_NAMES)
    parser.add_argument("--horizon", type=int, required=True, help="number of dependent subtasks K")
    parser.add_argument("--split", required=True, choices=SPLITS)
    parser.add_argument("--n", type=int, required=True, help="number of tasks")
    parser.add_argument("--seed", type=int, default=0, help="task seed (not the training seed)")
    parser.add_argument("--out", required=True, help="JSONL file to write (atomically)")
    parser.add_argument("--challenge", default=None, help="textworld only: custom | tw-treasure_hunter | ...")
    parser.add_argument("--cache-dir", default=None, help="textworld only: game cache folder")
    args = parser.parse_args(argv)
    options = {}
    if args.env == "textworld":
        options = {"challenge": args.challenge or "custom", "cache_dir": args.cache_dir}
    elif args.challenge or args.cache_dir:
        parser.error("--challenge and --cache-dir apply to --env textworld only")
    try:
        tasks = make_tasks(args.env, args.horizon, args.split, args.n, args.seed, **options)
    except ValueError as err:
        parser.error(str(err))
    save_tasks(args.out, tasks)
    print(f"wrote {len(tasks)} {args.env} h{args.horizon} {args.split} tasks to {args.out}")
    return 0
