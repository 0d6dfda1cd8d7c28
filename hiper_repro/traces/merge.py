"""Combining runs: `open_run`, `open_runs` and the core `merge_runs`.

A merged DataTree has the groups of a run, each variable with leading dims ``(method_name, env, horizon,
seed)`` whose coordinates live at the root (children inherit them). Cells of runs that do not exist,
and iterations a run does not have, take the schema fills (NaN, -1, False, ""). Per-run provenance
(`created`, `git_commit`, `config`, `config_hash`, ...) becomes root coordinates along the run dims,
next to `run`, a label ``env/h{horizon}/{method}/seed{seed}`` ("" where no run exists). Root attrs
are set explicitly (`schema.MERGED_ATTRS`) rather than copied from any one run. Select a method with
``ds.sel(method_name="hiper")``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from hiper_repro.traces.provenance import git_commit, package_version
from hiper_repro.traces.schema import (
    DIMS,
    GROUPS,
    PROVENANCE_COORDS,
    ROOT_ATTRS,
    RUN_DIMS,
    SCHEMA_VERSION,
    TraceSchemaError,
)
from hiper_repro.traces.store import UnreadableTraceFile, read_tree, trace_path
from hiper_repro.traces.validate import validate

RUN_LONG_NAMES = {
    "method_name": "method",
    "env": "environment",
    "horizon": "horizon (subtasks)",
    "seed": "seed",
}


def run_label(method: str, env: str, horizon: int, seed: int) -> str:
    """The label of a run, matching the results layout ``{env}/h{horizon}/{method}/seed{seed}``."""
    return f"{env}/h{horizon}/{method}/seed{seed}"


def not_traces(tree: xr.DataTree, file: os.PathLike) -> None:
    """ValueError naming `file` when it holds none of the trace groups: another netCDF file, such as the
    authors' veRL logs imported by `hiper-repro import-verl` (dims run, step), which analyse-verl reads."""
    if set(tree.children) & set(GROUPS):
        return
    if "step" in tree.dims:
        raise ValueError(
            f"{file} holds veRL training logs imported by `hiper-repro import-verl`, not traces: analyse them "
            f"with `hiper-repro analyse-verl --merged {file} --out DIR`"
        )
    raise ValueError(f"{file} is a netCDF file without any trace group {list(GROUPS)}: not a trace file")


def open_run(path: str | os.PathLike) -> xr.DataTree:
    """Read a run's traces (a run directory or a ``.nc`` file) or a merged file into memory; validate."""
    file = trace_path(path)
    tree = read_tree(file)
    not_traces(tree, file)
    validate(tree, where=str(file))
    return tree


def open_merged(path: str | os.PathLike) -> xr.DataTree:
    """Read a merged trace file (`hiper-repro aggregate` output) into memory and check it: ValueError naming
    the file when it is missing, unreadable, one run's traces instead, or breaks the schema."""
    file = trace_path(path)
    return _read_merged(
        file,
        missing="merged trace file",
        one_run=f"a merged dataset: merge runs first (`hiper-repro aggregate --runs {file} --out merged.nc`) "
        "or read it with open_run",
        groups=tuple(GROUPS),
    )


def _read_merged(file: Path, *, missing: str, one_run: str, groups: tuple[str, ...]) -> xr.DataTree:
    """Read `file`, a merged tree holding the schema `groups`, and check it: FileNotFoundError naming
    `missing` when absent, ValueError ending in `one_run` when it holds one run, TraceSchemaError otherwise."""
    from hiper_repro.traces.validate import is_merged, schema_problems

    if not file.is_file():
        raise FileNotFoundError(f"no {missing} at {file}")
    tree = read_tree(file)
    not_traces(tree, file)
    if not is_merged(tree):
        raise ValueError(f"{file} holds one run's traces, not {one_run}")
    problems = schema_problems(tree, groups=groups)
    if problems:
        raise TraceSchemaError(problems, where=str(file))
    return tree


EVALUATION_GROUP = "evaluation"


def evaluation_only(tree: xr.DataTree) -> xr.DataTree:
    """A merged tree's root (run coordinates, per-run provenance, attrs) and its /evaluation group only.

    The fixed-task evaluations are what every success statistic is computed from, and they are small (a
    few MB for a study of dozens of runs), so a study can ship them beside its numbers while the turns,
    segments and episodes stay with the runs. ``n_groups`` in the attrs records the cut."""
    from hiper_repro.traces.validate import is_merged

    if not is_merged(tree):
        raise ValueError("evaluation_only: expected a merged trace tree (`hiper-repro aggregate` output)")
    if EVALUATION_GROUP not in tree.children:
        raise ValueError(f"evaluation_only: the tree has no /{EVALUATION_GROUP} group")
    root = tree.to_dataset(inherit=False)
    root.attrs = dict(tree.attrs) | {"groups": EVALUATION_GROUP}
    return xr.DataTree.from_dict(
        {"/": root, f"/{EVALUATION_GROUP}": tree[EVALUATION_GROUP].to_dataset(inherit=False)}
    )


def open_evaluation(path: str | os.PathLike) -> xr.DataTree:
    """Read a file written from :func:`evaluation_only` and check its root and its one group, /evaluation,
    against the schema: ValueError naming the file otherwise (a whole merged file has groups too many)."""
    return _read_merged(
        Path(path),
        missing="evaluation file",
        one_run="a merged dataset's evaluation group",
        groups=(EVALUATION_GROUP,),
    )


