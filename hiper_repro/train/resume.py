"""Whether a run folder may be continued, and from where: a resumed run never mixes two runs.

A run folder (see `loop.py`) holds `config.yaml` (the resolved config of its last start), `run.json` (its
starts), `checkpoints/iter_NNNNNN/`, `traces.nc`, `metrics.csv` and, once finished, `done`. Two questions:

`prepare_run`, asked by `hiper-repro train` before anything heavy loads: is the folder's run this run?
  - trained under another config (any key but `SAFE_KEYS`), or before one of its inputs (the starting
    model, the task files) last changed: stale. It is refused with one line naming the keys or the input;
    with `restart_stale` (the Snakemake rule passes it) the folder's run files are removed and training
    starts again at iteration 0, so only a genuinely interrupted run is resumed;
  - changed only in `SAFE_KEYS` (how long to train, how often to checkpoint, the progress bar): continued
    with `force`, the change recorded in `run.json`; refused without it; with `restart_stale` any change
    makes the run stale (a pipeline run is always exactly its config);
  - finished (`done`) under the same config: nothing to do, unless `force`.
`resume_point`, asked by the loop (read-only but for pruning, which only the main process does): which
  checkpoint? The newest one whose iterations `traces.nc` and `metrics.csv` both still hold: a checkpoint
  past a deleted or truncated trace file would continue a run whose early iterations are gone. When none
  qualifies, `ResumeError` says what is lost and how to start again.

Under a distributed launch every process asks both; only rank 0 deletes anything. The answers do not
change when rank 0 deletes first (an emptied folder is a fresh run; a pruned checkpoint was not chosen).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from hiper_repro.io import write_atomic
from hiper_repro.train.config import TrainConfig
from hiper_repro.yamlfile import safe_load

# Keys whose change leaves every iteration already trained as it was: a run may continue under them.
SAFE_KEYS: tuple[str, ...] = (
    "run.iterations",
    "run.progress",
    "run.keep_checkpoints",
    "run.checkpoint_every",
    "run.trackers",
)
# What a run writes into its folder; a stale run's are removed, nothing else is touched.
RUN_ENTRIES: tuple[str, ...] = (
    "done",
    "policy",
    "checkpoints",
    "traces.nc",
    "metrics.csv",
    "tensorboard",
    "wandb",
    "train.log",
    "run.json",
    "config.yaml",
)


class ResumeError(ValueError):
    """The run folder holds a run this one must not continue, or one whose records are lost."""


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"ppo": {"lr": 1e-6}}`` -> ``{"ppo.lr": 1e-6}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


MISSING = "<absent>"


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose value differs between two resolved configs: key -> (old, new)."""
    a, b = flatten(old), flatten(new)
    return {
        k: (a.get(k, MISSING), b.get(k, MISSING))
        for k in sorted(a.keys() | b.keys())
        if a.get(k, MISSING) != b.get(k, MISSING)
    }


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())


def run_inputs(cfg: TrainConfig) -> list[Path]:
    """Files and folders the run's results depend on: the starting model and the task files."""
    from hiper_repro.train.setup import model_path

    paths = [Path(model_path(cfg))]
    paths += [Path(p) for p in (cfg.env.train_tasks, cfg.env.eval_tasks) if p]
    return paths


def newest_input(paths: list[Path]) -> tuple[float, Path]:
    """The latest modification time among `paths` and, for folders, the entries directly inside them."""
    times = []
    for path in paths:
        times.append((path.stat().st_mtime, path))
        if path.is_dir():
            times += [(child.stat().st_mtime, child) for child in path.iterdir()]
    return max(times)


