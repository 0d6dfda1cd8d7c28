"""`TraceWriter`: a run's traces, collected per iteration and written as one netCDF file replaced atomically.

Usage in a training loop::

    writer = TraceWriter(run_dir, make_provenance(...), keep_every=1)      # or TraceWriter.resume(...)
    for it in range(start, iterations):
        ...
        writer.add_iteration(it, turns={...}, segments={...}, episodes={...})
        if (it + 1) % eval_every == 0:
            writer.add_evaluation(it + 1, {...})                           # labelled by updates completed
        writer.flush()                                                     # DIR/traces.nc, atomic

Resuming after a crash: `TraceWriter.resume(run_dir, upto_iteration=checkpoint_iteration)` drops every
iteration after the checkpoint (and every evaluation played after a later update), so that replaying from the checkpoint gives the same
final file as an uninterrupted run. Records are canonicalised on entry (`convert.check_record`), which
makes the file independent of the caller's padding and of where the run was interrupted.

Memory and time: the writer keeps every stored iteration in memory and rewrites the file on each flush.
At 128 episodes x 50 turns a stored iteration holds about 0.5 MB in memory; `keep_every` bounds both for
long runs (iterations not divisible by it are checked, then dropped; evaluations are always kept).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import xarray as xr

from hiper_repro.traces.convert import (
    Record,
    check_record,
    normalise_attrs,
    run_tree,
    stack_group,
    unstack_group,
)
from hiper_repro.traces.schema import EVALUATION_GROUPS
from hiper_repro.traces.store import read_tree, trace_path, write_tree


class TraceWriter:
    """Collects one run's traces and writes ``DIR/traces.nc`` (or the given ``.nc`` path) on `flush`.

    `attrs` are the root attrs from `make_provenance`; `keep_every` is stamped on them. A new writer
    refuses to replace an existing file unless `overwrite=True`: resuming runs use `resume`.
    `path=None` keeps the traces in memory only (`tree()`), as synthetic data does.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        attrs: Mapping[str, Any],
        keep_every: int = 1,
        *,
        overwrite: bool = False,
    ) -> None:
        if isinstance(keep_every, bool) or not isinstance(keep_every, int) or keep_every < 1:
            raise ValueError(f"keep_every must be an int >= 1, got {keep_every!r}")
        self.path = None if path is None else trace_path(path)
        if self.path is not None and self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists: use TraceWriter.resume(...) or overwrite=True")
        self.attrs = normalise_attrs(dict(attrs) | {"keep_every": keep_every})
        self.keep_every = keep_every
        self._iterations: list[int] = []
        self._records: dict[str, list[Record]] = {g: [] for g in ("turns", "segments", "episodes")}
        # per evaluation group: the updates completed at each evaluation (0: the start) and their records
        self._evals: dict[str, tuple[list[int], list[Record]]] = {g: ([], []) for g in EVALUATION_GROUPS}
        self._diag_iterations: list[int] = []
        self._diag_records: list[Record] = []
        self._last_iteration = -1  # last iteration added, stored or not
        self.last_flush_bytes: int | None = None

    @classmethod
    def resume(cls, path: str | os.PathLike, upto_iteration: int, keep_every: int = 1) -> TraceWriter:
        """Reopen a run's traces, keeping iterations <= `upto_iteration` (the checkpoint's) and the evaluations
        played by then (eval_iteration, the updates completed, <= `upto_iteration` + 1).

        The file's attrs (provenance of the original start) are kept; `keep_every` must match them.
        """
        if isinstance(upto_iteration, bool) or not isinstance(upto_iteration, int) or upto_iteration < -1:
            raise ValueError(f"upto_iteration must be an int >= -1, got {upto_iteration!r}")
        file = trace_path(path)
        tree = read_tree(file)
        stored = tree.attrs.get("keep_every")
        if stored != keep_every:
            raise ValueError(
                f"resume: keep_every={keep_every} but {file} was written with keep_every={stored}"
            )
        writer = cls(file, tree.attrs, keep_every, overwrite=True)
        episodes = tree["episodes"].to_dataset().sel(iteration=slice(None, upto_iteration))
        iterations, ep_records = unstack_group("episodes", episodes)
        n_rows = [len(r["task_id"]) for r in ep_records]
        writer._iterations = iterations
        writer._records["episodes"] = ep_records
        for group in ("turns", "segments"):
            ds = tree[group].to_dataset().sel(iteration=slice(None, upto_iteration))
            writer._records[group] = unstack_group(group, ds, n_rows)[1]
        for group in EVALUATION_GROUPS:
            ds = tree[group].to_dataset().sel(eval_iteration=slice(None, upto_iteration + 1))
            writer._evals[group] = unstack_group(group, ds)
        diagnostics = tree["iterations"].to_dataset().sel(iteration=slice(None, upto_iteration))
        writer._diag_iterations, writer._diag_records = unstack_group("iterations", diagnostics)
        writer._last_iteration = upto_iteration
        return writer

    @property
    def iterations(self) -> list[int]:
        """Iterations stored so far (after `keep_every`)."""
        return list(self._iterations)

    def add_iteration(
        self,
        iteration: int,
        turns: Mapping[str, Any],
        segments: Mapping[str, Any],
        episodes: Mapping[str, Any],
    ) -> None:
        """Add one iteration: turn arrays (E, T), segment arrays (E, S) (empty mapping: no segments),
        episode arrays (E,). Names are schema variables (`schema.GROUPS`); missing ones are filled.

        Iterations must increase. Values at padded turns (mask False) and segments (start_turn -1) are
        replaced by the fills. Raises ValueError naming the group, variable and shape on bad input.
        """
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration <= self._last_iteration:
            raise ValueError(
                f"iteration must be an int > {self._last_iteration} (the last added), got {iteration!r}"
            )
        ep = check_record("episodes", episodes, where="episodes")
        n = len(ep["task_id"])
        records = {
            "turns": check_record("turns", turns, n=n, where="turns"),
            "segments": check_record("segments", segments, n=n, where="segments"),
            "episodes": ep,
        }
        self._last_iteration = iteration
        if iteration % self.keep_every:
            return
        self._iterations.append(iteration)
        for group, rec in records.items():
            self._records[group].append(rec)

    def add_evaluation(
        self, iteration: int, evaluation: Mapping[str, Any], group: str = "evaluation"
    ) -> None:
        """Add the evaluation played once `iteration` updates were completed (0: the starting policy; k: after
        iteration k-1's update): arrays (N,) of `schema.GROUPS[group]`, `group` one of `schema.EVALUATION_GROUPS`."""
        if group not in self._evals:
            raise ValueError(f"evaluation group {group!r} is not one of {list(self._evals)}")
        iterations, records = self._evals[group]
        last = iterations[-1] if iterations else -1
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration <= last:
            raise ValueError(
                f"{group} iteration must be an int > {last} (the last evaluated), got {iteration!r}"
            )
        records.append(check_record(group, evaluation, where=group))
        iterations.append(iteration)

    def add_diagnostics(self, iteration: int, diagnostics: Mapping[str, Any]) -> None:
        """Add one iteration's scalars of the `/iterations` group (every iteration, whatever `keep_every`)."""
        last = self._diag_iterations[-1] if self._diag_iterations else -1
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration <= last:
            raise ValueError(f"diagnostics iteration must be an int > {last}, got {iteration!r}")
        self._diag_records.append(check_record("iterations", diagnostics, where="iterations"))
        self._diag_iterations.append(iteration)

    def tree(self) -> xr.DataTree:
        """The traces collected so far as a DataTree (what `flush` writes)."""
        groups = {g: stack_group(g, self._iterations, recs) for g, recs in self._records.items()}
        for group, (iterations, records) in self._evals.items():
            groups[group] = stack_group(group, iterations, records)
        groups["iterations"] = stack_group("iterations", self._diag_iterations, self._diag_records)
        return run_tree(self.attrs, groups)

    def flush(self) -> None:
        """Write the traces to `self.path` atomically; `last_flush_bytes` holds the file size."""
        if self.path is None:
            raise ValueError("flush: this TraceWriter was made with path=None (in memory only)")
        self.last_flush_bytes = write_tree(self.tree(), self.path)

    @property
    def bytes_per_iteration(self) -> float:
        """File size of the last flush divided by the stored iterations (NaN before any)."""
        if not self.last_flush_bytes or not self._iterations:
            return float("nan")
        return self.last_flush_bytes / len(self._iterations)


def storage_size(path: str | os.PathLike) -> dict[str, float]:
    """Size of a run's trace file: total bytes, stored iterations, bytes per iteration (NaN if none).

    Reads only the iteration dimension's length, not the data.
    """
    import h5py

    file = trace_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no trace file at {file}")
    with h5py.File(file, "r") as h5:
        n = h5["turns"]["iteration"].shape[0] if "turns" in h5 and "iteration" in h5["turns"] else 0
    size = file.stat().st_size
    return {
        "bytes": float(size),
        "iterations": float(n),
        "bytes_per_iteration": size / n if n else float("nan"),
    }
