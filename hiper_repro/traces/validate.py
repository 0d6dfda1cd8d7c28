"""`validate`: name every way a run's (or a merged) trace dataset breaks the schema.

Checked: root attrs (presence, type, schema version, config JSON and its hash), the set of groups,
per group the dims and their order, a 1-D unique integer coordinate for every dim (0..n-1 for the inner
ones), every schema variable present with its dims, dtype, `long_name` and `units`, no extra variable,
no variable named like a dim, padding (cells the presence flag marks absent hold the fills), and the
values of real cells: inside each variable's `valid_range`, never infinite.
Merged datasets (root has the run dims) additionally need the run coordinates and provenance coords.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from hiper_repro.traces.convert import presence
from hiper_repro.traces.provenance import config_hash
from hiper_repro.traces.schema import (
    DTYPE_KINDS,
    FILL_TEXT,
    GROUPS,
    MERGED_ATTRS,
    PROVENANCE_COORDS,
    ROOT_ATTRS,
    RUN_DIMS,
    SCHEMA_VERSION,
    TraceSchemaError,
    range_text,
)
from hiper_repro.traces.store import read_tree, trace_path


def validate(tree_or_path: xr.DataTree | str | os.PathLike, *, where: str | None = None) -> None:
    """Raise `TraceSchemaError` listing every schema violation of a run or merged dataset; else None."""
    if isinstance(tree_or_path, xr.DataTree):
        tree = tree_or_path
    elif isinstance(tree_or_path, str | os.PathLike):
        where = where or str(trace_path(tree_or_path))
        tree = read_tree(trace_path(tree_or_path))
    else:
        raise ValueError(f"validate: expected a DataTree or a path, got {type(tree_or_path).__name__}")
    problems = schema_problems(tree)
    if problems:
        raise TraceSchemaError(problems, where=where or "traces")


def is_merged(tree: xr.DataTree) -> bool:
    """A merged dataset has the run dims at its root."""
    return all(d in tree.dims for d in RUN_DIMS)


def schema_problems(tree: xr.DataTree, groups: Sequence[str] = tuple(GROUPS)) -> list[str]:
    """Every schema violation of `tree`, one readable line each (empty: valid). `groups`: the schema groups
    the tree must hold and may hold (all of them by default; an evaluation file, `traces.merge.evaluation_only`,
    holds ``("evaluation",)``)."""
    merged = is_merged(tree)
    problems = _root_problems(tree, merged)
    children = set(tree.children)
    problems += [f"group /{g} missing" for g in groups if g not in children]
    problems += [
        f"unexpected group /{g} (schema groups: {list(groups)})" for g in sorted(children - set(groups))
    ]
    for gname in groups:
        if gname in children:
            problems += [f"/{gname}: {p}" for p in _group_problems(gname, tree[gname].to_dataset(), merged)]
    return problems


def _root_problems(tree: xr.DataTree, merged: bool) -> list[str]:
    attrs = tree.attrs
    expected = MERGED_ATTRS if merged else ROOT_ATTRS
    problems = [f"root attr {k!r} missing" for k in expected if k not in attrs]
    for key, typ in expected.items():
        if key in attrs:
            value = attrs[key].item() if isinstance(attrs[key], np.generic) else attrs[key]
            if not isinstance(value, typ) or isinstance(value, bool):
                problems.append(f"root attr {key!r} should be {typ.__name__}, got {value!r}")
    if "schema_version" in attrs and attrs["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version is {attrs['schema_version']!r}, this code reads {SCHEMA_VERSION!r}")
    if "created" in attrs:
        try:
            dt.datetime.fromisoformat(str(attrs["created"]))
        except ValueError:
            problems.append(f"root attr 'created' is not ISO 8601: {attrs['created']!r}")
    if merged:
        root = tree.to_dataset(inherit=False)
        for name in ("run", *PROVENANCE_COORDS):
            if name not in root.coords:
                problems.append(f"root coordinate {name!r} missing (per-run provenance)")
            elif root[name].dims != RUN_DIMS:
                problems.append(f"root coordinate {name!r} has dims {root[name].dims}, expected {RUN_DIMS}")
        return problems
    for key in ("config", "library_versions"):
        if isinstance(attrs.get(key), str):
            try:
                if not isinstance(json.loads(attrs[key]), dict):
                    problems.append(f"root attr {key!r} must be a JSON object")
            except json.JSONDecodeError as exc:
                problems.append(f"root attr {key!r} is not valid JSON ({exc.msg})")
    if isinstance(attrs.get("config"), str) and attrs.get("config_hash") != config_hash(attrs["config"]):
        problems.append("root attr 'config_hash' does not match the sha256 of 'config'")
    return problems


def _group_problems(gname: str, ds: xr.Dataset, merged: bool) -> list[str]:
    spec = GROUPS[gname]
    dims = (RUN_DIMS if merged else ()) + spec.dims
    problems = []
    extra_dims = [d for d in ds.dims if d not in dims]
    if extra_dims:
        problems.append(f"unexpected dims {extra_dims} (expected {dims})")
    for d in dims:
        if d not in ds.coords:
            problems.append(f"dim {d!r} has no coordinate")
            continue
        c = ds[d]
        if c.dims != (d,):
            problems.append(f"coordinate {d!r} has dims {c.dims}, expected ({d!r},)")
        elif d in RUN_DIMS and d in ("method_name", "env"):
            if c.dtype.kind not in "UO":
                problems.append(f"coordinate {d!r} should hold strings, got {c.dtype}")
        elif c.dtype.kind not in "iu":
            problems.append(f"coordinate {d!r} should hold integers, got {c.dtype}")
        elif len(np.unique(c.values)) != c.size:
            problems.append(f"coordinate {d!r} has repeated values")
        elif d in spec.dims[1:] and not np.array_equal(c.values, np.arange(c.size)):
            problems.append(f"coordinate {d!r} should be 0..{c.size - 1}")
    for name in ds.data_vars:
        if name in DIMS_ALL:
            problems.append(f"variable {name!r} is named like a dim")
        elif name not in spec.variables:
            problems.append(f"unexpected variable {name!r} (not in the schema)")
    present = None
    for name, var in spec.variables.items():
        if name not in ds.data_vars:
            problems.append(f"variable {name!r} missing")
            continue
        da = ds[name]
        if da.dims != dims:
            problems.append(f"{name}: dims {da.dims}, expected {dims}")
            continue
        if da.dtype.kind not in DTYPE_KINDS[var.dtype]:
            problems.append(f"{name}: dtype {da.dtype}, expected {var.dtype}")
            continue
        if not da.attrs.get("long_name"):
            problems.append(f"{name}: attr 'long_name' missing")
        if "units" not in da.attrs:
            problems.append(f"{name}: attr 'units' missing")
        if name == spec.presence:
            present = presence(gname, da.values)
    if present is None:
        return problems
    # Padding: where the presence flag says "absent", every variable holds its fill.
    absent = ~present
    for name, var in spec.variables.items():
        if (
            name not in ds.data_vars
            or ds[name].dims != dims
            or ds[name].dtype.kind not in DTYPE_KINDS[var.dtype]
        ):
            continue
        values = ds[name].values[absent]
        bad = (
            int(np.count_nonzero(~np.isnan(values)))
            if var.dtype == "float"
            else int(np.count_nonzero(values != var.fill))
        )
        if bad:
            problems.append(
                f"{name}: {bad} padded cells (where {spec.presence} marks none) are not {FILL_TEXT[var.dtype]}"
            )
        if var.dtype in ("float", "int"):
            problems += _range_problems(name, var.valid_range, ds[name].values[present])
    return problems


def _range_problems(
    name: str, valid_range: tuple[float | None, float | None], values: np.ndarray
) -> list[str]:
    """Real cells outside `valid_range` (NaN allowed: the quantity does not exist there) or infinite."""
    values = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    problems = []
    n_inf = int(np.count_nonzero(np.isinf(values))) if values.dtype.kind == "f" else 0
    if n_inf:
        problems.append(f"{name}: {n_inf} infinite values")
        values = values[np.isfinite(values)]
    low, high = valid_range
    out = np.zeros(values.shape, dtype=bool)
    if low is not None:
        out |= values < low
    if high is not None:
        out |= values > high
    if out.any():
        problems.append(
            f"{name}: {int(out.sum())} values outside {range_text(valid_range)} "
            f"(from {values[out].min():g} to {values[out].max():g})"
        )
    return problems


DIMS_ALL = frozenset(RUN_DIMS) | frozenset(d for g in GROUPS.values() for d in g.dims)