def run_started(out: Path) -> float:
    """When the run in `out` first started: run.json's first start, else config.yaml's time."""
    try:
        return float(json.loads((out / "run.json").read_text())["starts"][0]["time"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return (out / "config.yaml").stat().st_mtime


def checkpoint_iterations(out: Path) -> list[tuple[int, Path]]:
    """(iteration, folder) of the complete checkpoints in `out`, oldest first."""
    from hiper_repro.train.checkpoint import CKPT_RE, list_checkpoints

    return [(int(CKPT_RE.match(p.name)[1]), p) for p in list_checkpoints(out / "checkpoints")]


def remove_run(out: Path) -> None:
    """Delete what a run wrote into `out` (`RUN_ENTRIES`); anything else in the folder is kept."""
    for name in RUN_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _saved_config(out: Path) -> dict[str, Any]:
    """The resolved config the run in `out` last started with (`config.yaml`); ResumeError if unreadable."""
    try:
        data = safe_load((out / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ResumeError(f"whose config.yaml cannot be read ({type(err).__name__})") from None
    return data if isinstance(data, dict) else {}


def unsafe(changes: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """The changes outside `SAFE_KEYS`."""
    return {k: v for k, v in changes.items() if k not in SAFE_KEYS}


def _stale_reason(out: Path, cfg: TrainConfig, changes: dict[str, tuple[Any, Any]]) -> str | None:
    """Why the run in `out` is not this one: `changes` (those that count), or an input newer than it."""
    if changes:
        return f"trained under another config ({describe_changes(changes)})"
    inputs = [p for p in run_inputs(cfg) if p.exists()]
    if inputs:
        mtime, newest = newest_input(inputs)
        if mtime > run_started(out):
            return f"{newest} changed after the run started"
    return None


def prepare_run(out: Path, cfg: TrainConfig, *, force: bool, restart_stale: bool, rank: int = 0) -> str:
    """Decide what `hiper-repro train` does with the folder `out`; returns "fresh", "resume" or "finished".

    Raises `ResumeError` (one line) when the folder's run must not be continued; see the module docstring.
    """
    out = Path(out)
    checkpoints = checkpoint_iterations(out)
    if not checkpoints:
        return "fresh"  # nothing trained to mix with: the loop overwrites what a first start wrote
    try:
        changes = config_changes(_saved_config(out), cfg.to_dict())
        # the pipeline (restart_stale) keeps a run only under exactly its config, as it always did
        stale = _stale_reason(out, cfg, changes if restart_stale else unsafe(changes))
    except ResumeError as err:
        changes, stale = {}, str(err)
    if stale is not None:
        if restart_stale:
            if rank == 0:
                remove_run(out)
            print(f"hiper-repro train: {out}: {stale}; removed that run, training from iteration 0")
            return "fresh"
        raise ResumeError(
            f"{out} holds a run {stale}: continue it unchanged, train into another --out, or pass "
            "--restart-stale to delete that run and start again"
        )
    trained = checkpoints[-1][0] + 1
    if changes:
        if not force:
            raise ResumeError(
                f"{out}: resuming with changed {describe_changes(changes)}; these keys are safe to change "
                "on resume: pass --force to continue under them"
            )
        if cfg.run.iterations < trained:
            raise ResumeError(
                f"{out}: run.iterations={cfg.run.iterations} but the run has trained {trained} iterations "
                "already: a shorter run needs another --out"
            )
        if rank == 0:
            _record_changes(out, changes, trained)
        return "resume"
    if (out / "done").is_file() and not force:
        return "finished"
    return "resume"


def _record_changes(out: Path, changes: dict[str, tuple[Any, Any]], trained: int) -> None:
    """Note the forced change in run.json; drop `done` (the run is unfinished again until it ends)."""
    run_json = out / "run.json"
    try:
        info = json.loads(run_json.read_text())
    except (OSError, ValueError):
        info = {}
    entry = {
        "time": time.time(),
        "after_iteration": trained - 1,
        "changes": {k: list(v) for k, v in changes.items()},
    }
    info.setdefault("config_changes", []).append(entry)
    write_atomic(run_json, json.dumps(info, indent=1))
    (out / "done").unlink(missing_ok=True)


def _stored_iterations(out: Path) -> set[int]:
    """Iterations `traces.nc` holds; ResumeError naming the file when it is missing or unreadable."""
    from hiper_repro.traces.store import UnreadableTraceFile, read_tree

    try:
        tree = read_tree(out / "traces.nc")
    except FileNotFoundError:
        raise ResumeError(f"{out}/traces.nc is missing") from None
    except UnreadableTraceFile as err:
        raise ResumeError(str(err)) from None
    return {int(i) for i in tree["episodes"]["iteration"].values}


def _logged_iterations(out: Path) -> set[int]:
    """Iterations `metrics.csv` holds a row for (none when it is missing or unreadable)."""
    try:
        with (out / "metrics.csv").open(newline="") as fh:
            return {int(row["iteration"]) for row in csv.DictReader(fh)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def resume_point(out: Path, cfg: TrainConfig, prune: bool = False) -> Path | None:
    """The checkpoint to resume from (None: start at iteration 0): the newest one whose iterations the
    traces (every `run.trace_every`-th) and the metrics all hold. With `prune`, later checkpoints are
    deleted (their iterations are trained again). ResumeError when checkpoints exist but none qualifies."""
    out = Path(out)
    checkpoints = checkpoint_iterations(out)
    if not checkpoints:
        return None
    try:
        stale = _stale_reason(out, cfg, unsafe(config_changes(_saved_config(out), cfg.to_dict())))
    except ResumeError as err:
        stale = str(err)
    if stale is not None:  # `hiper-repro train` has refused or removed it; a direct caller must not mix runs
        raise ResumeError(f"{out} holds a run {stale}: train into another folder or remove it")
    last = checkpoints[-1][0]
    restart = (
        "checkpoints hold weights, not episodes, so those iterations cannot be rebuilt: to train the run "
        f"again from iteration 0, remove {out} and rerun"
    )
    try:
        stored = _stored_iterations(out)
    except ResumeError as err:
        raise ResumeError(
            f"{err}, but checkpoints reach iteration {last}: the traces of iterations 0-{last} are lost; {restart}"
        ) from None
    logged = _logged_iterations(out)
    for i, (iteration, folder) in reversed(list(enumerate(checkpoints))):
        kept = {it for it in range(iteration + 1) if it % cfg.run.trace_every == 0}
        if kept <= stored and set(range(iteration + 1)) <= logged:
            if prune:
                for _, later in checkpoints[i + 1 :]:
                    shutil.rmtree(later, ignore_errors=True)
            return folder
    first = checkpoints[0][0]
    lost_traces = sorted({it for it in range(first + 1) if it % cfg.run.trace_every == 0} - stored)
    lost_rows = sorted(set(range(first + 1)) - logged)
    lost = []
    if lost_traces:
        lost.append(f"traces.nc lacks iterations {_span(lost_traces)}")
    if lost_rows:
        lost.append(f"metrics.csv lacks iterations {_span(lost_rows)}")
    raise ResumeError(
        f"{out}: {' and '.join(lost)}, which even the oldest checkpoint (iteration {first}) has trained: those records are lost; {restart}"
    )


def _span(values: list[int]) -> str:
    return f"{values[0]}-{values[-1]}" if len(values) > 1 else str(values[0])
