"""``hiper-repro tasks``: write one deterministic task split to JSONL.

Generated worlds for every env; for ``--env alfworld`` with ``--data-path DIR``, the official ALFWorld
games under DIR instead (a split folder of the game data, e.g. ``$ALFWORLD_DATA/json_2.1.1/valid_unseen``;
horizon 1, the first ``--n`` solvable games in path order).
"""

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
    parser.add_argument(
        "--data-path",
        default=None,
        help="alfworld only: folder of official games (default: generated worlds)",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    options = {}
    if args.env == "textworld":
        options = {"challenge": args.challenge or "custom", "cache_dir": args.cache_dir}
    elif args.challenge or args.cache_dir:
        parser.error("--challenge and --cache-dir apply to --env textworld only")
    if args.data_path is not None and args.env != "alfworld":
        parser.error("--data-path applies to --env alfworld only")
    try:
        if args.data_path is not None:
            from hiper_repro.envs.alfworld_env import check_horizon, official_tasks

            check_horizon(args.horizon)
            tasks = official_tasks(args.data_path, args.split, args.n)
            if len(tasks) < args.n:
                raise ValueError(
                    f"--data-path {args.data_path}: {len(tasks)} solvable games, not --n {args.n}"
                )
        else:
            tasks = make_tasks(args.env, args.horizon, args.split, args.n, args.seed, **options)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    save_tasks(args.out, tasks)
    print(f"wrote {len(tasks)} {args.env} h{args.horizon} {args.split} tasks to {args.out}")
    return 0
