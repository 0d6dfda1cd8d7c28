"""``hiper-repro import-verl LOG [LOG ...] --out DIR [--method M --seed S --env E --model NAME]``.

Reads veRL console logs (plain or .gz) with :func:`~hiper_repro.external.verl.read_verl_log` and writes one
netCDF per log, ``DIR/<run>.nc``, and the merged dataset ``DIR/merged.nc`` (dim ``run``, see
:mod:`hiper_repro.external.runs`). The options supply metadata that logs without a command line lack; they
apply to every log given and win over what a log says. Every log is read before anything is written: one
unreadable log stops the command with one line per problem, and no file is written. DIR is built beside
its final place and renamed into it, so it never mixes runs of two imports (it must hold only .nc files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.external.runs import merge_verl_runs, run_name, save_runs
from hiper_repro.external.verl import VerlLogError, read_verl_log
from hiper_repro.io import atomic_dir

SHOWN = 20  # dropped entries named on the import's line; the rest are in the run's ``dropped`` attribute


def dropped_text(ds) -> str:
    """Every metric value the import dropped, grouped by entry and reason: ``val/success_rate at step 5
    (a rate outside [0, 1] (1.5))``; after :data:`SHOWN` groups, how many more and where they are listed."""
    groups: dict[tuple[str, str], list[int]] = {}
    for step, entry, why in json.loads(ds.attrs.get("dropped", "[]")):
        groups.setdefault((entry, why.split(" (")[0] if why.startswith("a rate") else why), []).append(step)
    parts = []
    for (entry, why), steps in groups.items():
        where = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)} steps {steps[0]}-{steps[-1]}"
        parts.append(f"{entry!r} at {where} ({why})")
    more = len(parts) - SHOWN
    text = "; ".join(parts[:SHOWN])
    return text + (f"; and {more} more (attribute 'dropped' of the run's .nc)" if more > 0 else "")


def describe(ds) -> str:
    """One line per imported log: what it is, the values it lost and which."""
    a = ds.attrs
    steps = ds["step"].values
    n_val = int(ds["val/success_rate"].notnull().sum()) if "val/success_rate" in ds else 0
    damage = [f"{a[k]} {k.removeprefix('n_').replace('_', ' ')}" for k in ("n_repeated_steps",
              "n_bad_bytes") if a.get(k)]  # fmt: skip
    if a.get("truncated"):
        damage.append(f"TRUNCATED: the text stops after step {steps.max()}, later steps are missing")
    if a.get("n_skipped"):
        damage.append(f"{a['n_skipped']} values dropped: {dropped_text(ds)}")
    estimator = a["adv_estimator"] or "estimator not logged"
    return (
        f"{a['source']}: method={a['method']} ({estimator}) env={a['env']} seed={a['seed']} "
        f"steps {steps.min()}-{steps.max()} ({a['n_step_lines']} step records, {n_val} validations, "
        f"{len(ds.data_vars)} metrics)" + (f"; {', '.join(damage)}" if damage else "")
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro import-verl", description=__doc__.splitlines()[0]
    )
    p.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="veRL console logs, plain or gzip")
    p.add_argument("--out", required=True, type=Path, help="folder for <run>.nc and merged.nc")
    p.add_argument("--method", help="method of every log (default: from algorithm.adv_estimator)")
    p.add_argument("--seed", type=int, help="seed of every log (default: env.seed)")
    p.add_argument("--env", help="environment of every log (default: from env.env_name)")
    p.add_argument("--model", help="model of every log (default: actor_rollout_ref.model.path)")
    p.add_argument("--val-episodes", type=int, help="episodes per validation (default: data.val_batch_size)")
    a = p.parse_args(argv)
    meta = {
        "method": a.method,
        "seed": a.seed,
        "env": a.env,
        "model": a.model,
        "val_episodes": a.val_episodes,
    }
    datasets, problems = [], []
    for log in a.logs:
        try:
            datasets.append(read_verl_log(log, **{k: v for k, v in meta.items() if v is not None}))
        except VerlLogError as err:
            problems.append(str(err))
    if not problems:
        try:
            merged = merge_verl_runs(datasets)
        except ValueError as err:
            problems.append(str(err))
    if problems:
        for line in problems:
            print(f"hiper-repro import-verl: {line}", file=sys.stderr)
        return 2  # bad input, as every hiper-repro command
    for ds in datasets:
        print(f"import-verl: {describe(ds)}")
    with atomic_dir(a.out, owns=lambda name: name.endswith(".nc")) as tmp:  # replaced whole, never mixed
        for ds in datasets:
            save_runs(ds, tmp / f"{run_name(ds.attrs['source'])}.nc")
        save_runs(merged, tmp / "merged.nc")
    print(f"import-verl: wrote {len(datasets)} runs and {a.out / 'merged.nc'}")
    return 0