def open_runs(paths: Iterable[str | os.PathLike], *, created: str | None = None) -> xr.DataTree:
    """Open and merge runs (directories or ``.nc`` files); every invalid run is reported in one error."""
    from hiper_repro.traces.validate import is_merged, schema_problems

    files = [trace_path(p) for p in paths]
    if not files:
        raise ValueError("open_runs: no paths given")
    trees, problems = [], []
    for file in files:  # every run is read and checked, so one bad run does not hide another
        try:
            tree = read_tree(file)
        except FileNotFoundError:
            problems.append(f"{file}: does not exist")
            continue
        except UnreadableTraceFile as err:  # its message starts with the file
            problems.append(str(err))
            continue
        if is_merged(tree):
            problems.append(
                f"{file}: is a merged dataset, not a run: open it with hiper_repro.traces.open_run"
            )
            continue
        try:
            not_traces(tree, file)
        except ValueError as err:  # its message starts with the file
            problems.append(str(err))
            continue
        problems += [f"{file}: {p}" for p in schema_problems(tree)]
        trees.append(tree)
    if problems:
        bad = len({p.split(": ", 1)[0] for p in problems})
        raise TraceSchemaError(problems, where=f"{bad} of {len(files)} runs")
    return merge_runs(trees, created=created)


def _axis(values: Iterable) -> list:
    return sorted(set(values))


def merge_runs(trees: Sequence[xr.DataTree], *, created: str | None = None) -> xr.DataTree:
    """Merge validated run trees along (method_name, env, horizon, seed); see the module docstring.

    Run-dim coordinates are sorted; `created` (UTC ISO) defaults to now.
    """
    if not trees:
        raise ValueError("merge_runs: no runs given")
    keys = [tuple(tree.attrs[d] for d in RUN_DIMS) for tree in trees]
    seen: dict[tuple, int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise ValueError(f"merge_runs: runs {seen[key]} and {i} are both {run_label(*key)}")
        seen[key] = i
    axes = {d: _axis(k[j] for k in keys) for j, d in enumerate(RUN_DIMS)}
    shape = tuple(len(a) for a in axes.values())
    cells = [tuple(axes[d].index(k[j]) for j, d in enumerate(RUN_DIMS)) for k in keys]

    nodes = {"/": _root(trees, keys, axes, shape, cells, created)}
    for gname, spec in GROUPS.items():
        parts = [tree[gname].to_dataset(inherit=False) for tree in trees]
        lead = spec.dims[0]
        lead_values = _axis(v for ds in parts for v in ds[lead].values.tolist())
        sizes = [len(lead_values)] + [max(ds.sizes[d] for ds in parts) for d in spec.dims[1:]]
        data_vars = {}
        for vname, var in spec.variables.items():
            dtype = var.numpy_dtype
            if var.dtype == "str":
                dtype = np.dtype(f"<U{max([1] + [ds[vname].dtype.itemsize // 4 for ds in parts])}")
            full = np.full(shape + tuple(sizes), var.fill, dtype)
            for cell, ds in zip(cells, parts):  # a loop over runs; each copy is one block
                rows = np.searchsorted(lead_values, ds[lead].values)
                block = ds[vname].values
                full[cell][(rows, *(slice(0, s) for s in block.shape[1:]))] = block
            data_vars[vname] = (RUN_DIMS + spec.dims, full, dict(parts[0][vname].attrs))
        coords = {lead: np.asarray(lead_values, np.int64)}
        coords |= {d: np.arange(s, dtype=np.int64) for d, s in zip(spec.dims[1:], sizes[1:])}
        ds = xr.Dataset(data_vars, coords=coords)
        for d in spec.dims:
            ds[d].attrs["long_name"] = DIMS[d]
        nodes[f"/{gname}"] = ds
    return xr.DataTree.from_dict(nodes)


def _root(
    trees: Sequence[xr.DataTree],
    keys: list[tuple],
    axes: dict[str, list],
    shape: tuple[int, ...],
    cells: list[tuple[int, ...]],
    created: str | None,
) -> xr.Dataset:
    """Root of a merged tree: run-dim coords, `run` labels and per-run provenance as coords; merged attrs."""
    coords: dict = {}
    for d in RUN_DIMS:
        values = np.asarray(axes[d], dtype=np.int64 if ROOT_ATTRS[d] is int else str)
        coords[d] = (d, values, {"long_name": RUN_LONG_NAMES[d]})
    label = np.full(shape, "", dtype=object)
    for cell, key in zip(cells, keys):
        label[cell] = run_label(*key)
    coords["run"] = (RUN_DIMS, label.astype(str), {"long_name": "run label (empty: no such run)"})
    for name in PROVENANCE_COORDS:
        kind = ROOT_ATTRS[name]
        values = np.full(shape, -1 if kind is int else "", dtype=np.int64 if kind is int else object)
        for cell, tree in zip(cells, trees):
            values[cell] = tree.attrs[name]
        coords[name] = (
            RUN_DIMS,
            values if kind is int else values.astype(str),
            {"long_name": name.replace("_", " ")},
        )
    attrs = {
        "schema_version": SCHEMA_VERSION,
        "created": created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hiper_repro_version": package_version(),
        "git_commit": git_commit(),
        "n_runs": len(trees),
    }
    return xr.Dataset(coords=coords, attrs=attrs)
